"""bihuan's acceptance kit run against the collector: every test of
:class:`bihuan.plugins.testing.CollectorAcceptance`, on the stand-in API of conftest.py."""

from __future__ import annotations

from typing import Any

import pytest
from bihuan.plugins.testing import CollectorAcceptance

from bihuan_complaints_example import InHouseComplaints


class TestInHouseComplaints(CollectorAcceptance):
    collector_class = InHouseComplaints

    @pytest.fixture
    def valid_config(
        self, complaints_api: str, complaints_token: str, monkeypatch: pytest.MonkeyPatch
    ) -> dict[str, Any]:
        monkeypatch.setenv("COMPLAINTS_TOKEN", complaints_token)
        return {"url": complaints_api, "token": {"$env": "COMPLAINTS_TOKEN"}}  # as in plugins.toml

    @pytest.fixture
    def invalid_config(self, complaints_api: str) -> dict[str, Any]:
        return {"url": complaints_api, "token": "not-the-token"}  # the API answers 401: AuthError

    @pytest.fixture
    def future_state(self) -> dict[str, Any]:
        return {"after": 10**9}  # past the newest complaint id

    @pytest.fixture
    def bad_records_config(self, complaints_api: str, complaints_token: str) -> dict[str, Any]:
        return {"url": f"{complaints_api}/broken", "token": complaints_token}
