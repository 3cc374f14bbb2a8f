"""Every hook is typed and documented, and docs/hooks.md is generated from the specs."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from bihuan.plugins.docs import hook_functions, hook_signature, render

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("func", hook_functions(), ids=lambda f: f.__name__)
def test_every_hook_is_typed_and_documented(func) -> None:  # type: ignore[no-untyped-def]
    sig = inspect.signature(func)
    doc = inspect.getdoc(func) or ""
    assert sig.return_annotation is not inspect.Signature.empty, "return type missing"
    for name, param in sig.parameters.items():
        assert param.annotation is not inspect.Parameter.empty, f"{name} has no type"
        assert f":param {name}:" in doc, f":param {name}: missing"
    assert ":returns:" in doc
    assert ("firstresult" in doc) or ("not firstresult" in doc)
    assert "Called" in doc, "the docstring must say when the hook is called"


def test_hooks_reference_is_up_to_date() -> None:
    assert (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8") == render(), (
        "docs/hooks.md is stale: run `python -m bihuan.plugins.docs > docs/hooks.md`"
    )


def test_reference_shows_each_exact_signature() -> None:
    text = (ROOT / "docs" / "hooks.md").read_text(encoding="utf-8")
    for func in hook_functions():
        assert hook_signature(func) in text
