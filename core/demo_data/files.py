"""Writing the demo items as the four exports a bank's systems produce."""

from __future__ import annotations

import io
import json
import random
import re
import zipfile
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bihuan.core.demo_data import texts as T
from bihuan.core.demo_data.model import (
    DEMO_CAUSES,
    HOTLINE_HEADER,
    SOCIAL_KEYS,
    SURVEY_HEADER,
    TICKETS_HEADER,
    BrokenKind,
    DemoFile,
)
from bihuan.core.demo_data.plan import (
    _choose_broken,
    _choose_pii,
    _count_stats,
    _csv_bytes,
    _end,
    _fill,
    _invalid_date_text,
    _pick,
    _Rec,
    _Slots,
    _summary_core,
    _voice,
    _with_duplicates,
    _with_pii,
)

# ---------------------------------------------------------------------------------------
# The four files
# ---------------------------------------------------------------------------------------


def _import_file(
    path: Path,
    recs: list[_Rec],
    *,
    rows: int,
    duplicates: int,
    collector: str,
    channel: str,
    source: str,
    encoding: str | None,
    header: tuple[str, ...],
    description: str,
) -> DemoFile:
    """The manifest entry of one import file, its counts taken from the planned items."""
    broken_reasons, pii_kinds = _count_stats(recs)
    broken = sum(broken_reasons.values())
    return DemoFile(
        path=path,
        collector=collector,
        channel=channel,
        source=source,
        encoding=encoding,
        rows=rows,
        items=len(recs) - broken,
        broken=broken,
        broken_reasons=broken_reasons,
        duplicates=duplicates,
        pii=sum(pii_kinds.values()),
        pii_kinds=pii_kinds,
        header=header,
        description=description,
    )


def _write_survey(path: Path, rng: random.Random, recs: list[_Rec]) -> DemoFile:
    _choose_pii(rng, recs)
    _choose_broken(
        rng,
        recs,
        once=(),
        repeatable=(
            BrokenKind.EMPTY_TEXT,
            BrokenKind.INVALID_DATE,
            BrokenKind.RATING_OUT_OF_RANGE,
            BrokenKind.NPS_OUT_OF_RANGE,
            BrokenKind.RAGGED_ROW,
        ),
    )
    rows: list[list[str]] = []
    for seq, rec in enumerate(recs, start=1):
        local = rec.local
        rec.external_id = f"WJ{local:%Y%m%d}{seq:05d}"
        branch_city, branch_name = rng.choice(T.BRANCHES)
        slots = _Slots(rng, rec, branch=branch_name, city=branch_city)
        text = _voice(rng, rec, slots, survey=True)
        text = _with_pii(rng, rec, text, slots, summary=False)
        if len(text) > 30 and rng.random() < 0.03:  # Alt+Enter in the answer box
            cut = text.find("。") + 1
            if 0 < cut < len(text):
                text = text[:cut] + "\n" + text[cut:]
        rec.text = text
        rating, nps = _survey_scores(rng, rec.sentiment)
        # online surveys (after an app transaction) have no branch
        online = rec.cause in ("mobile_app", "transfer") or rng.random() < 0.2
        branch = "" if online and branch_name not in text else branch_city + branch_name
        when = f"{local.year}/{local.month}/{local.day} {local.hour}:{local.minute:02d}"
        row = [rec.external_id, when, str(rating), str(nps), text, rec.customer, branch]
        match rec.broken:
            case BrokenKind.EMPTY_TEXT:
                row[4] = rng.choice(("", "", " "))
            case BrokenKind.INVALID_DATE:
                row[1] = _invalid_date_text(rng, rec, "survey")
            case BrokenKind.RATING_OUT_OF_RANGE:
                row[2] = rng.choice(("7", "十分", "6"))
            case BrokenKind.NPS_OUT_OF_RANGE:
                row[3] = "11"
            case BrokenKind.RAGGED_ROW:
                row.append(rng.choice(("已回访", "网点已电话联系", "见附件", "重复提交")))
        rows.append(row)
    rows, duplicates = _with_duplicates(rng, rows, recs)
    path.write_bytes(_csv_bytes(SURVEY_HEADER, rows, "gbk"))
    return _import_file(
        path,
        recs,
        rows=len(rows),
        duplicates=duplicates,
        collector="csv",
        channel="survey",
        source="survey",
        encoding="gbk",
        header=SURVEY_HEADER,
        description="满意度调查导出（Excel另存为CSV，GBK编码）",
    )


