"""Secrets out of everything bihuan stores or prints: one masking function, used everywhere.

:func:`mask_secrets` is the one entry point: every run error, log line, stored run
configuration, collector state and notifier message goes through it (via
:mod:`bihuan.core.privacy`). It masks, in any text:

* the credentials of every URL (``https://user:pass@host`` → ``https://***@host``);
* the values of known secret parameters in URL queries and fragments, and in
  ``name=value`` / ``"name": "value"`` pairs outside URLs: ``access_token``, ``token``,
  ``key``, ``apikey``, ``api_key``, ``secret``, ``signature``, ``sig``, ``password``,
  ``auth``, ``sign``… (see :func:`is_secret_name`; case-insensitive);
* URL path segments that look like a token (16+ letters and digits mixed, as webhook and
  feed URLs carry them: ``/hook/0f8e4c2a-…``, ``/feeds/Ab3dE6gH9kL2mN5p/``), and the
  segment after a segment named like a secret (``/token/abc``);
* ``Bearer``/``Basic``/``token`` credentials after an ``Authorization``-like word;
* any value the caller knows is a secret (``known``: the collector's configured tokens),
  wherever it occurs.

What stays: scheme, host, port, the rest of the path and the other parameters, so that
a message still says which endpoint failed. Masked values read ``***``.

For collector state, :func:`strip_url_secrets` takes the secret parameters *out* of a
URL (a pagination next-link carrying ``access_token``): the link is stored without them
and the collector adds its configured credentials again when it fetches.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import SplitResult, quote, quote_plus, urlsplit, urlunsplit

from pydantic import BaseModel

MASK = "***"

#: parameter and key names whose values are secrets (compared lower-case, without ``-``/``_``)
SECRET_NAMES = frozenset(
    {
        "accesstoken",
        "token",
        "key",
        "apikey",
        "secret",
        "signature",
        "sig",
        "password",
        "passwd",
        "pwd",
        "auth",
        "authorization",
        "sign",
        "clientsecret",
        "refreshtoken",
        "idtoken",
        "privatetoken",
        "sessionid",
        "session",
        "credential",
        "credentials",
        "xapikey",
        "appsecret",
        "accesskey",
        "secretkey",
        "ticket",
    }
)
# secrets in a query or a configuration, but often ordinary fields of a record
_AMBIGUOUS_NAMES = frozenset({"key", "sign", "sig", "auth", "ticket", "session", "sessionid"})
# names ending like these are secrets too (X-Amz-Signature, oauth_token, shareKey…)
_SECRET_SUFFIXES = ("token", "secret", "password", "signature", "apikey", "accesskey", "secretkey", "credential")

#: a URL inside a text
URL_PATTERN = re.compile(r"\b[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
# name=value and "name": "value" pairs outside URLs; the name is judged by is_secret_name
_PAIR = re.compile(
    r"""(?P<name>[A-Za-z][A-Za-z0-9_.-]*)(?P<q>["']?)(?P<sep>\s*[=:]\s*)(?P<vq>["']?)"""
    r"""(?P<value>[^\s"'&,;}\]]+)"""
)
_AUTH_SCHEME = re.compile(r"(?i)\b(bearer|basic|token)\s+([A-Za-z0-9._~+/=-]{8,})")
_TOKEN_SEGMENT = re.compile(r"[A-Za-z0-9_~-]{16,}")
_HAS_DIGIT = re.compile(r"\d")
_HAS_LETTER = re.compile(r"[A-Za-z]")
# what must be in a text for any rule to apply (checked before the regexes)
_HINTS = ("://", "=", ":", "earer", "asic", "oken")


def is_secret_name(name: str, *, loose: bool = True) -> bool:
    """Whether a parameter, header or config key called ``name`` holds a secret.

    :param loose: also the short names that are secrets in a URL's query or a
        configuration but often ordinary data in a record (``key``, ``sign``, ``ticket``…).
    """
    key = name.lower().replace("-", "").replace("_", "").replace(".", "")
    if not loose and key in _AMBIGUOUS_NAMES:
        return False
    return key in SECRET_NAMES or key.endswith(_SECRET_SUFFIXES)


def _looks_like_token(segment: str) -> bool:
    return (
        _TOKEN_SEGMENT.fullmatch(segment) is not None
        and _HAS_DIGIT.search(segment) is not None
        and _HAS_LETTER.search(segment) is not None
    )


def _mask_pairs(query: str, sep: str = "&") -> str:
    """A query string (or fragment) with the values of secret parameters masked."""
    if not query:
        return query
    parts = []
    for part in re.split(r"([&;])", query):
        name, eq, value = part.partition("=")
        if eq and value and is_secret_name(name):
            part = f"{name}={MASK}"
        parts.append(part)
    return "".join(parts)


def _mask_path(path: str) -> str:
    segments = path.split("/")
    masked = []
    after_secret = False
    for segment in segments:
        if segment and (after_secret or _looks_like_token(segment)):
            masked.append(MASK)
            after_secret = False
            continue
        after_secret = bool(segment) and is_secret_name(segment)
        # Telegram-style "bot123456:AAE…" and "name:secret" segments
        head, colon, tail = segment.partition(":")
        if colon and tail and (_looks_like_token(tail) or is_secret_name(head)):
            segment = f"{head}:{MASK}"
        masked.append(segment)
    return "/".join(masked)


def mask_url(url: str, *, query: bool = True) -> str:
    """``url`` with its credentials, secret parameters and token-like path segments masked.

    :param query: keep the (masked) query string and fragment; ``False`` drops them, for
        messages that name an endpoint.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
    except ValueError:
        return _mask_pairs(url)
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    masked = SplitResult(
        parts.scheme,
        netloc,
        _mask_path(parts.path),
        _mask_pairs(parts.query) if query else "",
        _mask_pairs(parts.fragment) if query else "",
    )
    return urlunsplit(masked)


def strip_url_secrets(url: str) -> tuple[str, dict[str, str]]:
    """``url`` without its credentials and secret query parameters, and those parameters.

    For a pagination link a collector keeps in its state: the link is stored without its
    secrets, and the collector adds its configured ones again when it fetches it.
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, {}
    removed: dict[str, str] = {}
    kept = []
    for part in parts.query.split("&") if parts.query else []:
        name, eq, value = part.partition("=")
        if eq and is_secret_name(name):
            removed[name] = value
        else:
            kept.append(part)
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, "&".join(kept), parts.fragment)), removed


