"""A task event as one line the team reads, the same in the CLI and the workplace."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from bihuan.storage.pdca_models import TaskEvent


def event_change(event: TaskEvent) -> str:
    """What changed: ``field: old → new`` (the field left out where it is the event's
    kind, as in ``stage 'plan' → 'do'``), else the event's note or new value."""
    if event.field:
        name = "" if event.field == event.kind else f"{event.field}: "
        return f"{name}{event.old!r} → {event.new!r}"
    return str(event.note or event.new or "")


def event_line(event: TaskEvent, zone: ZoneInfo) -> str:
    """``2026-10-26 09:00 王组长: stage 'plan' → 'do'`` with the time in the team's zone."""
    return f"{event.at.astimezone(zone):%Y-%m-%d %H:%M} {event.actor}: {event.kind} {event_change(event)}"
