"""The acceptance kit: pytest tests a collector author runs against their collector.

Subclass :class:`CollectorAcceptance` in a test module, name the collector class and
provide its configurations as fixtures; pytest then runs every ``test_*`` method of the
kit against the collector::

    import pytest
    from bihuan.plugins.testing import CollectorAcceptance

    from acme_bihuan import AcmeComplaints


    class TestAcmeComplaints(CollectorAcceptance):
        collector_class = AcmeComplaints

        @pytest.fixture
        def valid_config(self, complaints_server):        # any fixture of yours may be asked for
            return {"url": complaints_server, "token": "t0ken"}   # a [collectors.<name>] table

        @pytest.fixture
        def invalid_config(self, complaints_server):
            return {"url": complaints_server, "token": "wrong"}

        @pytest.fixture
        def future_state(self):
            return {"after": 10**12}                       # a state no record is newer than

        @pytest.fixture                                    # optional: leave it out to skip
        def bad_records_config(self, complaints_server):   # the quarantine test
            return {"url": complaints_server + "/broken", "token": "t0ken"}

Each test runs the collector through the real pipeline (:func:`bihuan.core.pipeline.run_collector`,
configured by :func:`bihuan.core.collection.build_instance` exactly as ``plugins.toml`` would)
into a real, migrated SQLite database in the test's temporary directory, with bihuan's
default redaction. No installed plugin is loaded. What is checked, one test each:

* the class can be registered (name, channel, ``Config``, ``check``, ``collect``);
* ``check()`` passes with ``valid_config`` and fails with ``invalid_config`` with a
  configuration error (``CollectorConfigError``, ``AuthError`` or a ``ConfigError`` from
  validating the table);
* a first run succeeds, yields items with unique, contract-abiding ids and at least one
  ``Checkpoint`` with a JSON state;
* a second run from the state the first one saved stores nothing new and changes nothing;
* a run from ``future_state`` yields nothing;
* reading the whole source again without a state (a replay) creates no duplicates;
* the records of ``bad_records_config`` are quarantined with a reason, the run goes on,
  and reading them again does not quarantine them twice;
* no raw personal data and no secret is kept: not in the ``Checkpoint`` states
  ``collect()`` yields, not in what the collector logs, not in anything the run stored.

Personal data in items and bad records (a mobile in ``external_id``, ``customer_ref``,
``url`` or ``extra``) is *not* the collector's fault: the pipeline pseudonymises or
redacts every field before it is stored, and the kit checks that nothing got through.
What the pipeline cannot fix is the state: it stores it with personal data pseudonymised
and secrets masked, so a collector that keeps a caller's phone number or a next-link with
its ``access_token`` in its state would get back something else than it saved — the kit
fails it and says what to keep instead. The same for a collector's own log lines.

The sources behind ``valid_config`` must hold at least one record and stay the same
while a test runs (the kit reads them two or three times). Needs pytest.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, NoReturn, cast
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine
from sqlmodel import func, select

from bihuan.core.collection import build_instance
from bihuan.core.collector import Collector, CollectorOutput, RunContext
from bihuan.core.errors import USAGE_ERROR_CLASSES, ConfigError, RecordError, error_class_of
from bihuan.core.masking import known_secrets
from bihuan.core.pipeline import PipelineHooks, RunReport, item_problem, load_state, run_collector
from bihuan.core.types import CHANNELS, BadRecord, Checkpoint, Item
from bihuan.plugins.kit_privacy import LogCapture, personal_data_in, secrets_in, stored_leaks
from bihuan.plugins.manager import collector_class_problem
from bihuan.storage import queries
from bihuan.storage.engine import create_db_engine, session_scope
from bihuan.storage.migrate import upgrade_database
from bihuan.storage.models import QuarantinedRecord

__all__ = ["CollectorAcceptance", "KitRun", "kit_run", "stored_leaks"]

#: the ``source`` the kit stores items under when a configuration names none; every run of
#: one test shares it, so that a replay under another instance name meets the stored items
KIT_SOURCE = "acceptance"
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
#: ids shown in a failure message
SHOWN = 5


def _shown(values: Iterable[Any]) -> str:
    values = list(values)
    listed = ", ".join(repr(v) for v in values[:SHOWN])
    return listed + (f" and {len(values) - SHOWN} more" if len(values) > SHOWN else "")


def _json_problem(state: Any) -> str | None:
    if not isinstance(state, dict):
        return f"a Checkpoint's state must be a dict, not {type(state).__name__}"
    try:
        json.dumps(state)
    except (TypeError, ValueError) as exc:
        return f"a Checkpoint's state must be JSON (str, numbers, lists, dicts): {exc}"
    return None


class _Recording:
    """Passes a collector's outputs to the pipeline and keeps them for the assertions."""

    def __init__(self, inner: Collector, run: KitRun) -> None:
        self.inner = inner
        self.run = run
        self.name = inner.name
        self.channel = inner.channel
        self.Config = inner.Config

    def check(self, ctx: RunContext) -> None:
        try:
            self.inner.check(ctx)
        except Exception as exc:
            self.run.error = exc
            raise

    def collect(self, ctx: RunContext, state: dict[str, Any] | None) -> Iterator[CollectorOutput]:
        self.run.state_given = state
        try:
            for output in self.inner.collect(ctx, state):
                if isinstance(output, Item):
                    self.run.items.append(output)
                elif isinstance(output, BadRecord):
                    self.run.bad_records.append(output)
                elif isinstance(output, Checkpoint):
                    self.run.checkpoints.append(output.state)
                yield output
        except Exception as exc:
            self.run.error = exc  # shown under the assertion, with its traceback
            raise