def _survey_scores(rng: random.Random, sentiment: str) -> tuple[int, int]:
    if sentiment == "positive":
        rating = rng.choices((5, 4, 3), weights=(70, 27, 3))[0]
        nps = rng.choices((10, 9, 8, 7), weights=(45, 30, 18, 7))[0]
    elif sentiment == "neutral":
        rating = rng.choices((4, 3, 5, 2), weights=(45, 35, 12, 8))[0]
        nps = rng.choices((8, 7, 6, 5, 9), weights=(25, 30, 20, 15, 10))[0]
    else:
        rating = rng.choices((1, 2, 3), weights=(45, 40, 15))[0]
        nps = rng.choices(range(8), weights=(22, 10, 14, 16, 10, 12, 10, 6))[0]
    return rating, nps


_PLATFORM_WEIGHTS = {
    "negative": {"微博": 0.4, "抖音": 0.15, "小红书": 0.17, "黑猫投诉": 0.28},
    "neutral": {"微博": 0.35, "抖音": 0.2, "小红书": 0.45, "黑猫投诉": 0.0},
    "positive": {"微博": 0.45, "抖音": 0.3, "小红书": 0.25, "黑猫投诉": 0.0},
}
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def _social_link(rng: random.Random, platform: str) -> tuple[str, str]:
    """(external id, link) in each platform's own style."""
    if platform == "微博":
        mid = "".join(rng.choice(_B62) for _ in range(9))
        uid = rng.randrange(1_000_000_000, 8_000_000_000)
        return f"wb_{mid}", f"https://weibo.com/{uid}/{mid}"
    if platform == "抖音":
        code = "".join(rng.choice(_B62) for _ in range(8))
        return f"dy_{code}", f"https://v.douyin.com/{code}/"
    if platform == "小红书":
        note = "".join(rng.choice("0123456789abcdef") for _ in range(24))
        return f"xhs_{note}", f"https://www.xiaohongshu.com/explore/{note}"
    sn = str(rng.randrange(10**16, 10**17))
    return f"hm_{sn}", f"https://tousu.sina.com.cn/complaint/view/{sn}/"


def _nickname(rng: random.Random) -> str:
    if rng.random() < 0.12:
        return f"用户{rng.randrange(1_000_000_000, 8_000_000_000)}"
    nick = rng.choice(T.NICK_PARTS_A) + rng.choice(T.NICK_PARTS_B) + rng.choice(T.NICK_PARTS_C)
    if rng.random() < 0.25:
        nick += str(rng.randrange(1, 999))
    return nick


