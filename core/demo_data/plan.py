"""Planning the demo items: who writes what, when, with which defects and PII."""

from __future__ import annotations

import csv
import io
import math
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from bihuan.core.demo_data import texts as T
from bihuan.core.demo_data.model import (
    BASE_WEEKLY_ITEMS,
    BROKEN_SHARE,
    CHANNELS,
    CST,
    DUPLICATE_SHARE,
    PII_SHARE,
    PiiKind,
    demo_scenarios,
)

# ---------------------------------------------------------------------------------------
# Personal data with valid check digits
# ---------------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def _id_check_digit(first17: str) -> str:
    return _ID_CHECK[sum(int(d) * w for d, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def _luhn_check_digit(partial: str) -> str:
    total = 0
    for i, d in enumerate(reversed(partial)):
        n = int(d)
        if i % 2 == 0:  # doubled once the check digit is appended
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return str((10 - total % 10) % 10)


def _mobile(rng: random.Random) -> str:
    number = rng.choice(T.MOBILE_PREFIXES) + "".join(rng.choice("0123456789") for _ in range(8))
    style = rng.random()
    if style < 0.15:
        return f"{number[:3]}-{number[3:7]}-{number[7:]}"
    if style < 0.25:
        return f"{number[:3]} {number[3:7]} {number[7:]}"
    return number


def _id_card(rng: random.Random) -> str:
    born = date(1958, 1, 1) + timedelta(days=rng.randrange(365 * 45))
    first17 = f"{rng.choice(T.ID_REGIONS)}{born:%Y%m%d}{rng.randrange(1000):03d}"
    return first17 + _id_check_digit(first17)


def _bank_card(rng: random.Random) -> str:
    length = rng.choice((16, 19, 19))
    partial = rng.choice(T.CARD_BINS)
    partial += "".join(rng.choice("0123456789") for _ in range(length - 1 - len(partial)))
    number = partial + _luhn_check_digit(partial)
    if rng.random() < 0.25:
        return " ".join(number[i : i + 4] for i in range(0, length, 4))
    return number


def _email(rng: random.Random) -> str:
    name = rng.choice(T.EMAIL_NAMES)
    if rng.random() < 0.6:
        name += str(rng.randrange(1, 2000))
    return f"{name}@{rng.choice(T.EMAIL_DOMAINS)}"


_PII_MAKERS: dict[str, Callable[[random.Random], str]] = {
    PiiKind.MOBILE: _mobile,
    PiiKind.ID_CARD: _id_card,
    PiiKind.BANK_CARD: _bank_card,
    PiiKind.EMAIL: _email,
}
_PII_WEIGHTS = {PiiKind.MOBILE: 0.45, PiiKind.BANK_CARD: 0.22, PiiKind.ID_CARD: 0.15, PiiKind.EMAIL: 0.18}
_CARD_CAUSES = frozenset({"account_security", "atm", "transfer", "fees"})


# ---------------------------------------------------------------------------------------
# Planning: which items exist, when
# ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Rec:
    cause: str
    topic: str
    sentiment: str
    channel: str
    at: datetime  # aware, UTC
    week: int
    spike: bool = False
    customer: str = ""
    repeat: bool = False  # the customer contacted us before about the same cause
    external_id: str = ""
    text: str = ""
    pii: str | None = None
    broken: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)

    @property
    def local(self) -> datetime:
        return self.at.astimezone(CST)


# local-hour activity per channel (0..23); relative weights
_HOURS = {
    "survey": [0, 0, 0, 0, 0, 0, 0, 1, 3, 6, 8, 8, 6, 6, 7, 7, 7, 6, 5, 4, 4, 3, 2, 1],
    "social": [3, 2, 1, 1, 0, 0, 1, 2, 4, 5, 5, 6, 7, 5, 5, 5, 5, 6, 6, 7, 8, 9, 8, 6],
    "ticket": [0, 0, 0, 0, 0, 0, 0, 0, 3, 8, 9, 9, 6, 7, 9, 9, 8, 6, 3, 2, 1, 1, 0, 0],
    "hotline": [1, 1, 0, 0, 0, 0, 1, 2, 5, 8, 9, 9, 7, 7, 8, 8, 8, 7, 5, 4, 4, 3, 2, 1],
}
_WEEKEND_FACTOR = {"survey": 0.9, "social": 1.1, "ticket": 0.45, "hotline": 0.6}


def _noisy_count(rng: random.Random, mu: float) -> int:
    """Poisson-like count with a slightly smaller spread (keeps the scenarios clear)."""
    if mu <= 0:
        return 0
    return max(0, round(rng.gauss(mu, 0.75 * math.sqrt(mu))))


def _sample_time(rng: random.Random, channel: str, start: datetime, end: datetime) -> datetime:
    """A second-precise instant in [start, end) following the channel's daily rhythm."""
    span = int((end - start).total_seconds())
    hours = _HOURS[channel]
    top = max(hours)
    for _ in range(200):
        at = start + timedelta(seconds=rng.randrange(span))
        local = at.astimezone(CST)
        weight = hours[local.hour] / top
        if local.weekday() >= 5:
            weight *= _WEEKEND_FACTOR[channel]
        if rng.random() < weight:
            return at
    return at


def _plan(rng: random.Random, now: datetime, weeks: int) -> list[_Rec]:
    scenarios = demo_scenarios(weeks)
    recs: list[_Rec] = []
    for week in range(weeks):
        week_start = now - timedelta(days=7 * (weeks - week))
        week_end = week_start + timedelta(days=7)
        week_factor = min(1.15, max(0.85, rng.gauss(1.0, 0.06)))
        for cause, spec in T.CAUSES.items():
            for topic, tspec in spec["topics"].items():
                mu = BASE_WEEKLY_ITEMS * spec["share"] * tspec["weight"] * week_factor
                extra = 0
                for sc in scenarios:
                    if sc.cause != cause or sc.topic not in (None, topic) or not sc.applies(week):
                        continue
                    if sc.kind == "spike":
                        extra = _noisy_count(rng, mu * (sc.factor - 1.0))
                    else:
                        mu *= sc.factor
                count = _noisy_count(rng, mu)
                for i in range(count + extra):
                    spike = i >= count
                    channel = rng.choices(CHANNELS, weights=spec["channels"])[0]
                    # the incident behind a spike starts in the middle of the week
                    start = week_end - timedelta(days=4) if spike else week_start
                    at = _sample_time(rng, channel, start, week_end)
                    sentiment = _sentiment(rng, cause, channel, spike)
                    recs.append(_Rec(cause, topic, sentiment, channel, at, week, spike))
    recs.sort(key=lambda r: (r.at, r.channel, r.cause, r.topic))
    _assign_customers(rng, recs)
    return recs


_SUGGEST_SHARE = {"survey": 0.12, "social": 0.05, "ticket": 0.0, "hotline": 0.0}


def _sentiment(rng: random.Random, cause: str, channel: str, spike: bool) -> str:
    if cause in T.POSITIVE_CAUSES:
        return "positive"
    if cause in T.NEUTRAL_CAUSES:
        return "neutral"
    if not spike and T.CAUSES[cause]["suggest"] and rng.random() < _SUGGEST_SHARE[channel]:
        return "neutral"
    return "negative"


def _assign_customers(rng: random.Random, recs: list[_Rec]) -> None:
    """Customer numbers; some customers come back on the same problem (repeat contacts)."""
    pool: list[str] = []
    seen: set[str] = set()
    while len(pool) < 2600:
        ref = f"C{rng.randrange(100_000_000, 1_000_000_000)}"
        if ref not in seen:
            seen.add(ref)
            pool.append(ref)
    recent: dict[str, list[str]] = {}
    for rec in recs:
        if rec.channel == "social":
            continue
        known = rec.channel in ("ticket", "hotline") or rng.random() < 0.75
        if rec.channel == "hotline" and rng.random() < 0.12:
            known = False  # caller not identified
        if not known:
            continue
        earlier = recent.setdefault(rec.cause, [])
        if rec.sentiment == "negative" and earlier and rng.random() < 0.15:
            rec.customer = rng.choice(earlier[-30:])
            rec.repeat = True
        else:
            rec.customer = pool[int(len(pool) * rng.random() ** 1.4)]
        earlier.append(rec.customer)


# ---------------------------------------------------------------------------------------
# Texts
# ---------------------------------------------------------------------------------------


class _Slots(dict):
    """Template slots filled on first use with a random value; a slot keeps its value."""

    def __init__(self, rng: random.Random, rec: _Rec, **preset: str) -> None:
        super().__init__(preset)
        self.rng = rng
        self.rec = rec

    def __missing__(self, key: str) -> str:
        rng = self.rng
        if key in T.SLOT_VALUES:
            value = rng.choice(T.SLOT_VALUES[key])
        elif key == "bank":
            value = T.BANK
        elif key in ("branch", "city"):
            city, name = rng.choice(T.BRANCHES)
            self.setdefault("city", city)
            self.setdefault("branch", name)
            value = self[key]
        elif key == "tail":
            value = f"{rng.randrange(10000):04d}"
        elif key == "date":
            day = self.rec.local - timedelta(days=rng.randrange(0, 6))
            value = f"{day.month}月{day.day}日"
        elif key in _PII_MAKERS:
            value = _PII_MAKERS[key](rng)
        else:  # pragma: no cover - a template names an unknown slot
            raise KeyError(f"demo template slot {{{key}}} has no values")
        self[key] = value
        return value


def _fill(template: str, slots: _Slots) -> str:
    return template.format_map(slots)


def _pick(rng: random.Random, options: Sequence[str], p: float = 1.0) -> str:
    return rng.choice(options) if options and rng.random() < p else ""


def _end(sentence: str, mark: str = "。") -> str:
    sentence = sentence.strip()
    if not sentence or sentence[-1] in "。！？!?…，,：:":
        return sentence
    return sentence + mark


def _voice_core(rng: random.Random, rec: _Rec, slots: _Slots) -> str:
    spec = T.CAUSES[rec.cause]
    if rec.sentiment == "neutral" and rec.cause not in T.NEUTRAL_CAUSES:
        return _fill(rng.choice(spec["suggest"]), slots)
    if rec.spike and rng.random() < 0.6:
        return _fill(rng.choice(T.SPIKE_VOICE), slots)
    return _fill(rng.choice(spec["topics"][rec.topic]["voice"]), slots)


def _voice(rng: random.Random, rec: _Rec, slots: _Slots, *, survey: bool) -> str:
    """What a customer writes: a core complaint with optional opener, detail, closing."""
    spec = T.CAUSES[rec.cause]
    core = _voice_core(rng, rec, slots)
    if rec.sentiment == "positive":
        parts = [_end(core, rng.choice("。！")), _end(_fill(_pick(rng, spec["details"], 0.3), slots))]
        parts.append(_pick(rng, T.POSITIVE_CLOSINGS, 0.4))
    elif rec.sentiment == "neutral":
        parts = [_end(core)]
        if rec.cause not in T.NEUTRAL_CAUSES:
            parts.append(_pick(rng, ["谢谢。", "谢谢！", "辛苦了。"], 0.3))
    else:
        opener = _fill(_pick(rng, T.VOICE_OPENERS, 0.25 if survey else 0.5), slots)
        parts = [opener + _end(core, rng.choice("。。，！"))]
        if parts[0].endswith("，"):
            parts.append(_end(_fill(rng.choice(spec["details"]), slots)))
        else:
            parts.append(_end(_fill(_pick(rng, spec["details"], 0.35), slots)))
        closings = T.SURVEY_CLOSINGS_NEG if survey else T.VOICE_CLOSINGS_NEG
        parts.append(_pick(rng, closings, 0.45))
    return "".join(parts)


def _with_pii(rng: random.Random, rec: _Rec, text: str, slots: _Slots, *, summary: bool) -> str:
    if rec.pii is None:
        return text
    if summary:
        sentence = _fill(rng.choice(T.PII_SUMMARY[rec.pii]), slots)
        return _end(text) + sentence
    if rec.pii == PiiKind.BANK_CARD and rec.topic == "fraud":
        return _fill(rng.choice(T.PII_VOICE_FRAUD), slots) + text
    sentence = _fill(rng.choice(T.PII_VOICE[rec.pii]), slots)
    if sentence.endswith("，"):  # "材料我已经发到…了，" leads into the complaint
        return sentence + text
    return _end(text) + sentence


def _summary_core(rng: random.Random, rec: _Rec, slots: _Slots, *, ticket: bool = False) -> str:
    """An agent's one-sentence summary, opened the way agents vary it."""
    if rec.spike and rng.random() < 0.6:
        core = _fill(rng.choice(T.SPIKE_SUMMARY), slots)
    else:
        core = _fill(rng.choice(T.CAUSES[rec.cause]["topics"][rec.topic]["summary"]), slots)
    if core.startswith("客户") and not core.startswith("客户来电"):
        if ticket:
            leads = T.TICKET_LEADS_REPEAT if rec.repeat else T.TICKET_LEADS
        else:
            leads = T.SUMMARY_LEADS_REPEAT if rec.repeat and rng.random() < 0.7 else T.SUMMARY_LEADS
        core = rng.choice(leads) + core[2:]
    return core


# ---------------------------------------------------------------------------------------
# Defects: which rows carry PII, which are broken, which are repeated
# ---------------------------------------------------------------------------------------


def _choose_pii(rng: random.Random, recs: list[_Rec]) -> None:
    candidates = [r for r in recs if r.sentiment != "positive"] or recs
    for rec in rng.sample(candidates, min(len(candidates), round(len(recs) * PII_SHARE))):
        weights = dict(_PII_WEIGHTS)
        if rec.cause in _CARD_CAUSES:
            weights[PiiKind.BANK_CARD] *= 2.5
        rec.pii = str(rng.choices(list(weights), weights=list(weights.values()))[0])


def _choose_broken(rng: random.Random, recs: list[_Rec], once: Sequence[str], repeatable: Sequence[str]) -> None:
    """Mark about 2% of the rows broken: each kind at least once, ``once`` kinds exactly once."""
    clean = [r for r in recs if r.pii is None]
    total = max(len(once) + len(repeatable), round(len(recs) * BROKEN_SHARE))
    kinds = list(once) + list(repeatable)
    kinds += [rng.choice(repeatable) for _ in range(total - len(kinds))]
    for rec, kind in zip(rng.sample(clean, len(kinds)), kinds, strict=True):
        rec.broken = kind


def _with_duplicates(rng: random.Random, rows: list[Any], recs: list[_Rec]) -> tuple[list[Any], int]:
    """Insert exact copies of some clean rows at later positions."""
    clean = [i for i, r in enumerate(recs) if r.pii is None and r.broken is None]
    count = max(1, round(len(recs) * DUPLICATE_SHARE))
    inserts: dict[int, list[Any]] = {}
    for i in sorted(rng.sample(clean, count)):
        at = rng.randrange(i + 1, len(rows) + 1)
        inserts.setdefault(at, []).append(rows[i])
    out: list[Any] = []
    for i in range(len(rows) + 1):
        out.extend(inserts.get(i, ()))
        if i < len(rows):
            out.append(rows[i])
    return out, count


def _invalid_date_text(rng: random.Random, rec: _Rec, style: str) -> str:
    local = rec.local
    y, h, m, s = local.year, local.hour, local.minute, local.second
    month, day = rng.choice(((13, 45), (2, 30), (13, 45), (4, 31), (0, 12)))
    if style == "survey":
        return f"{y}/{month}/{day}" if rng.random() < 0.5 else f"{y}/{month}/{day} {h}:{m:02d}"
    if style == "iso":
        return f"{y}-{month:02d}-{day:02d}T{h:02d}:{m:02d}:{s:02d}+08:00"
    if style == "xlsx":
        return f"{y}/{month}/{day}" if rng.random() < 0.5 else f"{y}-{month:02d}-{day:02d} {h:02d}:{m:02d}"
    return f"{y}-{month:02d}-{day:02d} {h:02d}:{m:02d}:{s:02d}"


def _count_stats(recs: list[_Rec]) -> tuple[dict[str, int], dict[str, int]]:
    broken = Counter(r.broken for r in recs if r.broken)
    pii = Counter(r.pii for r in recs if r.pii)
    return dict(sorted(broken.items())), dict(sorted(pii.items()))


def _csv_bytes(header: Sequence[str], rows: list[list[str]], encoding: str) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue().encode(encoding)