@dataclass
class KitRun:
    """One run of the collector through the pipeline, and what it did."""

    instance: str
    source: str
    report: RunReport = field(default_factory=lambda: RunReport(collector="", collector_type="", source=""))
    #: the state ``collect()`` was given
    state_given: dict[str, Any] | None = None
    #: what ``collect()`` yielded, by kind
    items: list[Item] = field(default_factory=list)
    bad_records: list[BadRecord] = field(default_factory=list)
    checkpoints: list[Any] = field(default_factory=list)
    #: the exception ``collect()`` raised, if any
    error: BaseException | None = None
    #: after the run: items stored under the source, quarantined records of the source,
    #: the state saved for the instance
    stored: int = 0
    quarantined: int = 0
    state_saved: dict[str, Any] | None = None
    #: the secret values of the configuration (tokens, keys)
    secrets: list[str] = field(default_factory=list)
    #: what the collector logged (its ``ctx.log`` and its module's loggers)
    logged: list[str] = field(default_factory=list)

    @property
    def ids(self) -> list[str]:
        return [item.external_id for item in self.items]

    def fail(self, message: str) -> NoReturn:
        """Fail the test with ``message``, chained to what the collector raised."""
        __tracebackhide__ = True
        raise AssertionError(message) from self.error

    def expect_nothing_changed(self, earlier: KitRun, what: str) -> None:
        """Fail if this run, over the unchanged source ``earlier`` read, updated stored items."""
        __tracebackhide__ = True
        if self.report.updated:
            hashes = {item.external_id: item.content_hash for item in earlier.items}
            changed = [i.external_id for i in self.items if hashes.get(i.external_id, i.content_hash) != i.content_hash]
            self.fail(
                f"{what} on an unchanged source, collect() changed {self.report.updated} stored items "
                f"({_shown(changed)}): reading the same record twice must give the same item. Do not put the "
                "time of reading (now()) into created_at or extra."
            )

    def expect_success(self, what: str) -> None:
        """Fail unless the run succeeded, saying why it did not."""
        __tracebackhide__ = True
        for state in self.checkpoints:
            problem = _json_problem(state)
            if problem:
                self.fail(f"{what}: {problem}")
        if self.report.status != "succeeded":
            self.fail(
                f"{what} failed ({self.report.error_class} error): {self.report.error}. "
                "A collector must read its source to the end: raise only when the run cannot go on, and "
                "yield a BadRecord for a record it cannot read."
            )


