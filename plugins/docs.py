"""Generate ``docs/hooks.md`` from :mod:`bihuan.plugins.hookspecs`.

Run ``python -m bihuan.plugins.docs > docs/hooks.md``; a test fails when the file and
the hook specifications disagree.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

from bihuan.plugins import hookspecs

_BANNER = re.compile(r"^# ── (?P<title>[^─]+?) ─+$")


def hook_functions() -> list[Callable[..., Any]]:
    """The hook specifications in source order."""
    specs = [f for f in vars(hookspecs).values() if callable(f) and hasattr(f, "bihuan_spec")]
    return sorted(specs, key=lambda f: f.__code__.co_firstlineno)


def hook_signature(func: Callable[..., Any]) -> str:
    """``name(arg: type, ...) -> type`` exactly as written in hookspecs.py."""
    sig = inspect.signature(func)
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"{func.__name__}({params}) -> {sig.return_annotation}"


def _sections() -> list[tuple[str, list[Callable[..., Any]]]]:
    lines = inspect.getsource(hookspecs).splitlines()
    banners = [(i + 1, m["title"].strip()) for i, line in enumerate(lines) if (m := _BANNER.match(line))]
    sections: list[tuple[str, list[Callable[..., Any]]]] = [(title, []) for _, title in banners]
    for func in hook_functions():
        line = func.__code__.co_firstlineno
        index = max(i for i, (start, _) in enumerate(banners) if start < line)
        sections[index][1].append(func)
    return sections


def render() -> str:
    out = [
        "# Hooks reference",
        "",
        "Generated from `plugins/hookspecs.py` by `python -m bihuan.plugins.docs`; do not edit by hand.",
        "Implement a hook with `from bihuan.plugins import hookimpl`. A hook implementation may",
        "take fewer arguments than the specification, never other ones.",
        "",
    ]
    for title, funcs in _sections():
        out += [f"## {title[:1].upper()}{title[1:]}", ""]
        for func in funcs:
            opts = func.bihuan_spec  # type: ignore[attr-defined]
            kind = "firstresult" if opts.get("firstresult") else "all results"
            out += [f"### `{func.__name__}`", "", "```python", hook_signature(func), "```", "", f"*{kind}*", ""]
            out += [inspect.cleandoc(func.__doc__ or ""), ""]
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(render(), end="")
