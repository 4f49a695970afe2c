"""The retention settings: days, 400 by default, 0 meaning keep for ever."""

from __future__ import annotations

import pytest

from loyalty_progress.config import Settings, SettingsError


def test_retention_defaults_to_400_days() -> None:
    settings = Settings.from_env({})
    assert (settings.dedupe_retention_days, settings.outbox_retention_days) == (400, 400)


def test_retention_is_read_from_the_environment_and_0_keeps_for_ever() -> None:
    settings = Settings.from_env(
        {"LOYALTY_DEDUPE_RETENTION_DAYS": "30", "LOYALTY_OUTBOX_RETENTION_DAYS": "0"}
    )
    assert (settings.dedupe_retention_days, settings.outbox_retention_days) == (30, 0)


@pytest.mark.parametrize("name", ["LOYALTY_DEDUPE_RETENTION_DAYS", "LOYALTY_OUTBOX_RETENTION_DAYS"])
@pytest.mark.parametrize("raw", ["-1", "ten", "1.5"])
def test_a_bad_retention_names_the_variable(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})