def kit_run(
    collector_class: type[Collector],
    config: Mapping[str, Any],
    *,
    engine: Engine,
    instance: str,
    state: dict[str, Any] | None = None,
    timezone: ZoneInfo = DEFAULT_ZONE,
) -> KitRun:
    """Run ``collector_class`` once through the pipeline, as ``bihuan collect`` would.

    :param config: the ``[collectors.<instance>]`` table (``$env`` references allowed);
        ``source`` defaults to :data:`KIT_SOURCE`.
    :param instance: the instance name; state is kept per instance.
    :param state: saved as the instance's state before the run (as if an earlier run had).
    """
    table = {"source": KIT_SOURCE, **config, "collector": collector_class.name}
    try:
        built = build_instance(instance, table, {collector_class.name: collector_class})
    except ConfigError as exc:
        raise AssertionError(
            f"the configuration does not validate against {collector_class.__qualname__}.Config: {exc}"
        ) from None
    if state is not None:
        with session_scope(engine, write=True) as session:
            queries.save_state(instance, state, collector_type=collector_class.name, run_id=None, session=session)
    run = KitRun(instance=instance, source=built.source, secrets=known_secrets(built.config))
    recording = _Recording(built.cls(), run)
    with LogCapture(collector_class, run.logged):
        run.report = run_collector(
            cast(Collector, recording),
            built.context(timezone),
            engine=engine,
            collector_type=collector_class.name,
            hooks=PipelineHooks(),
            config_record=built.config_record(),
        )
    with session_scope(engine) as session:
        run.stored = queries.count_items(source=run.source, session=session)
        quarantined = select(func.count()).select_from(QuarantinedRecord).where(QuarantinedRecord.source == run.source)
        run.quarantined = int(session.exec(quarantined).one())
    run.state_saved = load_state(instance, engine=engine)
    return run