def _social_text(rng: random.Random, rec: _Rec, platform: str, slots: _Slots) -> str:
    spec = T.CAUSES[rec.cause]
    body = _voice(rng, rec, slots, survey=False)
    body = _with_pii(rng, rec, body, slots, summary=False)
    if rec.sentiment == "negative" and rng.random() < 0.4:
        body = body.replace("。", rng.choice(("！", "。。。", "！！", "，")), 1)
    topic_label = spec["topics"][rec.topic]["label"]
    if platform == "微博":
        if rec.sentiment == "positive":
            return f"{body}{rng.choice(T.WEIBO_EMOTICONS_POS)} @{T.BANK}"
        tags = T.WEIBO_TOPICS.get(rec.cause, [])
        prefix = f"@{T.BANK} " if rng.random() < 0.45 else ""
        tag = rng.choice(tags) if tags and rng.random() < 0.5 else ""
        if rec.sentiment == "neutral":
            return f"{prefix}{tag}{body}"
        return f"{prefix}{tag}{body}{_pick(rng, T.WEIBO_EMOTICONS_NEG, 0.6)}"
    if platform == "抖音":
        tails = T.DOUYIN_TAILS_POS if rec.sentiment == "positive" else T.DOUYIN_TAILS_NEG
        return f"{body}{_pick(rng, tails, 0.7)}"
    if platform == "小红书":
        if rec.sentiment == "positive":
            title = rng.choice(T.XHS_TITLES_POS)
        elif rec.sentiment == "neutral":
            return _fill(rng.choice(T.XHS_TITLES_NEU), slots) + body
        else:
            title = rng.choice(T.XHS_TITLES_NEG)
        title = title.format(label=topic_label, bank=T.BANK)
        return f"{title}\n{body}{_pick(rng, T.XHS_TAILS, 0.6)}"
    # 黑猫投诉: the site's structured header, then the story
    target = _fill(rng.choice(T.HEIMAO_TARGETS), slots)
    demand = rng.choice(spec["demands"]) if spec["demands"] else "要求给予合理解释"
    amount = f"【涉诉金额】{rng.choice((0, 50, 200, 300, 580, 2000, 5000, 10000))}元" if rng.random() < 0.5 else ""
    return f"【投诉对象】{target}【投诉问题】{topic_label}【投诉要求】{demand}{amount}\n{body}"


