"""[sla] and [followup] in plugins.toml: the shipped file, a team's own policies, mistakes refused."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest

from bihuan.core.config import FollowUpSettings, SlaSettings, load_settings
from bihuan.core.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[3]


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "plugins.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_the_shipped_file_documents_the_built_in_defaults() -> None:
    settings = load_settings(REPO_ROOT / "plugins.toml")
    assert settings.sla == SlaSettings() and settings.followup == FollowUpSettings()
    assert settings.sla.policies["social"].first_response_hours == 24  # the example


def test_a_teams_policies_replace_the_built_in_ones(tmp_path: Path) -> None:
    settings = load_settings(
        write(
            tmp_path,
            """
[sla]
holidays = ["2026-10-01", "2026-10-02"]
business_hours = {start = "08:30", end = "17:30", days = [1, 2, 3, 4, 5, 6]}

[sla.policies.app_review]
first_response_hours = 8
business_hours = true
only_negative = true
""",
        )
    )
    assert list(settings.sla.policies) == ["app_review"]  # no social/ticket cases unless named
    assert settings.sla.holidays == [date(2026, 10, 1), date(2026, 10, 2)]
    assert (settings.sla.business_hours.start, settings.sla.business_hours.days) == (time(8, 30), [1, 2, 3, 4, 5, 6])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[sla.policies.social]\nfirst_response_hour = 24\n", "first_response_hour"),  # a typo
        ("[sla.policies.social]\nresolution_hours = 48\n", "first_response_hours"),  # required
        ("[sla.business_hours]\nstart = \"18:00\"\nend = \"09:00\"\n", "end must be after start"),
        ("[sla.business_hours]\ndays = [0, 1]\n", "ISO weekdays"),
        ("[followup]\nunhappy_below = 9\n", "unhappy_below"),
    ],
)
def test_mistakes_are_refused_with_the_key_named(tmp_path: Path, body: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, body))
