"""No raw personal data and no secret at rest or in output: what the pipeline applies to
everything it writes besides an item's text, and what the CLI applies to what it prints.

Three treatments, by what a value is for:

* **identifiers** — ``external_id``, ``source``, the collector instance, quarantine
  locations, state keys, file paths: personal data in them becomes a keyed pseudonym
  (:meth:`Pseudonymiser.tag`), so that a re-import still finds its rows and a resumed
  run its files;
* **customer references** — the whole value becomes a keyed pseudonym
  (:meth:`Pseudonymiser.customer`): repeat contacts and 回访 follow-ups still link;
* **everything else** — ``url``, ``extra`` (keys and values, nested, numbers too),
  quarantined payloads and reasons, run errors, log lines: secrets masked
  (:func:`bihuan.core.masking.mask_secrets`), then personal data redacted with the
  ``redact_text`` hook, and in fields named like personal data (卡号, 手机, 姓名…) the whole
  value (:func:`bihuan.core.redaction.redact_field`).

:func:`safe_text` is the keyless form for output: an error message, a log line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from bihuan.core.masking import is_secret_name, mask_data, mask_secrets, mask_url
from bihuan.core.printable import storable_text
from bihuan.core.pseudonyms import Pseudonymiser
from bihuan.core.redaction import digits_of, find_pii, may_hold_pii, redact, redact_field

Redact = Callable[[str], str]
# in a URL's path only these kinds are redacted: complaint platforms and social sites
# number their posts with 11–16 digits that look like mobiles, landlines and cards
# (tousu.sina.com.cn/complaint/view/17378513570/), and the link must keep working
_PATH_KINDS = frozenset({"email", "resident_id", "name"})


def safe_text(text: str, known: Iterable[str] = ()) -> str:
    """``text`` fit to print or log: secrets masked, personal data redacted (no key needed)."""
    return redact(mask_secrets(text, known))


class Privacy:
    """What the pipeline does to every value it stores, under one pseudonym key.

    :param pseudonymiser: the database's keyed pseudonyms (:func:`privacy_for`).
    :param redact: the ``redact_text`` hook (the default redaction unless a plugin's wins).
    :param known: secret values to mask wherever they occur (a run's configured tokens).
    """

    def __init__(self, pseudonymiser: Pseudonymiser, redact: Redact = redact, known: Iterable[str] = ()) -> None:
        self.pseudonymiser = pseudonymiser
        self.redact = redact
        self.known = tuple(known)
        # per field name (a file's headers repeat on every row): the stored name, and
        # whether the name says its value is a secret
        self._fields: dict[str, tuple[str, bool]] = {}

    def with_secrets(self, known: Iterable[str]) -> Privacy:
        """The same, also masking ``known`` (a collector run's configured secrets)."""
        return Privacy(self.pseudonymiser, self.redact, (*self.known, *known))

    # ── identifiers ───────────────────────────────────────────────────────────────────

    def key(self, value: str, limit: int | None = None) -> str:
        """An identifier with its secrets masked and its personal data pseudonymised; when
        that makes it longer than ``limit``, a pseudonym of the whole."""
        if not self.known and not may_hold_pii(value) and "=" not in value and "://" not in value:
            return value  # nearly every id: one quick check
        masked = mask_secrets(value, self.known)
        tagged = self.pseudonymiser.tag(masked)
        if limit is not None and len(tagged) > limit:
            return "p:" + self.pseudonymiser.digest(f"key:{value}")
        return tagged

    def external_id(self, value: str) -> str:
        """An item's id as stored (at most 300 characters, the column's size)."""
        return self.key(value, 300)

    def customer(self, value: str | None) -> str | None:
        """A customer reference as its keyed pseudonym."""
        if value is None or not value.strip():
            return None
        return self.pseudonymiser.customer(value)

    # ── everything else ───────────────────────────────────────────────────────────────

    def message(self, text: str) -> str:
        """A reason, an error message: secrets masked, personal data redacted."""
        return self.redact(mask_secrets(text, self.known))

    def url(self, value: str | None) -> str | None:
        """An item's URL: credentials and secret parameters masked, personal data
        redacted (in the path only the kinds that cannot be a post's number)."""
        if value is None:
            return None
        masked = mask_url(value) if ("@" in value or "?" in value or "#" in value) else value
        masked = mask_secrets(masked, self.known) if self.known else masked
        cut = min((i for i in (masked.find("?"), masked.find("#")) if i >= 0), default=len(masked))
        path, rest = masked[:cut], masked[cut:]
        matches = [m for m in find_pii(path) if m.kind in _PATH_KINDS]
        if matches:
            path = _replace_tokens(path, matches, self.redact)
        return path + (self.redact(rest) if rest else "")

    def extra(self, extra: Mapping[str, Any]) -> dict[str, Any]:
        """An item's ``extra``: keys pseudonymised, values redacted (nested, numbers too,
        by what their field is called); the same dict when nothing changed."""
        clean: dict[str, Any] = {}
        changed = False
        for key, value in extra.items():
            new_key = self._field(key)[0] if isinstance(key, str) else str(key)
            new_value = self._value(value, new_key)
            changed = changed or new_key != key or new_value != value
            clean[new_key] = new_value
        return clean if changed else extra  # type: ignore[return-value]

    def _field(self, name: str) -> tuple[str, bool]:
        """A field's stored name and whether its value is a secret (cached per name)."""
        found = self._fields.get(name)
        if found is None:
            if len(self._fields) >= 4096:
                self._fields.clear()
            found = self._fields[name] = (self.key(name), is_secret_name(name, loose=False))
        return found

    def payload(self, raw: Any) -> Any:
        """A quarantined record's raw payload: like ``extra``, and every string's personal
        data pseudonymised first, so that a fixed and retried record keeps its id and its
        customer."""
        return self._value(raw, None, tag=True)

    def _value(self, value: Any, name: str | None, *, tag: bool = False) -> Any:
        if isinstance(value, str):
            value = storable_text(value)  # undecodable bytes: storable, shown as \xNN
            text = mask_secrets(value, self.known) if self.known or "=" in value or "://" in value else value
            if name is not None and text and self._field(name)[1]:
                return "***"
            if tag:
                text = self.pseudonymiser.tag(text)
            return redact_field(name, text, self.redact) if name else self.redact(text)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int | float):
            return _number(value, name, self.redact)
        if isinstance(value, Mapping):
            return {
                (new := self.key(str(k)) if tag or isinstance(k, str) else str(k)): self._value(v, new, tag=tag)
                for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self._value(v, name, tag=tag) for v in value]
        return self._value(str(value), name, tag=tag)

    def state(self, state: Any) -> Any:
        """A collector's state: secrets masked, personal data in keys and values
        pseudonymised (a collector that keys its state by file path finds it again with
        ``ctx.pseudonymise``)."""
        return self._state(mask_data(state, self.known))

    def _state(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.pseudonymiser.tag(value)
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int) and find_pii(str(value)):
            return self.pseudonymiser.tag(str(value))
        if isinstance(value, Mapping):
            return {self.pseudonymiser.tag(str(k)): self._state(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._state(v) for v in value]
        return value

    def config(self, config: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """A run's configuration as stored: secrets masked (values of secret-named keys,
        URLs' credentials and tokens), personal data in paths pseudonymised."""
        if config is None:
            return None
        return self._state(mask_data(dict(config), self.known))  # type: ignore[no-any-return]


def _number(value: float, name: str | None, redact_text: Redact) -> Any:
    """A number as stored: itself, or the redacted text of a number that is personal data
    (a mobile in a JSON number, a card number an export turned into a float)."""
    if isinstance(value, float):
        if not value.is_integer() or abs(value) < 1e6:
            return value
        text = str(int(value))
    else:
        if -1_000_000 < value < 1_000_000:
            return value
        text = str(value)
    cleaned = redact_field(name, text, redact_text) if name else redact_text(text)
    return value if cleaned == text else cleaned


def _replace_tokens(text: str, matches: list[Any], redact_text: Redact) -> str:
    parts: list[str] = []
    position = 0
    for match in matches:
        parts.append(text[position : match.start])
        parts.append(redact_text(text[match.start : match.end]))
        position = match.end
    parts.append(text[position:])
    return "".join(parts)


class SafeLogFilter(logging.Filter):
    """Masks secrets and redacts personal data in every record a handler emits (the
    message with its arguments, and a traceback's text)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 (a broken record is the logging module's to report)
            return True
        if record.exc_info and record.exc_info[0] is not None:
            import traceback

            message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
            record.exc_info = None
            record.exc_text = None
        record.msg = safe_text(message)
        record.args = None
        return True


def install_log_filter(handlers: Iterable[logging.Handler] | None = None) -> None:
    """Put :class:`SafeLogFilter` on ``handlers`` (the root logger's by default)."""
    for handler in handlers if handlers is not None else logging.getLogger().handlers:
        if not any(isinstance(f, SafeLogFilter) for f in handler.filters):
            handler.addFilter(SafeLogFilter())


def privacy_for(engine: Any, redact_text: Redact = redact, *, create: bool = True) -> Privacy:
    """The :class:`Privacy` of the database behind ``engine``, its key loaded (created on
    first use, when the rows stored before are protected in the same transaction).

    :raises ConfigError: this host has no key for the database, or another one.
    """
    from bihuan.core.privacy_pass import protect_existing_rows
    from bihuan.core.pseudonyms import load_key

    def first_use(session: Any, pseudonymiser: Pseudonymiser) -> None:
        protect_existing_rows(session, Privacy(pseudonymiser, redact_text))

    return Privacy(load_key(engine, create=create, on_first_use=first_use), redact_text)


def protect_stored_rows(engine: Any, redact_text: Redact = redact) -> bool:
    """After a schema upgrade: when the database holds rows but no pseudonym key yet (it
    comes from a version without pseudonyms), create the key and pseudonymise the rows.
    A new, empty database gets its key on its first import instead, on the host that
    imports. Returns whether it did anything."""
    from bihuan.core.pseudonyms import key_status
    from bihuan.storage.engine import session_scope
    from bihuan.storage.privacy_queries import any_rows

    if key_status(engine).expected is not None:
        return False
    with session_scope(engine) as session:
        if not any_rows(session=session):
            return False
    privacy_for(engine, redact_text)
    return True


__all__ = [
    "Privacy",
    "SafeLogFilter",
    "digits_of",
    "install_log_filter",
    "privacy_for",
    "protect_stored_rows",
    "safe_text",
]
