"""The state every CLI command shares, built lazily from the global options."""

from __future__ import annotations

import gc
import os
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import click

from bihuan.core.config import Settings, load_settings

# The rest is imported where it is first needed: every command builds an ``App``, few
# need all of it (the PDCA engine, the pipeline, Alembic), and a command's start-up time
# is mostly imports.
if TYPE_CHECKING:
    from sqlalchemy import Engine

    from bihuan.core.analysis.hooks import AnalysisHooks
    from bihuan.core.outbox import DeliveryReport, Outbox
    from bihuan.core.pdca.tasks import PdcaContext
    from bihuan.core.pipeline import PipelineHooks
    from bihuan.core.sla.cases import CaseContext
    from bihuan.plugins.manager import BihuanPluginManager


def freeze_imports() -> None:
    """Move what the imports so far built (SQLAlchemy, pydantic, the table models: ~90,000
    objects, alive as long as the process) out of the garbage collector's reach: its full
    passes and the collection at exit skip it (~0.2 s of `bihuan analyze`, ~1 s of CPU of a
    1M-row re-import). Called once the heavy modules are in: the command's module, the
    plugins — most imports happen lazily, after the command line is parsed."""
    gc.freeze()


@dataclass
class App:
    """What every command needs, built lazily from the global options."""

    db: str | None = None
    config_path: str | None = None
    #: whether :meth:`engine` may create a SQLite database that does not exist yet: set by
    #: ``bihuan init`` and the demo's own database; the default database in the data dir
    #: is created by any command (:attr:`creates_database`)
    create_database: bool = False
    _engine: Engine | None = field(default=None, repr=False)

    @cached_property
    def settings(self) -> Settings:
        return load_settings(self.config_path)

    @cached_property
    def pm(self) -> BihuanPluginManager:
        from bihuan.plugins.manager import build_plugin_manager

        pm = build_plugin_manager(disabled=self.settings.plugins.disabled)
        pm.hook.configure(settings=self.settings)
        freeze_imports()  # the plugins and the collectors they register
        return pm

    @cached_property
    def outbox(self) -> Outbox:
        """The notice outbox over the targets the plugins register (``[notify]``)."""
        from bihuan.plugins.manager import notice_outbox

        return notice_outbox(self.pm, self.settings)

    def deliver_notices(self) -> DeliveryReport | None:
        """Deliver the notices this command recorded (at its end; within the outbox's
        deadline). ``None`` when it recorded none."""
        if "outbox" not in self.__dict__ or self._engine is None:
            return None
        return self.outbox.deliver_recorded(self._engine) if self.outbox.targets else None

    @cached_property
    def hooks(self) -> PipelineHooks:
        from bihuan.plugins.manager import pipeline_hooks

        return pipeline_hooks(self.pm)

    @cached_property
    def analysis_hooks(self) -> AnalysisHooks:
        from bihuan.plugins.manager import analysis_hooks

        return analysis_hooks(self.pm, self.outbox)

    @cached_property
    def pdca(self) -> PdcaContext:
        from bihuan.core.pdca.tasks import PdcaContext
        from bihuan.plugins.manager import pdca_hooks

        return PdcaContext(
            zone=self.settings.bihuan.zone, settings=self.settings.pdca, hooks=pdca_hooks(self.pm, self.outbox)
        )

    @cached_property
    def cases(self) -> CaseContext:
        from bihuan.core.sla.cases import CaseContext
        from bihuan.plugins.manager import case_hooks

        settings = self.settings
        return CaseContext(
            zone=settings.bihuan.zone,
            sla=settings.sla,
            followup=settings.followup,
            hooks=case_hooks(self.pm, self.outbox),
        )

    @property
    def database_url(self) -> str:
        from bihuan.storage.engine import resolve_database_url

        return resolve_database_url(self.db)

    @property
    def creates_database(self) -> bool:
        """Whether a missing SQLite database is created rather than refused.

        A path given with ``--db`` or ``$BIHUAN_DATABASE_URL`` must exist unless the
        command is ``bihuan init`` (a typo must not become a new, empty database); the
        default database in the data dir is bihuan's own and is created on first use, so
        a fresh machine needs no ``init`` before its first import.
        """
        from bihuan.storage.engine import default_database_url, resolve_database_url

        return self.create_database or self.database_url == resolve_database_url(default_database_url())

    def engine(self) -> Engine:
        """The database engine, connected and migrated to the newest schema."""
        if self._engine is None:
            from bihuan.storage.engine import check_connection, create_db_engine
            from bihuan.storage.migrate import upgrade_database

            engine = create_db_engine(self.database_url, create=self.creates_database)
            check_connection(engine)
            if upgrade_database(engine):
                # rows stored by a version without pseudonyms: pseudonymised now, with a
                # key created for the database (a new one gets its key on its first import)
                from bihuan.core.privacy import protect_stored_rows

                protect_stored_rows(engine, self.hooks.redact)
            self._engine = engine
        return self._engine

    def close(self) -> None:
        """Close the database connections (the engine is opened again if used again)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def registry(self) -> dict[str, Any]:
        return {name: entry.cls for name, entry in self.pm.collectors().items()}


pass_app = click.make_pass_decorator(App)

#: environment variable naming the person at the keyboard (events record who did what)
USER_ENV = "BIHUAN_USER"


def current_user() -> str:
    """``$BIHUAN_USER``, else the login name."""
    import getpass

    return os.environ.get(USER_ENV) or getpass.getuser()


actor_option = click.option(
    "--as",
    "actor",
    metavar="NAME",
    default=current_user,
    show_default="$BIHUAN_USER or the login name",
    help="Who makes the change (recorded in the history).",
)
