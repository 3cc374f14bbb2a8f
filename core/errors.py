"""The one error hierarchy of bihuan.

Every error that bihuan raises on purpose derives from :class:`BihuanError`. The CLI maps
the classes to exit codes (see ``exit_code``; ``bihuan.tui.cli`` is the one place that
turns an error into a message, a JSON document under ``--json`` and the exit code), and
collectors' failures are reported with their ``error_class`` (config, auth, rate_limit,
transient, data, internal).

Exit codes (the README's table):

=====  ==================================================================================
0      everything read was stored
1      any other failure
2      usage or configuration error (``ConfigError``): bad option, missing file, a
       ``--db`` naming a SQLite database that does not exist
3      finished, with quarantined records
4      stale write (``StaleWriteError``): someone changed the row since it was read;
       nothing was saved. Retryable: read again, then write again
5      database unreachable or unusable (``DatabaseUnavailableError``): the server
       refuses connections, the file cannot be opened, is not a SQLite database, is
       read-only or its disk is full. Nothing more was written; the database holds what
       it held before the failed transaction
6      reserved: an analysis is already running on the database
=====  ==================================================================================

Messages must never contain secrets; they name the file, row and field where one applies.
"""

from __future__ import annotations

#: Exit codes documented in the README.
EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_QUARANTINED = 3
EXIT_CONFLICT = 4
EXIT_DATABASE = 5
#: the work is being done by another process now (an analysis already running): retry later
EXIT_BUSY = 6


class BihuanError(Exception):
    """Base class of every error bihuan raises on purpose."""

    exit_code: int = EXIT_FAILURE
    #: short class name shown in run summaries and stored on failed runs
    error_class: str = "internal"


class ConfigError(BihuanError):
    """A configuration problem: plugins.toml, CLI options, a missing environment variable."""

    exit_code = EXIT_USAGE
    error_class = "config"


class UsageError(ConfigError):
    """The command line asks for something impossible (missing file, unknown collector)."""


class PluginError(BihuanError):
    """A plugin could not be loaded or broke the plugin contract (e.g. a duplicate name)."""

    error_class = "plugin"


class StorageError(BihuanError):
    """The database could not be reached, used or migrated."""

    error_class = "storage"


class StaleWriteError(StorageError):
    """Someone else changed the row since it was read; the write was refused.

    Retryable: nothing was written; read the row again and repeat the change.
    """

    exit_code = EXIT_CONFLICT
    error_class = "conflict"


class MissingDatabaseError(StorageError):
    """A SQLite database named by ``--db`` (or ``$BIHUAN_DATABASE_URL``) does not exist.

    Only ``bihuan init`` creates one (and any command the default database in the data
    dir): a mistyped path must not silently become a new, empty database.
    """

    exit_code = EXIT_USAGE
    error_class = "config"

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class DatabaseUnavailableError(StorageError):
    """The database cannot be used: not a database, damaged, unreadable (see subclasses).

    The transaction that met it was rolled back by the database, so nothing of it is
    stored; what was committed before is intact.
    """

    exit_code = EXIT_DATABASE
    error_class = "unavailable"


class DatabaseUnreachableError(DatabaseUnavailableError):
    """The server refuses or lost the connection, or the SQLite file cannot be opened."""

    error_class = "unreachable"


class DatabaseReadOnlyError(DatabaseUnavailableError):
    """The database may be read but not written (file mode, read-only folder or server)."""

    error_class = "read_only"


class DatabaseFullError(DatabaseUnavailableError):
    """The disk (or the quota) of the database is full."""

    error_class = "disk_full"
class AlreadyRunningError(BihuanError):
    """Another process is doing this work on the same database now (one analysis at a
    time); the message names it. Retrying later is the fix."""

    exit_code = EXIT_BUSY
    error_class = "busy"


class CollectorError(BihuanError):
    """Base class for failures of one collector run; the other collectors go on."""

    error_class = "internal"


class CollectorConfigError(CollectorError, ConfigError):
    """The collector's configuration is invalid (raised by ``Collector.check``)."""

    exit_code = EXIT_USAGE
    error_class = "config"


class AuthError(CollectorConfigError):
    """The source refused our credentials (401/403); retrying will not help."""

    error_class = "auth"


class RateLimitError(CollectorError):
    """The source kept rate-limiting us beyond the retry budget."""

    error_class = "rate_limit"


class TransientError(CollectorError):
    """A network or server failure that may go away on the next run."""

    error_class = "transient"


class InputError(CollectorError):
    """An input file or payload that cannot be read at all (not CSV, undecodable, missing).

    Record-level problems are not errors: they become ``BadRecord`` and go to quarantine.
    """

    error_class = "data"

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class MissingInputError(InputError):
    """An input file that does not exist or cannot be opened: the configuration is wrong."""

    exit_code = EXIT_USAGE
    error_class = "config"


class RecordError(BihuanError):
    """One record cannot be turned into an item; carries the field that is wrong.

    Raised by record parsers and turned into a ``BadRecord`` by the collector, so a
    single bad record never stops a run.
    """

    error_class = "data"

    def __init__(self, reason: str, *, field: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.field = field


class DeliveryError(BihuanError):
    """One attempt to deliver a notice to a notice target failed.

    Raised by a target's ``send`` (see :class:`bihuan.core.outbox.NoticeTarget`);
    ``retry`` says whether a later attempt may succeed (a timeout, a 5xx, a rate limit)
    or not (a wrong key, a 4xx): the outbox then gives up at once. The message is stored
    and logged: it must not carry a URL's key, a token or the server's echo of one.
    """

    error_class = "delivery"

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


#: run error classes that mean "fix the configuration or command line" (exit code 2)
USAGE_ERROR_CLASSES = frozenset({"config", "auth"})
#: run error classes that mean "the database cannot be used" (exit code 5)
DATABASE_ERROR_CLASSES = frozenset(
    cls.error_class
    for cls in (DatabaseUnavailableError, DatabaseUnreachableError, DatabaseReadOnlyError, DatabaseFullError)
)


def error_class_of(exc: BaseException) -> str:
    """Return the short error class name of ``exc`` for run reports."""
    if isinstance(exc, BihuanError):
        return exc.error_class
    return "internal"


def describe_failure(exc: BaseException) -> tuple[str, str]:
    """``(error class, message)`` stored on a run that ``exc`` stopped.

    A bihuan error's message is written for the user; anything else is a bug, named by
    its class so that the report says what broke.
    """
    error_class = error_class_of(exc)
    return error_class, f"{type(exc).__name__}: {exc}" if error_class == "internal" else str(exc)
