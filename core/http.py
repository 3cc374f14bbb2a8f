"""``ctx.http``: the one HTTP client collectors use.

What it does so that a collector author need not:

* timeouts on every request, a ``bihuan/<version>`` User-Agent;
* retries with exponential backoff on network errors, timeouts, 5xx answers and bodies
  that are not the JSON they should be (a cut-off response);
* ``429``: waits what ``Retry-After`` says (seconds or an HTTP date), up to a limit;
* ``401``/``403``: no retry — an :class:`AuthError` naming the collector instance, since
  only a new credential helps;
* when the retry budget is spent: :class:`RateLimitError` or :class:`TransientError`, so
  the run fails cleanly at its last checkpoint and the next run resumes there;
* secrets stay out of logs and errors: messages name the URL without its query string or
  credentials and with token-like path segments masked, never the request's headers (the
  pipeline also masks the run's configured secrets wherever an error quotes them).

Written on httpx directly rather than with a retry library: the rules above (which
answers retry, ``Retry-After`` in both forms, errors that name the collector and hide
the URL's secrets) are most of the code a library would leave to us anyway.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any
from urllib.parse import urlsplit

import httpx

from bihuan.core.errors import AuthError, CollectorConfigError, CollectorError, RateLimitError, TransientError
from bihuan.core.masking import mask_url

log = logging.getLogger("bihuan.http")
# httpx logs every request's full URL at INFO and httpcore its traffic at DEBUG; query
# strings carry tokens, so neither may reach the log, whatever -v asks for
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def user_agent() -> str:
    try:
        return f"bihuan/{version('bihuan')}"
    except PackageNotFoundError:  # running from a source tree that is not installed
        return "bihuan"


def safe_url(url: str | httpx.URL) -> str:
    """``url`` without credentials and query string (tokens often travel there), and with
    path segments that look like a token masked (feeds and webhooks put them there)."""
    parts = urlsplit(str(url))
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return mask_url(f"{parts.scheme}://{host}{port}{parts.path}", query=False)


@dataclass(frozen=True)
class HttpSettings:
    """How patient ``ctx.http`` is; HTTP collectors take these from their config."""

    timeout: float = 30.0
    #: attempts after the first
    retries: int = 4
    #: first wait, doubled after each failure, at most ``max_backoff``
    backoff: float = 1.0
    max_backoff: float = 60.0
    #: a ``Retry-After`` longer than this fails the run instead (the next run resumes)
    max_retry_after: float = 300.0

    @classmethod
    def from_config(cls, config: Any) -> HttpSettings:
        values = {}
        for field, key in (("timeout", "timeout_seconds"), ("retries", "retries"), ("backoff", "backoff_seconds")):
            if hasattr(config, key):
                values[field] = getattr(config, key)
        return cls(**values)


def retry_after_seconds(value: str | None, *, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number, or an HTTP date from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _Retry(Exception):
    """One attempt failed in a way that may pass."""

    def __init__(self, reason: str, *, wait: float | None = None, rate_limited: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.wait = wait
        self.rate_limited = rate_limited


class Http:
    """An httpx client with bihuan's retry and error rules, for one collector run."""

    def __init__(
        self,
        instance: str,
        settings: HttpSettings | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.instance = instance
        self.settings = settings or HttpSettings()
        self.sleep = sleep
        self.client = httpx.Client(
            timeout=self.settings.timeout,
            headers={"User-Agent": user_agent()},
            follow_redirects=True,
            transport=transport,
        )

    def close(self) -> None:
        self.client.close()

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def get_json(self, url: str, **kwargs: Any) -> tuple[Any, httpx.Response]:
        """GET and parse JSON; a body that is not JSON is retried like a network error."""
        response = self.request("GET", url, expect_json=True, **kwargs)
        return response.json(), response

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json: Any = None,
        auth: Any = None,
        expect_json: bool = False,
        ok_statuses: tuple[int, ...] = (),
    ) -> httpx.Response:
        """Send with retries; returns a 2xx/3xx response, or one in ``ok_statuses``."""
        where = safe_url(url)
        wait = self.settings.backoff
        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return self._attempt(method, url, where, params, headers, json, auth, expect_json, ok_statuses)
            except _Retry as failure:
                if attempt == attempts:
                    error = RateLimitError if failure.rate_limited else TransientError
                    raise error(
                        f"{self.instance}: {failure.reason} from {where}, {attempts} attempts; "
                        "the next run resumes from the last checkpoint"
                    ) from None
                delay = failure.wait if failure.wait is not None else wait
                if delay > self.settings.max_retry_after:
                    raise RateLimitError(
                        f"{self.instance}: {where} asks to wait {delay:.0f} s (Retry-After), longer than "
                        f"{self.settings.max_retry_after:.0f} s; the next run resumes from the last checkpoint"
                    ) from None
                log.warning(
                    "%s: %s from %s; retrying in %.1f s (attempt %d of %d)",
                    self.instance,
                    failure.reason,
                    where,
                    delay,
                    attempt + 1,
                    attempts,
                )
                self.sleep(delay)
                wait = min(wait * 2, self.settings.max_backoff)
        raise AssertionError("unreachable")

    def _attempt(
        self,
        method: str,
        url: str,
        where: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json: Any,
        auth: Any,
        expect_json: bool,
        ok_statuses: tuple[int, ...],
    ) -> httpx.Response:
        try:
            response = self.client.request(method, url, params=params, headers=headers, json=json, auth=auth)
        except httpx.TimeoutException:
            raise _Retry("timed out") from None
        except httpx.TransportError as exc:
            raise _Retry(f"network error ({type(exc).__name__})") from None
        status = response.status_code
        if status in ok_statuses:
            return response
        if status in (401, 403):
            raise AuthError(
                f"{self.instance}: {where} refused the credentials (HTTP {status}); check the token or key "
                f"named in its [collectors.{self.instance}] table"
            )
        if status == 429:
            raise _Retry(
                "rate limited (HTTP 429)",
                wait=retry_after_seconds(response.headers.get("Retry-After")),
                rate_limited=True,
            )
        if status >= 500:
            raise _Retry(f"HTTP {status}", wait=retry_after_seconds(response.headers.get("Retry-After")))
        if status == 404:
            raise CollectorConfigError(f"{self.instance}: {where} does not exist (HTTP 404); check the URL")
        if status >= 400:
            raise CollectorError(f"{self.instance}: {where} answered HTTP {status}")
        if expect_json:
            try:
                response.json()
            except ValueError:
                raise _Retry("a body that is not complete JSON") from None
        return response
