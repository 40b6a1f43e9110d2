"""The three reports on the simulated history: a clean window passes, planted changes fail."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from sqlalchemy import Engine

from genai.embed import HashingEmbedder
from monitoring.config import MonitoringConfig
from monitoring.frames import MonitoringFrames, load_edits, load_frames, load_texts, scopes
from monitoring.reports import (
    ReportResult,
    drift_report,
    drift_sample,
    edit_sample,
    latency_report,
    quality_report,
)
from monitoring.vllm_metrics import parse_vllm_metrics
from monitoring.windows import monitoring_window
from tests.support.monitoring import SMALL, day_end
from tests.support.vllm_metrics import EXPOSITION

CLEAN_DAY = 5  # after the prompt change (day 2) settled in the reference, before the drift (day 6)
DRIFT_DAY = 6
REGRESSION_DAY = 9


def _frames(store: Engine, day: int) -> MonitoringFrames:
    return load_frames(store, scopes(store)[0], monitoring_window("24h", "3d", day_end(day)))


def _all(store: Engine, config: MonitoringConfig, day: int) -> list[ReportResult]:
    frames = _frames(store, day)
    workspace_id = scopes(store)[0].workspace_id
    current, reference = drift_sample(frames, config.drift)
    texts = load_texts(store, workspace_id, [*current["variant_id"], *reference["variant_id"]])
    edits = load_edits(store, workspace_id, edit_sample(frames, config.quality))
    return [
        latency_report(frames, config.latency),
        drift_report(frames, texts, config.drift, HashingEmbedder()),
        quality_report(frames, edits, config.quality),
    ]


def _failed(results: list[ReportResult]) -> dict[str, list[str]]:
    return {r.kind: [t.name for t in r.failures] for r in results}


def test_a_clean_window_passes_every_test(store: Engine, config: MonitoringConfig) -> None:
    results = _all(store, config, CLEAN_DAY)
    assert _failed(results) == {"latency": [], "drift": [], "quality": []}
    assert all(r.skipped is None for r in results)
    assert all(len(r.tests) > 0 for r in results)


def test_the_latency_regression_fails_the_p95_limit(store: Engine, config: MonitoringConfig) -> None:
    report = latency_report(_frames(store, REGRESSION_DAY), config.latency)
    failed = [t.name for t in report.failures]
    assert "Quantile 0.95 of 'latency_s': Less or Equal 12.000" in failed
    assert any("vllm / google/gemma-3-1b-it" in name for name in failed)
    assert not any("transformers / " in name for name in failed)


def test_the_planted_drift_fails_the_drift_tests(store: Engine, config: MonitoringConfig) -> None:
    results = _all(store, config, DRIFT_DAY)
    drift = next(r for r in results if r.kind == "drift")
    failed = [t.name for t in drift.failures]
    assert any(name.startswith("Share of Drifted Columns") for name in failed)
    assert any(name.startswith("Embedding drift") for name in failed)
    means = {row["column"]: row for row in drift.tables["means"]}
    assert means["subject_caps_ratio"]["current"] > 2 * means["subject_caps_ratio"]["reference"]
    assert means["subject_similarity"]["current"] < means["subject_similarity"]["reference"]


def test_latency_tables_give_percentiles_per_backend_and_model(
    store: Engine, config: MonitoringConfig
) -> None:
    report = latency_report(_frames(store, CLEAN_DAY), config.latency)
    groups = {row["group"] for row in report.tables["latency_by_backend_and_model"]}
    assert groups == {"transformers / google/gemma-3-270m-it", "vllm / google/gemma-3-1b-it"}
    overall = report.tables["latency_overall"][0]
    assert overall["latency_s_p50"] <= overall["latency_s_p95"] <= overall["latency_s_p99"]


def test_too_few_rows_for_a_group_means_no_test_for_it(store: Engine, config: MonitoringConfig) -> None:
    strict = config.latency.__class__(**{**config.latency.__dict__, "min_rows": 10_000})
    report = latency_report(_frames(store, REGRESSION_DAY), strict)
    assert report.tests == []
    assert report.snapshot is not None


def test_vllm_queue_time_is_tested_when_scraped(store: Engine, config: MonitoringConfig) -> None:
    vllm = parse_vllm_metrics(EXPOSITION, "http://vllm/metrics")
    report = latency_report(_frames(store, CLEAN_DAY), config.latency, vllm=vllm)
    (test,) = [t for t in report.tests if t.name.startswith("vLLM queue time")]
    assert test.status == "SUCCESS"
    assert report.tables["vllm_server_since_start"][0]["metric"] == "queue_s"


def test_quality_rates_come_with_intervals(store: Engine, config: MonitoringConfig) -> None:
    results = _all(store, config, CLEAN_DAY)
    quality = next(r for r in results if r.kind == "quality")
    for row in quality.tables["acceptance_by_model_version"]:
        assert row["accepted_low"] <= row["accepted"] <= row["accepted_high"]
    prompts = {row["group"] for row in quality.tables["acceptance_by_prompt_version"]}
    assert prompts == {"holiday-v2"}
    # the learning loop's versions: the reward model that ranked each variant, the adapter that wrote it
    assert {row["group"] for row in quality.tables["acceptance_by_reward_model"]} == {"rm-demo v1"}
    adapters = {row["group"]: row for row in quality.tables["acceptance_by_adapter"]}
    assert set(adapters) == {"email-v1", "(none)"}  # the vLLM backend's variants had no adapter
    assert all(row["accepted_low"] <= row["accepted"] <= row["accepted_high"] for row in adapters.values())
    assert {row["group"] for row in quality.tables["outcomes_by_reward_model"]} <= {"rm-demo v1", "(none)"}
    assert quality.tables["edit_distance"][0]["measured"] == quality.tables["edit_distance"][0]["edits"]
    assert 0 < quality.tables["outcomes_overall"][0]["opened"] < 1


def test_experiment_arms_get_their_own_outcome_rates(store: Engine, config: MonitoringConfig) -> None:
    frames = _frames(store, SMALL.experiment_day)
    report = quality_report(frames, load_edits(store, scopes(store)[0].workspace_id, []), config.quality)
    arms = {row["group"] for row in report.tables["outcomes_by_experiment_arm"]}
    assert arms == {"holiday-subject-story-vs-urgency / control", "holiday-subject-story-vs-urgency / arm 1"}


def test_json_is_strict_and_carries_tests_tables_and_metrics(store: Engine, config: MonitoringConfig) -> None:
    for result in _all(store, config, DRIFT_DAY):
        data: dict[str, Any] = result.as_json()
        text = json.dumps(data, allow_nan=False)
        assert json.loads(text)["report"] == result.kind
        assert len(data["tests"]) == len(result.tests)
        assert data["metrics"]
        assert data["window"]["start"].startswith(SMALL.day(DRIFT_DAY).date().isoformat())


def test_html_is_evidentlys_page_with_the_tables_appended(store: Engine, config: MonitoringConfig) -> None:
    report = quality_report(
        _frames(store, CLEAN_DAY), load_edits(store, scopes(store)[0].workspace_id, []), config.quality
    )
    page = report.html()
    assert page.rstrip().endswith("</html>")
    assert page.index('id="copyloop-tables"') < page.rindex("</body>")
    assert "acceptance by model version" in page


def test_an_empty_window_is_skipped_with_a_reason(store: Engine, config: MonitoringConfig) -> None:
    frames = load_frames(store, scopes(store)[0], monitoring_window("24h", "3d", SMALL.start()))
    report = latency_report(frames, config.latency)
    assert report.snapshot is None
    assert report.skipped == "no generations in the window"
    assert "no generations in the window" in report.html()
    drift = drift_report(frames, load_texts(store, "", []), config.drift, HashingEmbedder())
    assert drift.skipped is not None and "too few generation requests" in drift.skipped
    assert not math.isnan(len(drift.tests))


@pytest.mark.parametrize("day", [CLEAN_DAY])
def test_snapshots_are_tagged_with_window_and_report(
    store: Engine, config: MonitoringConfig, day: int
) -> None:
    frames = _frames(store, day)
    report = latency_report(frames, config.latency, tags=["model:m"], metadata={"window_end": "x"})
    assert report.snapshot is not None
    loaded = report.snapshot.dump_dict()
    assert set(loaded["tags"]) == {"report:latency", "model:m"}
    assert loaded["metadata"]["report"] == "latency"
