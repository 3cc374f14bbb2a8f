"""How a notice is posted to each kind of target: WeCom and DingTalk group robots and
generic JSON webhooks, with retries. Used by the built-in notifier plugin.

Secrets (robot URLs carry their key, DingTalk's signing secret, webhook tokens) are read
from the environment when a notice is sent and never logged: logs name the target.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

import httpx

from bihuan.core.config import NotifySettings, NotifyTarget, resolve_env_refs
from bihuan.core.errors import ConfigError
from bihuan.core.notices import Notice

log = logging.getLogger("bihuan.notify")
#: robot answers that mean "slow down" (WeCom 45009, DingTalk 130101): worth retrying
RATE_LIMIT_CODES = frozenset({45009, 130101})


class DeliveryError(Exception):
    """One attempt failed; ``retry`` says whether another attempt may succeed."""

    def __init__(self, reason: str, *, retry: bool) -> None:
        super().__init__(reason)
        self.retry = retry


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """DingTalk's signed mode: base64 HMAC-SHA256 of "timestamp\\nsecret", URL-quoted."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256).digest()
    return urllib.parse.quote_plus(base64.b64encode(digest).decode())


def payload_for(target: NotifyTarget, notice: Notice) -> dict[str, Any]:
    """The JSON body ``target`` expects for ``notice``."""
    if target.kind == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": notice.body()}}
    if target.kind == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": notice.headline()[:60], "text": notice.body()}}
    return {**notice.to_dict(), "title": notice.headline(), "text": notice.body()}


def _resolved(target: NotifyTarget) -> tuple[str, dict[str, str], str | None]:
    where = f"notify target {target.name!r}"
    url = resolve_env_refs(target.url, f"{where}.url")
    headers = {k: resolve_env_refs(v, f"{where}.headers.{k}") for k, v in target.headers.items()}
    secret = resolve_env_refs(target.secret, f"{where}.secret") if target.secret is not None else None
    return url, headers, secret


def post_once(client: httpx.Client, target: NotifyTarget, notice: Notice) -> None:
    """One attempt; raises :class:`DeliveryError` (never with the URL or a secret in it)."""
    url, headers, secret = _resolved(target)
    if target.kind == "dingtalk" and secret:
        timestamp = int(time.time() * 1000)
        # the sign is URL-quoted already; appended by hand so httpx does not quote it twice
        url = f"{url}{'&' if '?' in url else '?'}timestamp={timestamp}&sign={dingtalk_sign(secret, timestamp)}"
    try:
        response = client.post(url, json=payload_for(target, notice), headers=headers)
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
            # robots echo the request back ("invalid webhook url, key: …"): masked
            message = safe_reply(str(answer.get("errmsg", "")), url, headers, secret)[:100]
            raise DeliveryError(f"errcode {code}: {message}", retry=code in RATE_LIMIT_CODES or code == -1)


def safe_reply(text: str, url: str, headers: dict[str, str], secret: str | None) -> str:
    """What a target answered, fit to log or store: the target's URL, its key parameters,
    header values and signing secret masked wherever the answer quotes them, and personal
    data redacted. Every message about a delivery goes through this."""
    from bihuan.core.masking import known_secrets
    from bihuan.core.privacy import safe_text

    known = [url, *known_secrets({"url": url}), *headers.values(), *([secret] if secret else [])]
    return safe_text(text, sorted(known, key=len, reverse=True))


def deliver(
    client: httpx.Client,
    target: NotifyTarget,
    notice: Notice,
    settings: NotifySettings,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """Post with retries and doubling backoff; log and give up in the end. Never raises."""
    wait = settings.backoff_seconds
    for attempt in range(settings.retries + 1):
        try:
            post_once(client, target, notice)
        except ConfigError as exc:  # a missing environment variable: names it, never a value
            log.error("notify %s: %s (notice %s not sent)", target.name, exc, notice.kind)
            return False
        except DeliveryError as exc:
            last = attempt == settings.retries or not exc.retry
            log.log(
                logging.ERROR if last else logging.WARNING,
                "notify %s: %s %s (attempt %d of %d)",
                target.name,
                notice.kind,
                exc,
                attempt + 1,
                settings.retries + 1,
            )
            if last:
                return False
            sleep(wait)
            wait *= 2
        else:
            log.debug("notify %s: %s posted", target.name, notice.kind)
            return True
    return False
