"""Dependencies point one way: tui → core → storage; nothing below tui imports a UI.

Two checks: a static scan of every import statement, and a fresh interpreter that
imports every module below tui/ and then looks at ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BELOW_TUI = ("core", "storage", "collectors", "plugins")

# package -> bihuan packages it must not import
FORBIDDEN = {
    "storage": ("bihuan.core", "bihuan.plugins", "bihuan.collectors", "bihuan.tui"),
    "core": ("bihuan.plugins", "bihuan.collectors", "bihuan.tui"),
    "collectors": ("bihuan.tui",),
    "plugins": ("bihuan.tui",),
}
# storage may raise core's errors: core/errors.py imports nothing of bihuan
ALLOWED = {"storage": ("bihuan.core.errors",)}
UI_MODULES = ("textual", "bihuan.tui")


def modules_of(package: str) -> list[Path]:
    return sorted(p for p in (ROOT / package).rglob("*.py") if "__pycache__" not in p.parts)


def imports_in(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("package", BELOW_TUI)
def test_static_imports_point_one_way(package: str) -> None:
    offenders = []
    for path in modules_of(package):
        for name in imports_in(path):
            if name in ALLOWED.get(package, ()):
                continue
            bad = FORBIDDEN[package] + UI_MODULES
            if any(name == b or name.startswith(b + ".") for b in bad):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_core_errors_is_a_leaf() -> None:
    assert not any(n.startswith("bihuan") for n in imports_in(ROOT / "core" / "errors.py"))


def test_importing_everything_below_tui_loads_no_ui() -> None:
    modules = []
    for package in BELOW_TUI:
        for path in modules_of(package):
            rel = path.relative_to(ROOT).with_suffix("")
            parts = [p for p in rel.parts if p != "__init__"]
            if parts[-1] == "env" and "migrations" in parts:
                continue  # Alembic's env.py runs only inside Alembic
            modules.append("bihuan." + ".".join(parts))
    code = (
        "import importlib, json, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(json.dumps(sorted(n for n in sys.modules if n.split('.')[0] == 'textual' or n.startswith('bihuan.tui'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