def _write_social(path: Path, rng: random.Random, recs: list[_Rec]) -> DemoFile:
    _choose_pii(rng, recs)
    _choose_broken(
        rng,
        recs,
        once=(BrokenKind.INVALID_JSON, BrokenKind.JSON_NOT_OBJECT),
        repeatable=(BrokenKind.EMPTY_TEXT, BrokenKind.INVALID_DATE),
    )
    lines: list[str] = []
    ids: set[str] = set()
    for rec in recs:
        weights = _PLATFORM_WEIGHTS[rec.sentiment]
        platform = rng.choices(list(weights), weights=list(weights.values()))[0]
        ext_id, link = _social_link(rng, platform)
        while ext_id in ids:
            ext_id, link = _social_link(rng, platform)
        ids.add(ext_id)
        rec.external_id = ext_id
        slots = _Slots(rng, rec)
        rec.text = _social_text(rng, rec, platform, slots)
        obj = {
            "id": ext_id,
            "platform": platform,
            "发布时间": rec.local.isoformat(),
            "帖子内容": rec.text,
            "链接": link,
            "作者": _nickname(rng),
        }
        match rec.broken:
            case BrokenKind.EMPTY_TEXT:
                obj["帖子内容"] = ""
            case BrokenKind.INVALID_DATE:
                obj["发布时间"] = _invalid_date_text(rng, rec, "iso")
        line = json.dumps(obj, ensure_ascii=False)
        if rec.broken == BrokenKind.INVALID_JSON:  # cut off in the middle of the text
            start = line.index('"帖子内容": "') + len('"帖子内容": "')
            line = line[: start + len(rec.text) // 2]
        elif rec.broken == BrokenKind.JSON_NOT_OBJECT:
            line = json.dumps(list(obj.values()), ensure_ascii=False)
        lines.append(line)
    lines, duplicates = _with_duplicates(rng, lines, recs)
    path.write_bytes("".join(line + "\n" for line in lines).encode("utf-8"))
    return _import_file(
        path,
        recs,
        rows=len(lines),
        duplicates=duplicates,
        collector="jsonl",
        channel="social",
        source="social",
        encoding="utf-8",
        header=SOCIAL_KEYS,
        description="舆情监测导出（微博、抖音、小红书、黑猫投诉），每行一个JSON对象",
    )


_TICKET_BUSINESS = {
    "annual_fee": "信用卡",
    "service_fee": "借记卡",
    "installment": "信用卡",
    "fraud": "信用卡",
    "frozen": "借记卡",
}


def _ticket_status(rng: random.Random, age: timedelta) -> str:
    days = age.days
    if days < 3:
        return rng.choices(("待处理", "处理中", "已办结"), weights=(45, 45, 10))[0]
    if days < 14:
        return rng.choices(("处理中", "已办结", "已回访"), weights=(35, 50, 15))[0]
    return rng.choices(("已办结", "已回访", "处理中", "已撤销"), weights=(55, 38, 4, 3))[0]


def _write_tickets(path: Path, rng: random.Random, recs: list[_Rec], now: datetime) -> DemoFile:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    _choose_pii(rng, recs)
    _choose_broken(rng, recs, once=(), repeatable=(BrokenKind.EMPTY_TEXT, BrokenKind.INVALID_DATE))
    rows: list[list[Any]] = []
    for seq, rec in enumerate(recs, start=1):
        local = rec.local
        rec.external_id = f"TS{local:%Y%m%d}{seq:05d}"
        spec = T.CAUSES[rec.cause]
        slots = _Slots(rng, rec)
        prefix = "【二次投诉】" if rec.repeat and rng.random() < 0.5 else rng.choice(T.TICKET_PREFIXES)
        parts = [prefix + _end(_summary_core(rng, rec, slots, ticket=True))]
        if rng.random() < 0.35:
            quote = _voice(rng, rec, _Slots(rng, rec, **slots), survey=True).rstrip("。")
            parts.append(_end(rng.choice(T.TICKET_QUOTE).format(voice=quote)))
        if spec["demands"] and rng.random() < 0.7:
            parts.append(rng.choice(T.TICKET_DEMAND).format(demand=rng.choice(spec["demands"])))
        text = "".join(parts)
        if len(parts) > 2 and rng.random() < 0.1:  # a line break typed into the cell
            text = parts[0] + "\n" + "".join(parts[1:])
        rec.text = _with_pii(rng, rec, text, slots, summary=True)
        business = _TICKET_BUSINESS.get(rec.topic) or rng.choice(spec["business"])
        created: Any = local.replace(tzinfo=None)
        content: Any = rec.text
        if rec.broken == BrokenKind.EMPTY_TEXT:
            content = None
        elif rec.broken == BrokenKind.INVALID_DATE:
            created = _invalid_date_text(rng, rec, "xlsx")
        status = _ticket_status(rng, now - rec.at)
        rows.append([rec.external_id, created, rec.customer, content, status, business])
    rows, duplicates = _with_duplicates(rng, rows, recs)

    wb = Workbook()
    ws = wb.active
    ws.title = "投诉工单"
    ws.append(TICKETS_HEADER)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
        cell = ws.cell(row=ws.max_row, column=2)
        if isinstance(cell.value, datetime):
            cell.number_format = "yyyy-mm-dd hh:mm:ss"
    for column, width in zip("ABCDEF", (18, 20, 14, 80, 10, 10), strict=True):
        ws.column_dimensions[column].width = width
    ws.freeze_panes = "A2"
    stamp = now.replace(tzinfo=None)
    wb.properties.creator = "鑫和银行客户服务中心"
    wb.properties.created = stamp
    wb.properties.modified = stamp
    buffer = io.BytesIO()
    wb.save(buffer)
    path.write_bytes(_reproducible_zip(buffer.getvalue(), stamp))
    return _import_file(
        path,
        recs,
        rows=len(rows),
        duplicates=duplicates,
        collector="xlsx",
        channel="ticket",
        source="tickets",
        encoding=None,
        header=TICKETS_HEADER,
        description="投诉工单系统导出（XLSX，创建时间为日期单元格）",
    )


_MODIFIED = re.compile(rb"(<dcterms:modified[^>]*>)[^<]*(</dcterms:modified>)")


def _reproducible_zip(data: bytes, stamp: datetime) -> bytes:
    """The XLSX with fixed entry times and a fixed ``modified`` property (openpyxl uses now)."""
    fixed = stamp.strftime("%Y-%m-%dT%H:%M:%SZ").encode()
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as zin, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            content = zin.read(info.filename)
            if info.filename == "docProps/core.xml":
                content = _MODIFIED.sub(rb"\g<1>" + fixed + rb"\g<2>", content)
            entry = zipfile.ZipInfo(info.filename, date_time=stamp.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.external_attr = info.external_attr
            zout.writestr(entry, content)
    return out.getvalue()


def _hotline_satisfaction(rng: random.Random, sentiment: str) -> str:
    if sentiment == "negative":
        if rng.random() < 0.4:
            return ""
        return str(rng.choices((1, 2, 3), weights=(40, 35, 25))[0])
    if rng.random() < (0.35 if sentiment == "neutral" else 0.2):
        return ""
    if sentiment == "neutral":
        return str(rng.choices((3, 4, 5), weights=(10, 40, 50))[0])
    return str(rng.choices((5, 4), weights=(85, 15))[0])


def _write_hotline(path: Path, rng: random.Random, recs: list[_Rec]) -> DemoFile:
    _choose_pii(rng, recs)
    _choose_broken(
        rng,
        recs,
        once=(),
        repeatable=(
            BrokenKind.EMPTY_TEXT,
            BrokenKind.INVALID_DATE,
            BrokenKind.RATING_OUT_OF_RANGE,
            BrokenKind.RAGGED_ROW,
        ),
    )
    rows: list[list[str]] = []
    for seq, rec in enumerate(recs, start=1):
        local = rec.local
        rec.external_id = f"HL{local:%Y%m%d}{seq:05d}"
        slots = _Slots(rng, rec)
        text = _end(_summary_core(rng, rec, slots))
        if rec.sentiment == "negative":
            text += rng.choice(T.HOTLINE_CONTEXT_NEG) + rng.choice(T.HOTLINE_OUTCOMES_NEG)
        elif rec.sentiment == "positive":
            text += rng.choice(T.HOTLINE_OUTCOMES_POSITIVE)
        else:
            text += rng.choice(T.HOTLINE_OUTCOMES_NEUTRAL)
        rec.text = _with_pii(rng, rec, text, slots, summary=True)
        row = [
            rec.external_id,
            f"{local:%Y-%m-%d %H:%M:%S}",
            rec.text,
            rec.customer,
            _hotline_satisfaction(rng, rec.sentiment),
        ]
        match rec.broken:
            case BrokenKind.EMPTY_TEXT:
                row[2] = ""
            case BrokenKind.INVALID_DATE:
                row[1] = _invalid_date_text(rng, rec, "hotline")
            case BrokenKind.RATING_OUT_OF_RANGE:
                row[4] = rng.choice(("7", "十分", "9"))
            case BrokenKind.RAGGED_ROW:
                row.append(rng.choice(("转二线", "备注：重复来电", "已回拨", "录音已调取")))
        rows.append(row)
    rows, duplicates = _with_duplicates(rng, rows, recs)
    path.write_bytes(_csv_bytes(HOTLINE_HEADER, rows, "utf-8-sig"))
    return _import_file(
        path,
        recs,
        rows=len(rows),
        duplicates=duplicates,
        collector="csv",
        channel="hotline",
        source="hotline",
        encoding="utf-8-sig",
        header=HOTLINE_HEADER,
        description="客服热线通话小结导出（UTF-8 BOM CSV）",
    )


def _write_ground_truth(path: Path, by_source: dict[str, list[_Rec]]) -> DemoFile:
    truth: dict[str, dict[str, Any]] = {}
    for source, recs in by_source.items():
        for rec in recs:
            truth[rec.external_id] = {
                "source": source,
                "cause": rec.cause,
                "cause_label": DEMO_CAUSES[rec.cause],
                "topic": rec.topic,
                "sentiment": rec.sentiment,
                "week": rec.week,
                "pii": rec.pii,
                "broken": rec.broken,
            }
    lines = [
        f"{json.dumps(key)}: {json.dumps(truth[key], ensure_ascii=False, sort_keys=True)}" for key in sorted(truth)
    ]
    text = "{\n" + ",\n".join(lines) + "\n}\n"
    path.write_bytes(text.encode("utf-8"))
    return DemoFile(
        path=path,
        collector=None,
        channel=None,
        source=None,
        encoding="utf-8",
        rows=len(truth),
        items=len(truth),
        importable=False,
        header=("cause", "cause_label", "topic", "sentiment", "week", "pii", "broken", "source"),
        description="评估用真值：外部编号 -> 根因、情感（不导入）",
    )
