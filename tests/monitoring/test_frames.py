"""What the reports read: one window's rows from the feedback store."""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from feedback.db import session_factory
from feedback.ingest import ingest_feedback
from feedback.models import OutcomeEvent, VariantRow
from monitoring.config import MonitoringConfig
from monitoring.frames import load_edits, load_frames, load_texts, offer_types, scopes, stable_sample
from monitoring.reports import drift_sample
from monitoring.windows import monitoring_window
from tests.support.monitoring import SMALL, day_end


def _window(day: int, reference: str = "3d") -> object:
    return monitoring_window("24h", reference, day_end(day))


def test_scopes_list_workspaces_or_their_brands(store: Engine) -> None:
    (workspace,) = scopes(store)
    assert workspace.name == f"copyloop · {SMALL.workspace_name}"
    (brand,) = scopes(store, per="brand")
    assert brand.brand_name == "Wick & Willow"
    assert scopes(store, workspace="no such workspace") == []


def test_generations_cover_the_window_and_its_reference(store: Engine) -> None:
    scope = scopes(store)[0]
    window = monitoring_window("24h", "3d", day_end(5))
    frames = load_frames(store, scope, window)
    with store.connect() as conn:
        expected = conn.scalar(
            select(func.count()).where(
                VariantRow.created_at >= window.reference_start, VariantRow.created_at < window.end
            )
        )
        current = conn.scalar(
            select(func.count()).where(
                VariantRow.created_at >= window.start, VariantRow.created_at < window.end
            )
        )
    assert len(frames.generations) == expected
    assert len(frames.current) == current > 0
    assert frames.current["created_at"].min() >= pd.Timestamp(window.start)
    assert frames.reference["created_at"].max() < pd.Timestamp(window.start)
    assert str(frames.generations["created_at"].dtype) == "datetime64[us, UTC]"


def test_latency_parts_and_inputs_are_derived(store: Engine) -> None:
    frames = load_frames(store, scopes(store)[0], monitoring_window("24h", "3d", day_end(5)))
    row = frames.current.iloc[0]
    assert row["tokens_per_s"] == pytest.approx(row["tokens_out"] / row["latency_s"])
    assert row["time_per_output_token_s"] == pytest.approx(
        (row["latency_s"] - row["ttft_s"]) / (row["tokens_out"] - 1)
    )
    assert row["queue_s"] >= 0
    assert set(frames.generations["offer_type"]) <= {
        "percent_off",
        "amount_off",
        "free_shipping",
        "gift",
        "none",
        "other",
    }
    assert frames.generations["gate_failures"].notna().all()


def test_requests_carry_candidate_and_block_counts(store: Engine) -> None:
    frames = load_frames(store, scopes(store)[0], monitoring_window("24h", "3d", day_end(5)))
    requests = frames.requests
    assert len(requests) == SMALL.requests_per_day
    assert (requests["candidates"] >= requests["blocked"]).all()
    assert requests["model_version"].str.startswith("google/").all()


def test_the_latest_verdict_on_a_variant_is_the_one_that_counts(store: Engine) -> None:
    scope = scopes(store)[0]
    window = monitoring_window("24h", "3d", day_end(5))
    before = load_frames(store, scope, window).verdicts
    target = before[before["kind"] == "reject"].iloc[0]
    later = target["event_time"].to_pydatetime() + dt.timedelta(minutes=5)
    ingest_feedback(
        session_factory(store),
        scope.workspace_id,
        [
            {
                "idempotency_key": "changed-mind",
                "variant_id": target["variant_id"],
                "kind": "accept",
                "event_time": later,
            }
        ],
    )
    after = load_frames(store, scope, window).verdicts
    assert len(after) == len(before)
    changed = after[after["variant_id"] == target["variant_id"]].iloc[0]
    assert changed["kind"] == "accept"
    assert changed["accepted"] == 1.0


def test_sends_have_engagement_flags_within_the_window(store: Engine) -> None:
    scope = scopes(store)[0]
    window = monitoring_window("24h", "3d", day_end(4))
    sends = load_frames(store, scope, window).sends
    with store.connect() as conn:
        sent = conn.scalar(
            select(func.count()).where(
                OutcomeEvent.kind == "send",
                OutcomeEvent.event_time >= window.start,
                OutcomeEvent.event_time < window.end,
            )
        )
    assert len(sends) == sent > 0
    for flag in ("opened", "clicked", "converted", "unsubscribed"):
        assert set(np.unique(sends[flag])) <= {0.0, 1.0}
    assert (sends["clicked"] <= sends["opened"]).all()


def test_experiment_sends_are_labelled_with_their_arm(store: Engine) -> None:
    sends = load_frames(
        store, scopes(store)[0], monitoring_window("24h", "3d", day_end(SMALL.experiment_day))
    ).sends
    arms = sends[sends["experiment"] != "(none)"]
    assert set(arms["arm"]) == {"control", "arm 1"}


def test_texts_and_edits_are_read_for_the_sampled_rows_only(store: Engine) -> None:
    scope = scopes(store)[0]
    frames = load_frames(store, scope, monitoring_window("24h", "3d", day_end(5)))
    ids = frames.current["variant_id"].head(3).tolist()
    texts = load_texts(store, scope.workspace_id, ids)
    assert sorted(texts["variant_id"]) == sorted(ids)
    assert texts["subject"].str.len().gt(0).all()
    edit_ids = frames.verdicts.loc[frames.verdicts["kind"] == "edit", "event_id"].tolist()
    edits = load_edits(store, scope.workspace_id, edit_ids)
    assert len(edits) == len(edit_ids)
    assert (edits["original"] != edits["edited"]).all()


def test_stable_sample_picks_the_same_ids_whatever_else_is_in_the_window() -> None:
    ids = pd.Series([f"v{i}" for i in range(100)])
    first = set(ids[stable_sample(ids, 10)])
    widened = pd.Series([*ids, *[f"w{i}" for i in range(5)]])
    second = set(widened[stable_sample(widened, 10)])
    assert len(first) == 10
    assert len(first & second) >= 5


def test_offer_types_classify_the_common_offers() -> None:
    offers = pd.Series(
        ["20% off all candles", "Free shipping over $40", "$10 off", "", "A free gift", "Winter"]
    )
    assert offer_types(offers).tolist() == [
        "percent_off",
        "free_shipping",
        "amount_off",
        "none",
        "gift",
        "other",
    ]


def test_a_window_without_rows_gives_empty_frames(store: Engine) -> None:
    window = monitoring_window("24h", "3d", SMALL.start() - dt.timedelta(days=30))
    frames = load_frames(store, scopes(store)[0], window)
    assert frames.generations.empty and frames.verdicts.empty and frames.sends.empty and frames.requests.empty


def test_reading_a_sample_of_the_reference_gives_the_rows_the_drift_report_compares(
    store: Engine, config: MonitoringConfig
) -> None:
    scope = scopes(store)[0]
    window = monitoring_window("24h", "3d", day_end(5))
    small = dataclasses.replace(config.drift, sample_rows=5)
    full = load_frames(store, scope, window)
    sampled = load_frames(store, scope, window, reference_requests=5)
    assert sampled.reference["request_id"].nunique() == 5
    assert sampled.reference_requests == full.reference_requests == full.reference["request_id"].nunique()
    assert len(sampled.current) == len(full.current)
    picked_from_full = set(drift_sample(full, small)[1]["variant_id"])
    picked_from_sample = set(drift_sample(sampled, small)[1]["variant_id"])
    assert picked_from_sample == picked_from_full
