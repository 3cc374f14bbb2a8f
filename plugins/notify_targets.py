"""How a notice is posted to each kind of target: WeCom and DingTalk group robots and
generic JSON webhooks, one attempt at a time (the outbox retries). Used by the built-in
notifier plugin.

Secrets (robot URLs carry their key, DingTalk's signing secret, webhook tokens) are read
from the environment when a notice is sent and never logged or stored: an error names
the target and the HTTP status or the robot's error code, its message masked.

Every request carries the notice's stable id in the ``X-Bihuan-Notice-Id`` header (and a
webhook's JSON in ``notice_id``): the same in every attempt, so a receiver drops repeats.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
import urllib.parse
from typing import Any

import httpx

from bihuan.core.config import NotifyTarget, resolve_env_refs
from bihuan.core.errors import DeliveryError
from bihuan.core.outbox import Envelope, mask_secrets

#: robot answers that mean "slow down" (WeCom 45009, DingTalk 130101): worth retrying
RATE_LIMIT_CODES = frozenset({45009, 130101})
#: path segments at least this long are taken for tokens when masking (hooks/T0/B0/XXXX)
TOKEN_SEGMENT_CHARS = 12


@functools.cache
def user_agent() -> str:
    from importlib.metadata import version

    return f"bihuan/{version('bihuan')}"


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signed mode: base64 HMAC-SHA256 of "timestamp\\nsecret", URL-quoted."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def payload_for(target: NotifyTarget, envelope: Envelope) -> dict[str, Any]:
    """The JSON body ``target`` expects for the envelope's notice, times in its zone."""
    notice = envelope.notice
    if target.kind == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": envelope.body()}}
    if target.kind == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": envelope.headline()[:60], "text": envelope.body()}}
    return {**notice.to_dict(), "notice_id": envelope.id, "title": envelope.headline(), "text": envelope.body()}


def _resolved(target: NotifyTarget) -> tuple[str, dict[str, str], str | None]:
    where = f"notify target {target.name!r}"
    url = resolve_env_refs(target.url, f"{where}.url")
    headers = {k: resolve_env_refs(v, f"{where}.headers.{k}") for k, v in target.headers.items()}
    secret = resolve_env_refs(target.secret, f"{where}.secret") if target.secret is not None else None
    return url, headers, secret


def secrets_of(url: str, headers: dict[str, str], secret: str | None) -> list[str]:
    """What an error text must never show for this target: the URL, its query values and
    long path segments, the signing secret, header values and their parts."""
    found = [url, *headers.values(), *(part for value in headers.values() for part in value.split() if len(part) >= 8)]
    if secret:
        found.append(secret)
    parsed = urllib.parse.urlsplit(url)
    found += [value for _, value in urllib.parse.parse_qsl(parsed.query)]
    found += [segment for segment in parsed.path.split("/") if len(segment) >= TOKEN_SEGMENT_CHARS]
    if parsed.password:
        found.append(parsed.password)
    return found


def new_client() -> httpx.Client:
    """The client a target posts with (kept by the target: connections are reused)."""
    return httpx.Client(headers={"User-Agent": user_agent()}, follow_redirects=False)


def post(client: httpx.Client, target: NotifyTarget, envelope: Envelope, *, expires: float) -> None:
    """One attempt, over by ``expires`` (a ``time.monotonic()`` instant); raises
    :class:`DeliveryError` (its message masked: never the URL, a key or the robot's echo
    of one). A missing environment variable is a ``ConfigError``."""
    url, headers, secret = _resolved(target)
    try:
        _post_once(client, target, envelope, url, headers, secret, expires)
    except DeliveryError as exc:
        raise DeliveryError(mask_secrets(str(exc), secrets_of(url, headers, secret)), retry=exc.retry) from None


def _post_once(
    client: httpx.Client,
    target: NotifyTarget,
    envelope: Envelope,
    url: str,
    headers: dict[str, str],
    secret: str | None,
    expires: float,
) -> None:
    if target.kind == "dingtalk" and secret:
        timestamp = int(time.time() * 1000)
        # the sign is URL-quoted already; appended by hand so httpx does not quote it twice
        url = f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={dingtalk_sign(secret, timestamp)}"
    timeout = max(0.05, expires - time.monotonic())
    try:
        response = client.post(
            url, json=payload_for(target, envelope), headers={**headers, **envelope.headers()}, timeout=timeout
        )
    except (httpx.InvalidURL, httpx.UnsupportedProtocol):
        # the message may quote the URL, key and all; a wrong URL stays wrong on retry
        raise DeliveryError("the URL is not a valid http(s) URL", retry=False) from None
    except httpx.TimeoutException:
        raise DeliveryError("timed out", retry=True) from None
    except httpx.TransportError as exc:
        raise DeliveryError(f"connection failed ({type(exc).__name__})", retry=True) from None
    if response.status_code == 429 or response.status_code >= 500:
        raise DeliveryError(f"HTTP {response.status_code}", retry=True)
    if response.status_code >= 400:
        raise DeliveryError(f"HTTP {response.status_code}", retry=False)
    if target.kind in ("wecom", "dingtalk"):
        try:
            answer = response.json()
        except ValueError:
            raise DeliveryError("the robot's answer is not JSON", retry=True) from None
        code = answer.get("errcode", 0) if isinstance(answer, dict) else 0
        if code != 0:
            message = str(answer.get("errmsg", ""))[:200]
            raise DeliveryError(f"errcode {code}: {message}", retry=code in RATE_LIMIT_CODES or code == -1)
