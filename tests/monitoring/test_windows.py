"""Windows: durations as people write them, and windows aligned so that reruns cover the same rows."""

from __future__ import annotations

import datetime as dt

import pytest

from monitoring.errors import InvalidInputError
from monitoring.windows import monitoring_window, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", dt.timedelta(minutes=90)),
        ("24h", dt.timedelta(hours=24)),
        ("7d", dt.timedelta(days=7)),
        ("2w", dt.timedelta(weeks=2)),
    ],
)
def test_durations_parse_from_number_and_unit(text: str, expected: dt.timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "24", "h", "1.5h", "-1d", "0h", "3y"])
def test_malformed_durations_are_refused_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidInputError) as info:
        parse_duration(text, "reference")
    assert info.value.field == "reference"


def test_daily_window_is_the_last_complete_utc_day() -> None:
    window = monitoring_window("24h", "7d", now=dt.datetime(2025, 3, 10, 15, 30, tzinfo=dt.UTC))
    assert window.start == dt.datetime(2025, 3, 9, tzinfo=dt.UTC)
    assert window.end == dt.datetime(2025, 3, 10, tzinfo=dt.UTC)
    assert window.reference_start == dt.datetime(2025, 3, 2, tzinfo=dt.UTC)
    assert window.key == "20250310T000000Z_1d_ref1w"


def test_every_moment_of_the_same_day_gives_the_same_window() -> None:
    early = monitoring_window("24h", "7d", now=dt.datetime(2025, 3, 10, 0, 0, 1, tzinfo=dt.UTC))
    late = monitoring_window("24h", "7d", now=dt.datetime(2025, 3, 10, 23, 59, tzinfo=dt.UTC))
    assert early == late


def test_other_timezones_are_read_as_the_same_instant() -> None:
    paris = dt.timezone(dt.timedelta(hours=1))
    window = monitoring_window("1h", "1d", now=dt.datetime(2025, 3, 10, 1, 30, tzinfo=paris))
    assert window.end == dt.datetime(2025, 3, 10, 0, 0, tzinfo=dt.UTC)


def test_unaligned_window_ends_now() -> None:
    now = dt.datetime(2025, 3, 10, 15, 30, tzinfo=dt.UTC)
    assert monitoring_window("24h", "7d", now=now, align=False).end == now


def test_naive_now_is_refused() -> None:
    with pytest.raises(InvalidInputError) as info:
        monitoring_window("24h", "7d", now=dt.datetime(2025, 3, 10))
    assert info.value.field == "now"
