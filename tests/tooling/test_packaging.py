"""Every package directory is installed: pyproject lists it under the bihuan namespace."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP = ("core", "plugins", "collectors", "storage", "tui")


def test_every_package_directory_is_listed_in_pyproject() -> None:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    expected = {}
    for top in TOP:
        for init in (ROOT / top).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT)
            expected["bihuan." + ".".join(rel.parts)] = rel.as_posix()
    assert sorted(setuptools["packages"]) == sorted(expected)
    assert setuptools["package-dir"] == expected
