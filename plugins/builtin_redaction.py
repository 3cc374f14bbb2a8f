"""Built-in plugin: the default PII redaction (see :mod:`bihuan.core.redaction`)."""

from __future__ import annotations

from bihuan.core.redaction import redact
from bihuan.plugins.markers import hookimpl


@hookimpl(trylast=True)
def redact_text(text: str) -> str | None:
    return redact(text)
