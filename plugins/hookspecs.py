"""The hook specifications: the one contract between bihuan and its plugins.

Three kinds of hook:

* contribution hooks take a ``register`` callback (``register_collectors``,
  ``register_commands``); bihuan owns the names and refuses duplicates;
* decision hooks are ``firstresult``: the first plugin that returns something other
  than ``None`` wins (plugins registered later are asked first, so a third-party plugin
  overrides a built-in default);
* event hooks return ``None`` and are told that something happened; an exception in one
  is logged and does not stop the engine. They are told once, after the event committed,
  in the process that caused it: a plugin that must not miss a notice (a chat robot, a
  ticket system) registers a notice target instead (``register_notice_targets``), whose
  deliveries go through the outbox — recorded with the event, retried until delivered.

``docs/hooks.md`` is generated from this module (``python -m bihuan.plugins.docs``) and a
test keeps it in step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from bihuan.plugins.markers import hookspec

if TYPE_CHECKING:
    import click

    from bihuan.core.analysis.weekly import Spike
    from bihuan.core.collector import Collector
    from bihuan.core.config import Settings
    from bihuan.core.notices import ActionOverdue, CaseReopened, CheckVerdict, SlaBreach, StageChanged
    from bihuan.core.outbox import NoticeTarget
    from bihuan.core.pipeline import RunReport


# ── start-up ──────────────────────────────────────────────────────────────────────────


@hookspec
def configure(settings: Settings) -> None:
    """bihuan has loaded its plugins and read ``plugins.toml``.

    A plugin reads its own settings here (the built-in notifier its ``[notify]`` table).
    Do not connect to anything slow: every command pays for it.

    :param settings: the validated configuration (secrets still as ``{"$env": NAME}``
        references; resolve them with :func:`bihuan.core.config.resolve_env_refs` when used).
    :returns: nothing; not firstresult.

    Called once per process, after the plugin manager is built, before the command runs.
    """


# ── collection ────────────────────────────────────────────────────────────────────────


@hookspec
def register_collectors(register: Callable[[type[Collector]], None]) -> None:
    """Contribute collector classes.

    Call ``register(cls)`` once per collector class. ``cls.name`` must be unique across
    all plugins: a second class under a taken name is refused and reported as a plugin
    failure. See :class:`bihuan.core.collector.Collector` for the contract.

    :param register: callback that takes one collector class.
    :returns: nothing; not firstresult.

    Called once, when the collector registry is first needed (``bihuan collect``,
    ``bihuan import``, ``bihuan plugins``).
    """


@hookspec(firstresult=True)
def redact_text(text: str) -> str | None:
    """Remove personal data from a text before it is stored.

    The built-in default redacts mainland mobile and landline numbers, resident ID
    numbers (18 digits with a valid check digit, or the 15-digit form), Luhn-valid
    bank-card numbers, account numbers after an account label, e-mail addresses (also
    Chinese ones) and names after a name label (see :mod:`bihuan.core.redaction`). A
    plugin that wants to redact more can call :func:`bihuan.core.redaction.redact` itself
    and then add its own rules.

    :param text: a feedback text, a quarantined payload's string, an extra field's value,
        a URL, a reason or an error message.
    :returns: the redacted text, or ``None`` to let the next plugin decide.
        firstresult: the first non-``None`` answer is used.

    Called for every item text, URL and extra string value that is new or changed, for
    every string of a quarantined payload and every reason and run error, before
    anything is written to the database. Identifiers (ids, source names, state) and
    customer references are pseudonymised with the database's key instead, by the
    built-in rules (see :mod:`bihuan.core.pseudonyms`).
    """


@hookspec
def on_items_stored(collector: str, source: str, run_id: int, new: int, updated: int) -> None:
    """Items were committed at a checkpoint.

    :param collector: the collector instance name.
    :param source: the ``source`` of the items.
    :param run_id: the ``CollectorRun`` id.
    :param new: items inserted by this checkpoint.
    :param updated: items whose content changed.
    :returns: nothing; not firstresult.

    Called after the transaction of each checkpoint that stored at least one new or
    changed item has committed, on the collector's thread: keep it quick, the import
    waits for it.
    """


@hookspec
def on_collector_run_finished(report: RunReport) -> None:
    """A collector run ended, successfully or not.

    :param report: counts, status and error class of the run.
    :returns: nothing; not firstresult.

    Called once per run after its final status is committed, also when the run failed.
    """


# ── analysis ──────────────────────────────────────────────────────────────────────────


@hookspec(firstresult=True)
def score_sentiment(texts: list[str], languages: list[str]) -> list[float] | None:
    """Score the sentiment of a batch of feedback texts.

    The built-in model is snownlp's classifier on a fast segmenter for Chinese and VADER
    for English (see :mod:`bihuan.core.analysis.sentiment`). A plugin may replace it for
    all texts, or only for some languages by returning ``None`` for batches it does not
    handle.

    :param texts: redacted feedback texts.
    :param languages: for each text, ``"zh"``, ``"en"``, ``"other"`` or ``"unknown"``.
    :returns: one score per text, 0 (negative) .. 1 (positive), or ``None`` to let the
        next plugin (finally the built-in model) decide. firstresult.

    Called by ``bihuan analyze`` once per batch of new or changed items.
    """


@hookspec
def on_spike(spike: Spike, label: str) -> None:
    """A root-cause group spiked against its own baseline.

    :param spike: the group id, week, count, baseline and score of the spike.
    :param label: the group's label, e.g. ``"手机银行·转账·卡顿"``.
    :returns: nothing; not firstresult.

    Called by ``bihuan analyze`` once per group and week, when the spike is first seen.
    """


# ── PDCA ──────────────────────────────────────────────────────────────────────────────


@hookspec
def on_task_stage_changed(change: StageChanged) -> None:
    """An improvement task moved to another PDCA stage, or was closed.

    :param change: the task id and title, the old and new stage, who moved it, and for a
        closed task its outcome (``standardised``, ``next_cycle``, ``cancelled``).
    :returns: nothing; not firstresult.

    Called after the move is committed, once per move.
    """


@hookspec
def on_check_verdict(verdict: CheckVerdict) -> None:
    """The engine measured a task's metric after its actions and reached a verdict.

    :param verdict: the task, metric, baseline and check values, relative change, p-value,
        verdict (``effective``, ``not_effective``, ``inconclusive``) and whether the target
        was met.
    :returns: nothing; not firstresult.

    Called after the ``CheckResult`` is committed, once per check.
    """


@hookspec
def on_action_overdue(overdue: ActionOverdue) -> None:
    """An improvement action passed its due date without being done.

    :param overdue: the action, its task, owner and due date.
    :returns: nothing; not firstresult.

    Called by ``bihuan tick`` (and ``bihuan actions --overdue``) once per action, the
    first time it is seen overdue.
    """


# ── case handling: SLA and 回访 ─────────────────────────────────────────────────────────


@hookspec
def on_sla_breach(breach: SlaBreach) -> None:
    """A case missed its first-response or resolution due time.

    :param breach: the item, channel, SLA policy, which timer (``response`` or
        ``resolution``), the due time and a redacted excerpt of the text.
    :returns: nothing; not firstresult.

    Called by ``bihuan tick`` and ``bihuan sla`` once per case and timer, the first time
    the breach is seen.
    """


@hookspec
def on_case_reopened(reopened: CaseReopened) -> None:
    """An unhappy 回访 reopened a resolved complaint.

    :param reopened: the item, the follow-up, its outcome and satisfaction, who recorded it.
    :returns: nothing; not firstresult.

    Called after the follow-up and the reopening are committed.
    """


# ── notification ──────────────────────────────────────────────────────────────────────


@hookspec
def register_notice_targets(register: Callable[[NoticeTarget], None]) -> None:
    """Contribute notice targets: where the outbox delivers notices.

    Call ``register(target)`` once per target. A target (see
    :class:`bihuan.core.outbox.NoticeTarget`) has a ``name`` (stored with each delivery;
    unique across plugins: a taken name is refused and reported as a plugin failure),
    ``accepts(kind) -> bool`` (which notices it takes: ``sla_breach``, ``spike``,
    ``action_overdue``, ``stage_changed``, ``check_verdict``, ``case_reopened``) and
    ``send(envelope, *, timeout) -> None``, which delivers one notice once within
    ``timeout`` seconds or raises :class:`bihuan.core.errors.DeliveryError` (``retry=``
    whether a later attempt may succeed). The envelope carries the notice, its stable id
    (send it on, e.g. as the ``X-Bihuan-Notice-Id`` header, so the receiver can drop
    repeats: delivery is at least once), the attempt number and the team's time zone.

    Every notice a target accepts is written to the outbox in the transaction of its
    event; bihuan sends it at the end of the command that caused it (all targets within
    ``[notify] deadline_seconds`` together), retries failures with backoff from
    ``bihuan tick``, and gives up after ``[notify] retries`` (``bihuan notices`` lists
    what is pending or failed). The built-in notifier registers its ``[[notify.targets]]``.

    :param register: callback that takes one notice target.
    :returns: nothing; not firstresult.

    Called once per process, after ``configure``, when the engine first needs the outbox
    (any command that can announce something: ``tick``, ``sla``, ``task``, ``analyze``…).
    """


# ── CLI ───────────────────────────────────────────────────────────────────────────────


@hookspec
def register_commands(register: Callable[[click.Command], None]) -> None:
    """Contribute commands to the ``bihuan`` command line.

    Call ``register(command)`` with a ``click.Command`` or ``click.Group``. A name that a
    built-in command or another plugin already uses is refused and reported as a plugin
    failure.

    :param register: callback that takes one click command.
    :returns: nothing; not firstresult.

    Called once when the ``bihuan`` command starts, before its arguments are parsed.
    """
