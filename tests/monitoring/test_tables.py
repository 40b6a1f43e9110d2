"""Summary tables: Wilson intervals and per-group rates."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from monitoring.tables import percentile_table, rate_table, tables_html, wilson_interval


def test_wilson_interval_matches_the_textbook_value() -> None:
    low, high = wilson_interval(8, 10, 0.95)
    assert low == pytest.approx(0.4902, abs=1e-4)
    assert high == pytest.approx(0.9433, abs=1e-4)


def test_wilson_interval_stays_inside_zero_and_one() -> None:
    assert wilson_interval(0, 5)[0] == 0.0
    assert wilson_interval(5, 5)[1] == 1.0


def test_wilson_interval_of_no_trials_is_undefined() -> None:
    assert all(math.isnan(v) for v in wilson_interval(0, 0))


def test_rate_table_counts_only_rows_where_the_flag_is_known() -> None:
    frame = pd.DataFrame({"g": ["a", "a", "a", "b"], "hit": [1.0, 0.0, None, 1.0]})
    rows = {row["group"]: row for row in rate_table(frame, "g", ["hit"])}
    assert rows["a"]["hit_n"] == 2
    assert rows["a"]["hit"] == 0.5
    assert rows["a"]["hit_low"] < 0.5 < rows["a"]["hit_high"]
    assert rows["b"]["hit"] == 1.0


def test_percentile_table_gives_p50_p95_p99_per_group() -> None:
    frame = pd.DataFrame({"g": ["x"] * 100, "latency_s": [float(i) for i in range(100)]})
    (row,) = percentile_table(frame, "g", ["latency_s"])
    assert row["rows"] == 100
    assert row["latency_s_p50"] == pytest.approx(49.5)
    assert row["latency_s_p99"] == pytest.approx(98.01)


def test_tables_render_as_escaped_html() -> None:
    page = tables_html({"by_model": [{"group": "<script>", "rate": float("nan")}], "empty": []}, "T")
    assert "&lt;script&gt;" in page
    assert "<script>" not in page
    assert "No rows in this window." in page
