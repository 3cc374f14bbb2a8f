"""Hostile values in every field the workplace and the CLI show, stored in a real database.

Each value starts with a short tag naming its field (``T`` the text, ``S`` the source …),
then carries what tore the inbox apart: a clear-screen sequence, an OSC-8 hyperlink, CR
a window title ended by BEL, a C1 CSI, CR and BS, Rich markup that raises (``[/]``) or acts (``[@click=app.quit]``), a bidi
override and a zero-width space. ``visible(tag)`` is how it must be shown, written out
here by hand (not computed by the code under test).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import Engine
from sqlmodel import col, select

from bihuan.core.analysis.group_ops import rename_group
from bihuan.core.pdca import actions as pdca_actions
from bihuan.core.pdca import tasks as pdca_tasks
from bihuan.core.pdca.tasks import PdcaContext
from bihuan.storage.analysis_models import IssueGroup
from bihuan.storage.engine import session_scope
from bihuan.storage.models import CollectorRun, FeedbackItem, QuarantinedRecord

#: the escapes of a hostile value, as stored
ATTACK = "\x1b[2J\x1b]8;;http://evil/\x1b\\click\x1b]8;;\x1b\\\x1b]0;pwned\x07\x9b2J\r\b[/][@click=app.quit]quit[/]\u202e反\u200b"
#: the same, as it must be shown: control pictures, code points, markup as plain text
SHOWN = "␛[2J␛]8;;http://evil/␛\\click␛]8;;␛\\␛]0;pwned␇<U+009B>2J␍␈[/][@click=app.quit]quit[/]<U+202E>反<U+200B>"
#: a short one for narrow columns (channel: 32 characters)
SHORT_ATTACK = "\x1b[2J\r\b[/]\u202e"
SHORT_SHOWN = "␛[2J␍␈[/]<U+202E>"
#: the external id of the item made hostile (``seed``'s key of group 1's last item)
ITEM_KEY = "r1-d27-1"
#: characters that must never reach the terminal from stored data
RAW = ("\x1b", "\r", "\b", "\x07", "\u202e", "\u200b", "\x9b")


def hostile(tag: str) -> str:
    return tag + ATTACK


def visible(tag: str) -> str:
    return tag + SHOWN


def raw_controls(text: str) -> list[str]:
    """The raw control characters of ``RAW`` found in ``text`` (none: safe to show)."""
    return [repr(c) for c in RAW if c in text]


@dataclass(frozen=True)
class Seeded:
    item_id: int
    group_id: int
    task_id: int


def make_hostile(engine: Engine, pdca: PdcaContext, *, channel: bool = True) -> Seeded:
    """Hostile values in the newest item, group 1, a task with an action, quarantined
    records and a failed run (on a database already seeded with groups 1 and 2)."""
    with session_scope(engine, write=True) as session:
        # the last item of group 1 in ``workplace``'s data, made the newest of all
        item = session.exec(select(FeedbackItem).where(col(FeedbackItem.external_id) == ITEM_KEY)).one()
        assert item.id is not None
        item.created_at = datetime(2026, 11, 22, 3, 30, tzinfo=UTC)  # 11:30 in Shanghai, after the others
        item.text = hostile("T") + "\n第二行"
        item.source = hostile("S")
        item.customer_ref = hostile("CR")
        item.url = "http://x/" + hostile("U")
        item.extra = {hostile("EK"): hostile("EV")}
        if channel:
            item.channel = "CH" + SHORT_ATTACK
        session.add(item)
        group = session.get(IssueGroup, 1)
        assert group is not None
        group.keywords = [hostile("K")]
        group.category = "C" + SHORT_ATTACK
        session.add(group)
        session.flush()
        rename_group(1, hostile("G"), actor=hostile("A"), session=session)
        run = CollectorRun(
            collector=hostile("RUN"),
            collector_type="csv",
            source=hostile("S"),
            status="failed",
            started_at=datetime(2026, 11, 20, 8, tzinfo=UTC),
            error_class="data",
            error_message=hostile("ERR"),
        )
        session.add(run)
        session.flush()
        payload = json.dumps({hostile("PK"): hostile("PV")}, ensure_ascii=False)
        for n, collector in enumerate((hostile("Q"), "[/]", "[@click=app.quit]quit[/]")):
            session.add(
                QuarantinedRecord(
                    collector=collector,
                    collector_type="csv",
                    source=hostile("S"),
                    location=hostile("L"),
                    field=hostile("F"),
                    reason=hostile("R"),
                    payload=payload,
                    payload_hash=f"h{n}",
                    run_id=run.id,
                    created_at=datetime(2026, 11, 20, 8, n, tzinfo=UTC),
                )
            )
        item_id = item.id
    task = pdca_tasks.open_task(
        engine,
        pdca,
        title=hostile("TT"),
        group_ids=[1],
        actor=hostile("A"),
        root_cause=hostile("RC"),
        owner=hostile("OW"),
        due_date=date(2027, 1, 31),
    )
    assert task.id is not None
    pdca_actions.add_action(
        engine, task.id, title=hostile("AT"), owner=hostile("AO"), due_date=date(2026, 12, 15), actor=hostile("A")
    )
    return Seeded(item_id=item_id, group_id=1, task_id=task.id)
