"""SVG snapshots of the key screens on a fixed data set (pytest-textual-snapshot).

After an intended change of a screen, review the new pictures and update them with
``pytest tests/tui/test_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import Engine

from bihuan.core.pdca import tasks as pdca_tasks
from bihuan.tui.app import BihuanApp

SIZE = (140, 40)


@pytest.fixture(params=["sqlite"])
def db_url(request: pytest.FixtureRequest, tmp_path, sqlite_template):  # type: ignore[no-untyped-def]
    """Snapshots need one backend: the pictures are the same on both."""
    import shutil

    path = tmp_path / "bihuan.db"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def app(workplace: BihuanApp, engine: Engine) -> BihuanApp:
    """The shared data set with one task on the board."""
    services = workplace.services
    pdca_tasks.open_task(
        engine, services.pdca, title="信用卡提额慢", group_ids=[1], actor="lead", owner="王", due_date=date(2027, 1, 31)
    )
    return workplace


def _after(*keys: str):  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.app.workers.wait_for_complete()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
            await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return run_before


@pytest.mark.parametrize(
    ("screen", "keys"), [("dashboard", ()), ("groups", ("f4",)), ("inbox", ("f3",)), ("pdca", ("f5",))]
)
def test_key_screens(snap_compare, app: BihuanApp, screen: str, keys: tuple[str, ...]) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(app, terminal_size=SIZE, run_before=_after(*keys))


@pytest.fixture
def hostile_app(workplace: BihuanApp, engine: Engine) -> BihuanApp:
    """The shared data set with escape sequences, CR/BS, markup and bidi controls in every
    field the inbox and the quarantine show (see tests/tui/hostile.py)."""
    from tests.tui.hostile import make_hostile

    make_hostile(engine, workplace.services.pdca)
    return workplace


def _until_shown(key: str, *shown: str):  # type: ignore[no-untyped-def]
    """Press ``key``, then wait until the screen shows everything in ``shown``: a table
    measures its columns when idle, which a busy machine may not have reached yet."""
    from tests.tui.hostile import screen_text

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.pause()
        await pilot.press(key)
        for _ in range(200):
            await pilot.pause(0.05)
            await pilot.app.workers.wait_for_complete()
            if all(text in screen_text(pilot.app) for text in shown):
                break
        await pilot.pause()

    return run_before


@pytest.mark.parametrize(
    ("screen", "key", "shown"),
    [
        ("inbox", "f3", ("T␛[2J␛]8;;http://evil/␛\\click", "第二行", "EV␛[2J")),
        ("quarantine", "f7", ("Q␛[2J␛]8;;http://evil/", "[@click=app.quit]quit[/]", "L␛[2J")),
    ],
)
def test_hostile_text_is_shown_as_text(
    snap_compare, hostile_app: BihuanApp, screen: str, key: str, shown: tuple[str, ...]
) -> None:  # type: ignore[no-untyped-def]
    """Control pictures (␛ ␍ ␈), code points (<U+202E>) and literal markup, in place; the
    layout intact (before, the inbox was torn apart and F7 crashed on a source named ``[/]``)."""
    assert snap_compare(hostile_app, terminal_size=SIZE, run_before=_until_shown(key, *shown))
