"""One masking function for every secret bihuan could store or print."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from bihuan.collectors.generic_json import JsonApiConfig
from bihuan.core.masking import is_secret_name, known_secrets, mask_data, mask_secrets, mask_url, strip_url_secrets


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "HTTP 500 from https://u:pw@api.example.com/v1?access_token=abc123&page=2",
            "HTTP 500 from https://***@api.example.com/v1?access_token=***&page=2",
        ),
        (
            "https://x.example.com/a?Token=t&KEY=k&apikey=a&api_key=b",
            "https://x.example.com/a?Token=***&KEY=***&apikey=***&api_key=***",
        ),
        (
            "https://x.example.com/a?secret=1&signature=2&sig=3&password=4&auth=5&sign=6",
            "https://x.example.com/a?secret=***&signature=***&sig=***&password=***&auth=***&sign=***",
        ),
        (
            "https://s3.example.com/b?X-Amz-Signature=abc&X-Amz-Credential=AK%2F1",
            "https://s3.example.com/b?X-Amz-Signature=***&X-Amz-Credential=***",
        ),
        ("https://app.example.com/cb#access_token=abc&state=1", "https://app.example.com/cb#access_token=***&state=1"),
        # tokens in a URL's path
        (
            "GET https://feeds.example.com/feed/Ab3dE6gH9kL2mN5pQ7/bank.xml failed",
            "GET https://feeds.example.com/feed/***/bank.xml failed",
        ),
        ("https://hooks.example.com/hook/0f8e4c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b", "https://hooks.example.com/hook/***"),
        ("https://api.telegram.org/bot123456:AAEhBP0av28NsSdfdgYt/send", "https://api.telegram.org/bot123456:***/send"),
        ("https://api.example.com/token/abc/list", "https://api.example.com/token/***/list"),
        # outside URLs
        ('{"access_token": "abcd1234", "ok": 1}', '{"access_token": "***", "ok": 1}'),
        ("password=hunter22 and token = xyz", "password=*** and token = ***"),
        ("invalid webhook url, key: 693a91f6e2", "invalid webhook url, key: ***"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "Authorization: Bearer ***"),
    ],
)
def test_secrets_are_masked_wherever_they_are_written(text: str, expected: str) -> None:
    assert mask_secrets(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "unknown key: 'foo' in [collectors.x]",  # prose, not a credential
        "Retry-After: 30",
        "https://acme.zendesk.com/api/v2/incremental/tickets/cursor.json?cursor=abc",
        "https://mastodon.social/api/v1/timelines/tag/%E6%8B%9B%E5%95%86",
        "https://tousu.sina.com.cn/complaint/view/17378513570/",
        "page 3 record 2: rating 9 is outside 0..5",
    ],
)
def test_what_is_not_a_secret_is_left_alone(text: str) -> None:
    assert mask_secrets(text) == text


def test_known_secrets_are_masked_anywhere_even_without_a_name() -> None:
    assert mask_secrets("server said: bad key s3cr3t-v4lue!", ["s3cr3t-v4lue"]) == "server said: bad key ***!"


def test_a_next_link_is_stored_without_its_secrets() -> None:
    link, removed = strip_url_secrets("https://u:p@api.example.com/items?page=2&access_token=abc&Sign=x")
    assert link == "https://api.example.com/items?page=2"
    assert removed == {"access_token": "abc", "Sign": "x"}


def test_mask_url_can_drop_the_query_for_messages() -> None:
    assert mask_url("https://api.example.com/a/b?access_token=abc", query=False) == "https://api.example.com/a/b"


def test_a_configuration_is_stored_with_its_secrets_masked_and_env_references_kept() -> None:
    config = {
        "base_url": "https://api.example.com/v1?access_token=inline-123",
        "params": {"apikey": "inline-456", "page": "1"},
        "headers": {"Authorization": {"$env": "TOKEN"}},
        "password": "hunter22",
    }
    masked = mask_data(config)
    assert masked == {
        "base_url": "https://api.example.com/v1?access_token=***",
        "params": {"apikey": "***", "page": "1"},
        "headers": {"Authorization": {"$env": "TOKEN"}},
        "password": "***",
    }


def test_the_secrets_of_a_collector_configuration_are_known() -> None:
    config = JsonApiConfig(
        base_url="https://api.example.com/v1?key=from-url-1",
        headers={"X-Token": SecretStr("header-secret-2")},
        params={"access_token": "param-secret-3", "page": "1"},
        fields={"external_id": "id", "text": "t"},
    )
    assert set(known_secrets(config)) == {"from-url-1", "header-secret-2", "param-secret-3"}


@pytest.mark.parametrize("name", ["access_token", "Access-Token", "X-API-Key", "client_secret", "oauth_token", "sig"])
def test_secret_names(name: str) -> None:
    assert is_secret_name(name)


def test_short_names_are_secrets_in_urls_but_not_in_records() -> None:
    assert is_secret_name("key") and not is_secret_name("key", loose=False)
    assert not is_secret_name("page") and not is_secret_name("cursor")