class CollectorAcceptance:
    """Acceptance tests for one collector class; subclass it in a ``Test…`` class.

    Set :attr:`collector_class` and override the fixtures ``valid_config``,
    ``invalid_config`` and ``future_state`` (and optionally ``bad_records_config``).
    A fixture may ask for any other fixture (``tmp_path``, a server of yours, …).
    """

    #: the collector under test
    collector_class: ClassVar[type[Collector]]
    #: the zone naive timestamps are read in (``[bihuan] timezone``)
    timezone: ClassVar[ZoneInfo] = DEFAULT_ZONE

    # ── what the author provides ──────────────────────────────────────────────────────

    @pytest.fixture
    def valid_config(self) -> dict[str, Any]:
        """A ``[collectors.<name>]`` table (as a dict) that works, on a source with records."""
        pytest.fail(self._missing("valid_config", "a [collectors.<name>] table, as a dict, that works"), pytrace=False)

    @pytest.fixture
    def invalid_config(self) -> dict[str, Any]:
        """A table ``check()`` must refuse (a wrong token, a URL that is no API, a missing file)."""
        pytest.fail(self._missing("invalid_config", "a table that check() must refuse"), pytrace=False)

    @pytest.fixture
    def future_state(self) -> dict[str, Any]:
        """A state as ``collect()`` checkpoints it, but past every record of the source."""
        pytest.fail(self._missing("future_state", "a state past every record of the source"), pytrace=False)

    @pytest.fixture
    def bad_records_config(self) -> dict[str, Any] | None:
        """A table whose source holds records that cannot become items; ``None`` skips the test."""
        return None

    # ── what the kit provides ─────────────────────────────────────────────────────────

    @pytest.fixture
    def kit_engine(self, tmp_path: Path) -> Iterator[Engine]:
        """A migrated SQLite database in the test's temporary directory."""
        directory = tmp_path / "bihuan-kit"
        directory.mkdir(exist_ok=True)
        engine = create_db_engine(f"sqlite:///{directory / 'bihuan.db'}")
        upgrade_database(engine)
        yield engine
        engine.dispose()

    def run(
        self, engine: Engine, config: Mapping[str, Any], instance: str, state: dict[str, Any] | None = None
    ) -> KitRun:
        """One run of :attr:`collector_class` (see :func:`kit_run`)."""
        return kit_run(self._class(), config, engine=engine, instance=instance, state=state, timezone=self.timezone)

    def _class(self) -> type[Collector]:
        cls = getattr(self, "collector_class", None)
        if cls is None:
            pytest.fail(f"{type(self).__name__}: set collector_class = <your collector class>", pytrace=False)
        return cls

    def _missing(self, fixture: str, what: str) -> str:
        return f"{type(self).__name__}: define a `{fixture}` fixture returning {what} (see bihuan.plugins.testing)"

    def _context(self, config: Mapping[str, Any], instance: str) -> RunContext:
        cls = self._class()
        built = build_instance(instance, {"source": KIT_SOURCE, **config, "collector": cls.name}, {cls.name: cls})
        return built.context(self.timezone)

    # ── the tests ─────────────────────────────────────────────────────────────────────

    def test_the_class_can_be_registered(self) -> None:
        cls = self._class()
        problem = collector_class_problem(cls)
        assert problem is None, f"register_collectors would refuse the class: {problem}"
        assert cls.channel in CHANNELS, (
            f"{cls.__qualname__}.channel is {cls.channel!r}; it must be one of {', '.join(sorted(CHANNELS))}"
        )

    def test_check_passes_with_the_valid_config(self, valid_config: dict[str, Any]) -> None:
        try:
            ctx = self._context(valid_config, "kit-check")
        except ConfigError as exc:
            raise AssertionError(
                f"valid_config does not validate against {self._class().__qualname__}.Config: {exc}"
            ) from None
        try:
            self._class()().check(ctx)
        except Exception as exc:
            raise AssertionError(
                f"check() refused valid_config with {type(exc).__name__}: {exc}; "
                "check() must pass when the run can work"
            ) from exc
        finally:
            ctx.close()

    def test_check_fails_with_the_invalid_config(self, invalid_config: dict[str, Any]) -> None:
        try:
            ctx = self._context(invalid_config, "kit-check")
        except ConfigError:
            return  # refused when the table was validated: what a user of plugins.toml sees too
        try:
            self._class()().check(ctx)
        except Exception as exc:  # noqa: BLE001 (whatever it raised is judged by its class below)
            assert error_class_of(exc) in USAGE_ERROR_CLASSES, (
                f"check() refused invalid_config with {type(exc).__name__} ({error_class_of(exc)} error): {exc}. "
                "A configuration the run cannot work with must raise CollectorConfigError (AuthError for "
                "rejected credentials), so that bihuan reports a configuration error and exits with code 2."
            )
        else:
            pytest.fail(
                "check() accepted invalid_config: check() must raise CollectorConfigError (AuthError for "
                "rejected credentials) when the run cannot work, before anything is read.",
                pytrace=False,
            )
        finally:
            ctx.close()

    def test_a_first_run_stores_items_with_unique_ids(self, valid_config: dict[str, Any], kit_engine: Engine) -> None:
        run = self.run(kit_engine, valid_config, "kit-first")
        run.expect_success("the first run with valid_config")
        if not run.items:
            run.fail("collect() yielded no items from the source of valid_config; the kit needs one with records")
        repeated = [key for key, n in Counter(run.ids).items() if n > 1]
        if repeated:
            run.fail(
                f"collect() yielded the external ids {_shown(repeated)} more than once in one run: every "
                "record needs its own id (the pipeline keeps only the last item of an id)"
            )
        broken = [(item.external_id, problem) for item in run.items if (problem := item_problem(item))]
        if broken:
            key, (where, reason) = broken[0]
            run.fail(
                f"{len(broken)} items break the item contract and were quarantined by the pipeline, e.g. item "
                f"{key!r}: {where}: {reason}. Build valid items (timezone-aware created_at: use ctx.timezone for "
                "naive times), and yield a BadRecord for a record you cannot read."
            )
        if not run.checkpoints:
            run.fail(
                "collect() yielded no Checkpoint: nothing it read is committed with a state, so a run that "
                "stops half-way starts over and the next run cannot resume. Yield Checkpoint(state) after "
                "each page or batch and at the end."
            )
        assert run.report.new == run.stored == len(set(run.ids)), (
            f"{len(set(run.ids))} distinct items were yielded, but the run stored {run.report.new} "
            f"(the database holds {run.stored})"
        )

    def test_a_rerun_from_the_saved_state_stores_nothing_new(
        self, valid_config: dict[str, Any], kit_engine: Engine
    ) -> None:
        first = self.run(kit_engine, valid_config, "kit-rerun")
        first.expect_success("the first run with valid_config")
        second = self.run(kit_engine, valid_config, "kit-rerun")
        second.expect_success("the second run, from the state the first one saved")
        new = sorted(set(second.ids) - set(first.ids))
        if second.report.new:
            second.fail(
                f"run again from the state the first run saved ({first.state_saved}) on an unchanged source, "
                f"collect() stored {second.report.new} new items ({_shown(new)}): the same records got other "
                "external ids. An id must come from the record itself (its id in the source, or a hash of "
                "its content), never from a counter, the time or a random number."
            )
        second.expect_nothing_changed(first, "run again from its state")
        assert second.stored == first.stored, f"the database held {first.stored} items, now {second.stored}"

    def test_a_state_from_the_future_yields_nothing(
        self, valid_config: dict[str, Any], future_state: dict[str, Any], kit_engine: Engine
    ) -> None:
        problem = _json_problem(future_state)
        assert problem is None, f"the future_state fixture: {problem}"
        run = self.run(kit_engine, valid_config, "kit-future", state=future_state)
        run.expect_success("a run from future_state")
        if run.state_given != future_state:
            run.fail(f"collect() was given {run.state_given!r}, not the saved future_state {future_state!r}")
        if run.items or run.bad_records:
            run.fail(
                f"given a state past every record ({future_state}), collect() yielded {len(run.items)} items "
                f"({_shown(run.ids)}) and {len(run.bad_records)} bad records: it must start where its state "
                "says, not at the beginning of the source."
            )

    def test_replaying_the_source_creates_no_duplicates(self, valid_config: dict[str, Any], kit_engine: Engine) -> None:
        first = self.run(kit_engine, valid_config, "kit-original")
        first.expect_success("the first run with valid_config")
        # another instance on the same source: no state, every record read again
        replay = self.run(kit_engine, valid_config, "kit-replay")
        replay.expect_success("a second run from no state")
        if not replay.items:
            replay.fail(
                "read again from no state, the source of valid_config yielded no items; the kit needs a "
                "source that can be read twice (reading must not consume it)"
            )
        if replay.report.new:
            new = sorted(set(replay.ids) - set(first.ids))
            replay.fail(
                f"reading the same source again from no state stored {replay.report.new} new items "
                f"({_shown(new)}) next to the {first.stored} of the first run: external ids are not stable. "
                "An id must come from the record itself, so that the pipeline can upsert on (source, id)."
            )
        replay.expect_nothing_changed(first, "read again from no state")
        assert replay.stored == first.stored, f"the database held {first.stored} items, now {replay.stored}"

    def test_bad_records_are_quarantined_with_a_reason(
        self, bad_records_config: dict[str, Any] | None, kit_engine: Engine
    ) -> None:
        if bad_records_config is None:
            pytest.skip("no bad_records_config fixture: define one to check that bad records are quarantined")
        run = self.run(kit_engine, bad_records_config, "kit-bad")
        run.expect_success("a run over bad records (one bad record must not stop the run)")
        if not run.quarantined:
            run.fail(
                "the source of bad_records_config holds bad records, but nothing was quarantined: yield "
                "BadRecord(raw=<the record as read>, reason=<what is wrong>, location=…, field=…) for a "
                "record that cannot become an item"
            )
        for record in run.bad_records:
            if not isinstance(record.reason, str) or not record.reason.strip():
                run.fail(f"a BadRecord at {record.location!r} has no reason; say what is wrong, for the user")
            if record.raw is None:
                run.fail(
                    f"a BadRecord at {record.location!r} has no raw payload; pass the record as read, so a user "
                    "can look at it, fix it and retry it"
                )
        parse = getattr(self._class()(), "parse_record", None)
        if callable(parse) and run.bad_records:
            ctx = self._context(bad_records_config, "kit-bad")
            try:
                for record in run.bad_records:
                    try:
                        parse(ctx, record.raw)
                    except RecordError:
                        continue
                    run.fail(
                        f"parse_record() accepted the record collect() quarantined at {record.location!r}: "
                        "`bihuan quarantine retry` would store it unchanged. Both must read a record the same way."
                    )
            finally:
                ctx.close()
        again = self.run(kit_engine, bad_records_config, "kit-bad-replay")
        again.expect_success("a second run over bad records from no state")
        if again.quarantined != run.quarantined:
            again.fail(
                f"reading the same bad records again quarantined them again ({run.quarantined} records, now "
                f"{again.quarantined}): a BadRecord's raw payload and location must not change between reads"
            )

    def test_no_personal_data_or_secret_is_kept(
        self, valid_config: dict[str, Any], bad_records_config: dict[str, Any] | None, kit_engine: Engine
    ) -> None:
        tables = [("valid_config", valid_config)]
        if bad_records_config is not None:
            tables.append(("bad_records_config", bad_records_config))
        for what, config in tables:
            run = self.run(kit_engine, config, f"kit-private-{what}")
            if what == "valid_config":  # a failing run over bad records is the quarantine test's to report
                run.expect_success(f"a run with {what}")
            for state in run.checkpoints:
                personal = personal_data_in(state, "state")
                if personal:
                    run.fail(
                        f"collect() put personal data into a Checkpoint state ({'; '.join(personal[:SHOWN])}). "
                        "The pipeline stores states with personal data pseudonymised, so the next run would get "
                        "back something else than was saved. Keep cursors, ids and timestamps in the state, never "
                        "a customer's data."
                    )
                secret = secrets_in(state, run.secrets, "state")
                if secret:
                    run.fail(
                        f"collect() put a secret into a Checkpoint state ({'; '.join(secret[:SHOWN])}). Secrets "
                        "are never stored: keep the cursor, or the next link without its token "
                        "(bihuan.core.masking.strip_url_secrets), and add the configured credentials when "
                        "fetching it."
                    )
            logged = [
                (line, problem)
                for line in run.logged
                for problem in personal_data_in(line, "log") + secrets_in(line, run.secrets, "log")
            ]
            if logged:
                line, problem = logged[0]
                run.fail(
                    f"the collector logged personal data or a secret ({problem}): {line[:200]!r}. Log where "
                    "and how much (a page, a row number, a count), never a record's content or a credential."
                )
        leaks = stored_leaks(kit_engine, run.secrets)
        if leaks:
            raise AssertionError(
                f"raw personal data or secrets reached the database ({'; '.join(leaks[:SHOWN])}): the pipeline "
                "pseudonymises, redacts and masks every field it stores; report this to bihuan with the record "
                "that got through."
            )
