"""``ctx.http`` against a real server: retries, Retry-After, timeouts, cut-off bodies,
refused credentials, and no secret in what it logs or raises."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from bihuan.core.errors import AuthError, CollectorConfigError, RateLimitError, TransientError
from bihuan.core.http import Http, HttpSettings, retry_after_seconds, safe_url
from tests.apiserver import Reply

FAST = HttpSettings(timeout=0.5, retries=2, backoff=0.01)


@pytest.fixture
def http() -> Any:
    client = Http("tickets", FAST)
    yield client
    client.close()


def test_retries_a_500_and_a_cut_off_body_then_succeeds(api: Any, http: Http) -> None:
    api.route("GET", "/items", lambda r: Reply(body={"items": [1, 2]}))
    api.fail_next("/items", Reply(500, {"error": "boom"}), Reply(body={"items": [1, 2, 3, 4]}, cut=True))
    data, response = http.get_json(f"{api.url}/items")
    assert data == {"items": [1, 2]} and response.status_code == 200
    assert len(api.hits("/items")) == 3
    assert api.hits("/items")[0].headers["User-Agent"].startswith("bihuan")


def test_honours_retry_after_in_seconds_and_as_a_date(api: Any, http: Http) -> None:
    api.route("GET", "/items", lambda r: Reply(body=[]))
    api.fail_next("/items", Reply(429, {}, headers={"Retry-After": "1"}))
    started = time.monotonic()
    http.get_json(f"{api.url}/items")
    assert time.monotonic() - started >= 1.0
    later = datetime.now(UTC) + timedelta(seconds=30)
    assert 28 <= retry_after_seconds(format_datetime(later, usegmt=True)) <= 30  # type: ignore[operator]
    assert retry_after_seconds("soon") is None


def test_a_timeout_is_retried_and_the_budget_ends_in_a_transient_error(api: Any, http: Http) -> None:
    api.route("GET", "/slow", lambda r: Reply(body={}, delay=1.0))
    with pytest.raises(TransientError, match=r"tickets: timed out from http://127\.0\.0\.1:\d+/slow, 3 attempts"):
        http.get_json(f"{api.url}/slow")
    assert len(api.hits("/slow")) == 3


def test_rate_limiting_beyond_the_budget_is_a_rate_limit_error(api: Any, http: Http) -> None:
    api.route("GET", "/items", lambda r: Reply(429, {}, headers={"Retry-After": "0"}))
    with pytest.raises(RateLimitError):
        http.get_json(f"{api.url}/items")
    api.route("GET", "/patience", lambda r: Reply(429, {}, headers={"Retry-After": "3600"}))
    with pytest.raises(RateLimitError, match="asks to wait 3600 s"):
        http.get_json(f"{api.url}/patience")
    assert len(api.hits("/patience")) == 1


def test_refused_credentials_are_not_retried_and_name_the_instance(
    api: Any, http: Http, caplog: pytest.LogCaptureFixture
) -> None:
    api.route("GET", "/items", lambda r: Reply(401, {"error": "invalid token"}))
    with caplog.at_level(logging.DEBUG), pytest.raises(AuthError) as refused:
        http.get_json(f"{api.url}/items?api_key=s3cr3t", headers={"Authorization": "Bearer t0k3n"})
    assert len(api.hits("/items")) == 1
    message = str(refused.value)
    assert message.startswith("tickets: ") and "HTTP 401" in message and "[collectors.tickets]" in message
    everything = message + " ".join(r.getMessage() for r in caplog.records)
    assert "s3cr3t" not in everything and "t0k3n" not in everything


def test_a_wrong_url_is_a_config_error(api: Any, http: Http) -> None:
    with pytest.raises(CollectorConfigError, match="does not exist"):
        http.get_json(f"{api.url}/nowhere")


def test_urls_in_messages_lose_credentials_and_queries() -> None:
    assert (
        safe_url("https://user:pw@example.com:8443/api/v2/x.json?token=abc") == "https://example.com:8443/api/v2/x.json"
    )