def mask_secrets(text: str, known: Iterable[str] = ()) -> str:
    """``text`` with every secret masked (see the module docstring).

    :param known: secret values to mask wherever they occur (values shorter than four
        characters are ignored: masking them would mask ordinary words).
    """
    for value in known:
        if value and len(value) >= 4:
            # and as a URL or a form would quote it
            for form in {value, quote(value, safe=""), quote_plus(value)}:
                if form in text:
                    text = text.replace(form, MASK)
    if not any(hint in text for hint in _HINTS):
        return text
    if "://" in text:
        text = URL_PATTERN.sub(lambda m: mask_url(m.group()), text)
    if "=" in text or ":" in text:
        text = _PAIR.sub(_mask_pair, text)
    return _AUTH_SCHEME.sub(lambda m: f"{m.group(1)} {MASK}", text)


def _mask_pair(match: re.Match[str]) -> str:
    if not is_secret_name(match.group("name")) or match.group("value") == MASK:
        return match.group()
    # "name: value" unquoted is also how prose says things ("unknown key: 'foo'"): mask
    # it only when the value looks like a credential (a server echoing "key: 693a91f6")
    value = match.group("value")
    if match.group("q") == "" and ":" in match.group("sep") and (len(value) < 8 or not _HAS_DIGIT.search(value)):
        return match.group()
    return f"{match.group('name')}{match.group('q')}{match.group('sep')}{match.group('vq')}{MASK}"


def mask_data(value: Any, known: Iterable[str] = (), *, name: str | None = None) -> Any:
    """``value`` (JSON-like data: a run's configuration, a collector's state) with every
    secret masked: values under secret-named keys entirely, strings by :func:`mask_secrets`."""
    known = tuple(known)
    if name is not None and is_secret_name(name) and value not in (None, "") and not _masked(value):
        return MASK if not isinstance(value, Mapping | list) else _masked_container(value)
    if isinstance(value, str):
        return mask_secrets(value, known)
    if isinstance(value, Mapping):
        return {k: mask_data(v, known, name=str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_data(v, known) for v in value]
    return value


def _masked(value: Any) -> bool:
    """Already masked: ``***``, or pydantic's ``**********`` for a ``SecretStr``."""
    return isinstance(value, str) and len(value) >= 3 and value.strip("*") == ""


def _masked_container(value: Any) -> Any:
    # {"$env": "NAME"} references say where a secret comes from, not what it is: keep them
    if isinstance(value, Mapping) and set(value) == {"$env"}:
        return dict(value)
    if isinstance(value, Mapping):
        return {k: _masked_container(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked_container(v) for v in value]
    return MASK


def known_secrets(config: Any) -> list[str]:
    """The secret values in a collector's validated configuration: every ``SecretStr``,
    values under secret-named keys (``params = {access_token = "…"}``), and secret query
    parameters of its URLs. The pipeline masks them wherever they occur."""
    found: list[str] = []

    def walk(value: Any, name: str | None) -> None:
        getter = getattr(value, "get_secret_value", None)
        if callable(getter):
            secret = getter()
            if isinstance(secret, str) and secret:
                found.append(secret)
            return
        if isinstance(value, BaseModel):
            for field in type(value).model_fields:
                walk(getattr(value, field, None), field)
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                walk(item, str(key))
            return
        if isinstance(value, list | tuple):
            for item in value:
                walk(item, name)
            return
        if isinstance(value, str) and value:
            if name is not None and is_secret_name(name):
                found.append(value)
            elif "://" in value:
                found.extend(v for v in strip_url_secrets(value)[1].values() if v)
                userinfo = urlsplit(value).netloc.rpartition("@")[0] if "@" in value else ""
                if userinfo:
                    found.append(userinfo.partition(":")[2] or userinfo)

    walk(config, None)
    return sorted(set(found), key=len, reverse=True)  # longest first: a token inside another
