"""Errors a script and a person can use (issue 15 §6): JSON errors under ``--json`` for
every command, distinct exit codes for a stale write (4) and an unusable database (5), a
mistyped SQLite path refused instead of created, and one clear line — nothing corrupted —
for a file that is not a database, a read-only database and a full disk."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import Engine, text

from bihuan.core.errors import EXIT_CONFLICT, EXIT_DATABASE, EXIT_USAGE
from bihuan.storage.engine import create_db_engine
from bihuan.tui.cli import COMMAND_MODULES, cli
from tests.core.pdca.conftest import Run, seed
from tests.tui.test_cli_process import BIHUAN, bihuan_env

ERROR_KEYS = {"error", "error_class", "exit_code"}


def invoke(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env)


def error_of(result: Result | subprocess.CompletedProcess[str], code: int) -> dict[str, Any]:
    """The JSON error document a failed command printed: alone on stdout, with the exit
    code it exited with; and one line, without a traceback, on stderr."""
    returncode = result.exit_code if isinstance(result, Result) else result.returncode
    assert returncode == code, (result.stdout, result.stderr)
    document = json.loads(result.stdout)
    assert set(document) == ERROR_KEYS, document
    assert document["exit_code"] == code
    assert "Traceback" not in result.stderr
    # the error is one line; log lines of the run before it (a key created on the first
    # import, say) may stand above it
    lines = [line for line in result.stderr.splitlines() if not line.startswith(("WARNING ", "INFO ", "DEBUG "))]
    assert lines == [f"error: {document['error']}"], result.stderr
    return document


def survey(path: Path, rows: int = 3) -> Path:
    lines = ["编号,提交时间,意见", *(f"S{i},2026-10-01 09:00,第{i}条：转账太慢" for i in range(rows))]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# ── every command: JSON errors ────────────────────────────────────────────────────────


def command_lines(tmp_path: Path) -> dict[str, list[str]]:
    """For each command of the table, a command line that fails on a database that does
    not exist (or, for those that need none, on a broken plugins.toml or option)."""
    csv = survey(tmp_path / "s.csv")
    return {
        "init": ["init"],  # init creates it: its database is in a folder blocked by a file
        "import": ["import", str(csv)],
        "collect": ["collect", "nightly"],
        "runs": ["runs"],
        "demo": ["demo", "--no-analyze", "--no-tui", "--dir", str(tmp_path / "demo")],
        "quarantine": ["quarantine", "list"],
        "plugins": ["plugins"],  # with a broken plugins.toml
        "analyze": ["analyze"],
        "groups": ["groups", "list"],
        "report": ["report"],
        "task": ["task", "list"],
        "action": ["action", "list"],
        "tick": ["tick"],
        "sla": ["sla", "list"],
        "followups": ["followups", "list"],
        "privacy": ["privacy", "status"],
        "notices": ["notices", "list"],
        "tui": ["tui"],  # takes no --json: a usage error, in JSON all the same
    }


def test_every_command_prints_its_error_as_json_and_creates_nothing(tmp_path: Path) -> None:
    lines = command_lines(tmp_path)
    assert set(lines) == set(COMMAND_MODULES), "a new command needs its line here"
    missing = tmp_path / "typo_dir" / "x.db"
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    broken = tmp_path / "broken.toml"
    broken.write_text("[bihuan\n", encoding="utf-8")
    for name, line in lines.items():
        db = blocker / "x.db" if name == "init" else missing
        config = ["--config", str(broken)] if name == "plugins" else []
        result = invoke("--db", str(db), *config, *line, "--json")
        if name == "tui":
            assert result.exit_code == EXIT_USAGE and "Traceback" not in result.stderr
            document = json.loads(result.stdout)
            assert set(document) == ERROR_KEYS and document["error_class"] == "usage"
            continue
        expected = EXIT_DATABASE if name == "init" else EXIT_USAGE
        document = error_of(result, expected)
        if name not in ("init", "plugins", "collect"):
            assert document["error_class"] == "config", name
            assert str(missing) in document["error"] and "bihuan init --db" in document["error"], name
    assert not missing.parent.exists(), "a command created the folder of a mistyped --db"
    assert not (tmp_path / "demo").exists(), "the demo wrote its files before finding no database"


def test_every_command_reports_a_bad_option_as_json(tmp_path: Path) -> None:
    for name in COMMAND_MODULES:
        result = invoke(name, "--no-such-option", "--json")
        assert result.exit_code == EXIT_USAGE, name
        document = json.loads(result.stdout)
        assert set(document) == ERROR_KEYS and document["error_class"] == "usage", name
        assert "--no-such-option" in document["error"] and document["exit_code"] == EXIT_USAGE
        assert "Usage:" in result.stderr  # people still get the usage hint
    # without --json: text on stderr only, as before
    plain = invoke("runs", "--no-such-option")
    assert plain.exit_code == EXIT_USAGE and plain.stdout == "" and "No such option" in plain.stderr


def test_a_failed_import_has_the_error_keys_in_its_report(tmp_path: Path) -> None:
    fake = tmp_path / "export.csv"
    fake.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 40)
    result = invoke("import", str(fake), "--json")
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert set(report) >= ERROR_KEYS and report["exit_code"] == 1 and report["error_class"] == "data"
    assert "export.csv" in report["error"] and report["runs"][0]["status"] == "failed"


def test_a_bug_is_json_too_with_its_traceback_on_stderr(monkeypatch: pytest.MonkeyPatch) -> None:
    from bihuan.storage import queries

    def broken(*_args: object, **_kwargs: object) -> None:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(queries, "list_runs", broken)
    result = invoke("runs", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == {
        "error": "internal error: ZeroDivisionError: division by zero",
        "error_class": "internal",
        "exit_code": 1,
    }
    assert "Traceback" in result.stderr and "in broken" in result.stderr


# ── exit code 4: a stale write ────────────────────────────────────────────────────────


def test_a_stale_write_exits_4_retryable_and_saves_nothing(db_url: str, engine: Engine) -> None:
    seed(engine, [Run(1, date(2026, 9, 14), 7)])
    opened = invoke("--db", db_url, "task", "open", "1", "--title", "转账慢", "--json")
    assert opened.exit_code == 0, opened.output
    task = str(json.loads(opened.stdout)["id"])
    assert invoke("--db", db_url, "task", "edit", task, "--owner", "甲", "--expect-version", "1").exit_code == 0
    stale = invoke("--db", db_url, "task", "edit", task, "--owner", "乙", "--expect-version", "1", "--json")
    document = error_of(stale, EXIT_CONFLICT)
    assert document["error_class"] == "conflict" and "nothing was saved" in document["error"]
    shown = json.loads(invoke("--db", db_url, "task", "show", task, "--json").stdout)
    assert shown["owner"] == "甲"
    # retrying with the version read again succeeds
    retried = invoke("--db", db_url, "task", "edit", task, "--owner", "乙", "--expect-version", str(shown["version"]))
    assert retried.exit_code == 0, retried.output


# ── exit code 5: a database that cannot be used ──────────────────────────────────────


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens there once closed


def test_an_unreachable_server_exits_5_with_one_line(db_url: str) -> None:
    if db_url.startswith("sqlite"):
        url = f"postgresql://postgres@127.0.0.1:{closed_port()}/test"
    else:  # the real server, a database that is not there
        url = db_url.rsplit("/", 1)[0] + "/bihuan_no_such_database"
    for line in (["runs"], ["report"], ["import", str(survey(Path.cwd() / "s.csv"))]):
        document = error_of(invoke("--db", url, *line, "--json"), EXIT_DATABASE)
        assert document["error_class"] == "unreachable"
        assert document["error"].startswith("cannot reach the database postgresql")


def test_a_folder_given_as_the_database_exits_5(tmp_path: Path) -> None:
    document = error_of(invoke("--db", str(tmp_path), "runs", "--json"), EXIT_DATABASE)
    assert document["error_class"] == "unreachable" and str(tmp_path) in document["error"]


# ── a mistyped SQLite path ────────────────────────────────────────────────────────────


def test_a_mistyped_path_is_refused_and_only_init_creates_it(tmp_path: Path) -> None:
    csv = survey(tmp_path / "s.csv")
    db = tmp_path / "nonexistent_dir" / "x.db"
    refused = invoke("--db", str(db), "import", str(csv))
    assert refused.exit_code == EXIT_USAGE and refused.stdout == ""
    assert refused.stderr.strip() == (
        f"error: no SQLite database at {db}: check the path, or create it with `bihuan init --db {db}`"
    )
    assert not db.parent.exists()
    # the same from the environment
    from_env = invoke("runs", env={"BIHUAN_DATABASE_URL": f"sqlite:///{db}"})
    assert from_env.exit_code == EXIT_USAGE and not db.parent.exists()

    created = invoke("--db", str(db), "init", "--json")
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["created"] is True and db.exists()
    assert invoke("--db", str(db), "import", str(csv)).exit_code == 0
    again = invoke("--db", str(db), "init", "--json")
    assert json.loads(again.stdout)["created"] is False


def test_the_default_database_is_created_by_any_command(_isolated_home: Path, tmp_path: Path) -> None:
    """A fresh machine: the first ``bihuan import`` (no --db, no init) creates the
    default database in the data dir, as the user guide's nightly job expects."""
    default = _isolated_home / "bihuan.db"
    assert not default.exists()
    result = invoke("import", str(survey(tmp_path / "s.csv")), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["new"] == 3 and default.exists()


# ── not SQLite, read-only, full ───────────────────────────────────────────────────────


def wal_files(path: Path) -> list[Path]:
    return [p for p in (Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}-journal")) if p.exists()]


def test_a_file_that_is_not_sqlite_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    content = "会议记录：下周一讨论转账卡顿的改进方案。\n" * 40
    notes.write_text(content, encoding="utf-8")
    for line in (["init"], ["runs"], ["import", str(survey(tmp_path / "s.csv"))]):
        result = invoke("--db", str(notes), *line, "--json")
        document = error_of(result, EXIT_DATABASE)
        assert document == {
            "error": f"{notes} is not a SQLite database",
            "error_class": "unavailable",
            "exit_code": EXIT_DATABASE,
        }
    assert notes.read_text(encoding="utf-8") == content and wal_files(notes) == []


def stored(db: Path) -> tuple[int, int, str]:
    """Items, runs and the integrity check of a SQLite file (read and closed, so that its
    -wal and -shm files are gone again: a read-only connection would leave them)."""
    conn = sqlite3.connect(db)
    try:
        items = conn.execute("SELECT count(*) FROM feedback_item").fetchone()[0]
        runs = conn.execute("SELECT count(*) FROM collector_run").fetchone()[0]
        return items, runs, conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def _drop_file_permission_override() -> None:  # pragma: no cover - runs in the child
    """In a child run by root: give up the capabilities that let root ignore file modes
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) for the program it executes, so that a 0444
    file is read-only for it as for anyone else."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    pr_capbset_drop = 24
    for capability in (1, 2):
        if libc.prctl(pr_capbset_drop, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def run_unprivileged(args: list[str], home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``bihuan ARGS`` in a process that file modes apply to (root drops its override)."""
    return subprocess.run(
        [*BIHUAN, *args],
        env=bihuan_env(home, **env),
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_drop_file_permission_override if os.geteuid() == 0 else None,
    )


def initialised(db: Path, csv: Path, home: Path) -> Path:
    """A database with the items of ``csv``, closed as a finished command leaves it (its
    -wal and -shm files removed by the last connection's close)."""
    for args in (["init"], ["import", str(csv)]):
        done = subprocess.run([*BIHUAN, "--db", str(db), *args], env=bihuan_env(home), capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert wal_files(db) == []
    return db


def test_a_read_only_database_file_reads_and_refuses_writes_in_one_line(tmp_path: Path) -> None:
    csv = survey(tmp_path / "s.csv", rows=5)
    db = initialised(tmp_path / "ro.db", csv, tmp_path)
    before = stored(db)
    db.chmod(0o444)
    try:
        wrote = run_unprivileged(["--db", str(db), "import", str(survey(tmp_path / "new.csv", 9)), "--json"], tmp_path)
        document = error_of(wrote, EXIT_DATABASE)
        assert document["error_class"] == "read_only"
        assert document["error"] == (
            f"the database {db} is read-only (attempt to write a readonly database): nothing was written"
        )
        listed = run_unprivileged(["--db", str(db), "runs", "--json"], tmp_path)
        assert listed.returncode == 0, listed.stderr
        assert [r["status"] for r in json.loads(listed.stdout)] == ["succeeded"]
    finally:
        db.chmod(0o644)
    assert stored(db) == before


def test_a_database_in_a_read_only_folder_is_refused_in_one_line(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    db = initialised(folder / "x.db", survey(tmp_path / "s.csv"), tmp_path)
    before = stored(db)
    folder.chmod(0o555)
    try:
        result = run_unprivileged(["--db", str(db), "runs", "--json"], tmp_path)
        document = error_of(result, EXIT_DATABASE)
        assert document["error_class"] == "read_only"
        assert "read-only folder" in document["error"] and str(db) in document["error"]
    finally:
        folder.chmod(0o755)
    assert stored(db) == before


def test_a_read_only_postgresql_server_refuses_writes_in_one_line(tmp_path: Path, postgres_database: str) -> None:
    from tests.conftest import _truncate_all

    db_url = postgres_database
    engine = create_db_engine(db_url)
    _truncate_all(engine)
    engine.dispose()
    csv = survey(tmp_path / "s.csv", rows=4)
    assert invoke("--db", db_url, "import", str(csv)).exit_code == 0
    # what a hot standby (or a database set read-only) answers: SQLSTATE 25006
    read_only = {"PGOPTIONS": "-c default_transaction_read_only=on"}
    result = invoke("--db", db_url, "import", str(survey(tmp_path / "more.csv", 8)), "--json", env=read_only)
    document = error_of(result, EXIT_DATABASE)
    assert document["error_class"] == "read_only" and "nothing was written" in document["error"]
    listed = invoke("--db", db_url, "runs", "--json", env=read_only)
    assert listed.exit_code == 0 and len(json.loads(listed.stdout)) == 1
    engine = create_db_engine(db_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM feedback_item")).scalar() == 4
    engine.dispose()


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 2 MiB tmpfs (root only): a disk that fills up."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {made.stderr.decode(errors='replace').strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def big_survey(path: Path, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write("编号,提交时间,意见\n")
        for i in range(rows):
            out.write(f"R{i:06d},2026-10-01 09:00,第{i}条：手机银行转账卡顿，客服电话一直打不通，希望尽快解决\n")
    return path


def test_a_full_disk_stops_the_import_in_one_line_and_the_rerun_completes_it(tmp_path: Path, small_disk: Path) -> None:
    rows = 30_000
    csv = big_survey(tmp_path / "big.csv", rows)
    db = small_disk / "full.db"
    assert invoke("--db", str(db), "init").exit_code == 0
    home = tmp_path / "home"
    full = subprocess.run(
        [*BIHUAN, "--db", str(db), "import", str(csv), "--json"],
        env=bihuan_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    document = error_of(full, EXIT_DATABASE)
    assert document["error_class"] == "disk_full"
    assert document["error"].startswith(f"the disk of the database {db} is full")
    items, runs, integrity = stored(db)
    assert integrity == "ok" and 0 < items < rows and runs == 1  # the checkpoints before it
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT status, error_class FROM collector_run").fetchone() == ("failed", "disk_full")
    conn.close()

    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    rerun = subprocess.run(
        [*BIHUAN, "--db", str(db), "import", str(csv), "--json"],
        env=bihuan_env(home),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["new"] == rows - items
    assert stored(db)[0] == rows


@pytest.fixture
def pg_on_small_disk(tmp_path: Path, postgres_database: str) -> Any:
    """A database on the PostgreSQL server whose ``feedback_item`` lives in a tablespace on
    a 2 MiB tmpfs (root, and the server on this machine, only); yields its URL and the
    mount point.

    Opt-in (``BIHUAN_TEST_PG_DISK_FULL=1``): it changes the server (a tablespace for the
    test's length), and should the test be killed before its clean-up the server needs
    the mount until the tablespace is dropped — a tablespace whose files vanish makes the
    server's checkpointer stop the server. Not for a server others share.
    """
    from sqlalchemy import create_engine

    from bihuan.storage.migrate import upgrade_database
    from tests.conftest import _admin_url

    if os.environ.get("BIHUAN_TEST_PG_DISK_FULL") != "1":
        pytest.skip("opt-in: BIHUAN_TEST_PG_DISK_FULL=1 (mounts a tmpfs tablespace on the server)")
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mount = Path(f"/tmp/bihuan-pgfull-{os.getpid()}-{tmp_path.name}"[:100])
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        mount.rmdir()
        pytest.skip(f"cannot mount a tmpfs: {made.stderr.decode(errors='replace').strip()}")
    tablespace, name = f"bihuan_tiny_{os.getpid()}", f"bihuan_full_{os.getpid()}"
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")
    try:
        import pwd

        owner = pwd.getpwnam("postgres")
        os.chown(mount, owner.pw_uid, owner.pw_gid)
        with admin.connect() as conn:
            conn.execute(text(f"CREATE TABLESPACE {tablespace} LOCATION '{mount}'"))
    except Exception as exc:  # no postgres user here, the server on another machine ...
        admin.dispose()
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()
        pytest.skip(f"the PostgreSQL server cannot use a tablespace here: {type(exc).__name__}")
    url = _admin_url().set(database=name).render_as_string(hide_password=False)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        engine = create_db_engine(url)
        upgrade_database(engine)
        with engine.begin() as conn:
            conn.execute(text(f"ALTER TABLE feedback_item SET TABLESPACE {tablespace}"))
        engine.dispose()
        yield url, mount
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f"DROP TABLESPACE IF EXISTS {tablespace}"))
        admin.dispose()
        subprocess.run(["umount", "-l", str(mount)], check=False)
        mount.rmdir()


def test_a_full_disk_on_postgresql_stops_the_import_in_one_line_and_the_rerun_completes_it(
    tmp_path: Path, pg_on_small_disk: tuple[str, Path]
) -> None:
    url, mount = pg_on_small_disk
    rows = 30_000
    csv = big_survey(tmp_path / "big.csv", rows)
    command = [*BIHUAN, "--db", url, "import", str(csv), "--json"]
    env = bihuan_env(tmp_path / "home", BIHUAN_HELPER_PROCESS="never")
    full = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    document = error_of(full, EXIT_DATABASE)
    assert document["error_class"] == "disk_full" and "No space left on device" in document["error"]
    engine = create_db_engine(url)
    with engine.connect() as conn:
        items = conn.execute(text("SELECT count(*) FROM feedback_item")).scalar()
        run = conn.execute(text("SELECT status, error_class FROM collector_run")).one()
    assert items is not None and 0 < items < rows  # the checkpoints before it, intact
    assert tuple(run) == ("failed", "disk_full")

    subprocess.run(["mount", "-o", "remount,size=64m", str(mount)], check=True)
    rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert json.loads(rerun.stdout)["new"] == rows - items
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*), count(DISTINCT external_id) FROM feedback_item")).one() == (
            rows,
            rows,
        )
    engine.dispose()


def test_commands_close_their_connections(postgres_database: str) -> None:
    """One process running many commands (CliRunner, a script embedding bihuan) must not
    keep a connection per command: they piled up until the server refused clients."""
    import time

    from sqlalchemy import create_engine

    from tests.conftest import _admin_url

    name = postgres_database.rsplit("/", 1)[1]
    admin = create_engine(_admin_url(), isolation_level="AUTOCOMMIT")

    def connections() -> int:
        with admin.connect() as conn:
            query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :name")
            return int(conn.execute(query, {"name": name}).scalar() or 0)

    before = connections()
    for line in (["runs"], ["task", "list"], ["tick"]) * 4:
        assert invoke("--db", postgres_database, *line, "--json").exit_code == 0
    deadline = time.monotonic() + 5  # a closed connection's server process takes a moment to go
    while connections() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    after = connections()
    admin.dispose()
    assert after <= before, f"{after - before} connections left open by 12 commands"
