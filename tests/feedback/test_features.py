"""Feature definitions, their hash and registry, and the values computed from event frames."""

from __future__ import annotations

import json
import threading
from dataclasses import replace
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from feedback.errors import ImmutableError, NotFoundError
from feedback.features import (
    Computation,
    FeatureDefinition,
    FeatureImmutableError,
    FeatureNotFoundError,
    MemoryFeatureRegistry,
    ValueType,
    builtin_features,
    compute_feature,
    definition_from_dict,
    definition_hash,
    definition_to_dict,
)
from feedback.pit import point_in_time_join
from genai.errors import InvalidInputError

T0 = pd.Timestamp("2024-01-01", tz="UTC")
ACCEPTANCE, CLICK_RATE_30D, BRAND_REJECTIONS, SUBJECT_LENGTH = builtin_features()


def day(d: float) -> pd.Timestamp:
    """A timestamp `d` days after T0."""
    return T0 + pd.Timedelta(days=d)


def days(values: list[float]) -> pd.Series:
    """A UTC datetime column of days after T0."""
    return pd.Series([day(v) for v in values], dtype="datetime64[ns, UTC]")


def rating_mean(window: timedelta | None = None) -> FeatureDefinition:
    """A mean-of-ratings feature, optionally windowed."""
    return FeatureDefinition(
        name="variant_mean_rating",
        description="Mean rating of a variant.",
        owner="tests",
        entity="variant_id",
        value_type="float",
        ttl=None,
        computation=Computation(
            kind="mean", source="feedback_events", events=("rating",), column="rating", window=window
        ),
    )


# Definitions, hashes and the registry.


def test_definition_hash_is_pinned_so_stored_versions_keep_matching() -> None:
    # A change here would make every stored definition look new; bump it only on purpose.
    assert definition_hash(ACCEPTANCE) == "a78545c3b22b2814cdbb4a921b7da0c6bb962ffeb1a8d3cc78538e53f255517e"


def test_definition_hash_ignores_the_order_of_event_kinds() -> None:
    swapped = replace(
        ACCEPTANCE,
        computation=replace(ACCEPTANCE.computation, denominator_events=("reject", "accept", "accept")),
    )
    assert definition_hash(swapped) == definition_hash(ACCEPTANCE)


def test_definition_hash_changes_with_any_field() -> None:
    changed = [
        replace(ACCEPTANCE, description="Something else."),
        replace(ACCEPTANCE, owner="someone"),
        replace(ACCEPTANCE, ttl=timedelta(days=7)),
        replace(ACCEPTANCE, computation=replace(ACCEPTANCE.computation, window=timedelta(days=30))),
        replace(ACCEPTANCE, computation=replace(ACCEPTANCE.computation, events=("reject",))),
    ]
    hashes = {definition_hash(d) for d in [ACCEPTANCE, *changed]}
    assert len(hashes) == len(changed) + 1


@pytest.mark.parametrize("definition", [*builtin_features(), rating_mean(timedelta(hours=36))])
def test_definition_round_trips_through_json(definition: FeatureDefinition) -> None:
    data = json.loads(json.dumps(definition_to_dict(definition)))
    restored = definition_from_dict(data)
    assert restored == definition
    assert definition_hash(restored) == definition_hash(definition)


def test_fractional_durations_survive_the_round_trip() -> None:
    defn = replace(ACCEPTANCE, ttl=timedelta(seconds=1.5))
    assert definition_to_dict(defn)["ttl_seconds"] == 1.5
    assert definition_from_dict(definition_to_dict(defn)).ttl == timedelta(seconds=1.5)


def test_registering_an_identical_definition_returns_the_existing_version() -> None:
    registry = MemoryFeatureRegistry()
    first = registry.register(ACCEPTANCE)
    again = registry.register(replace(ACCEPTANCE))
    assert (first.name, first.version, first.hash) == (
        "variant_acceptance_rate",
        1,
        definition_hash(ACCEPTANCE),
    )
    assert again == first
    assert len(registry.versions(ACCEPTANCE.name)) == 1


def test_a_changed_definition_gets_the_next_version_and_old_ones_stay() -> None:
    registry = MemoryFeatureRegistry()
    v1 = registry.register(ACCEPTANCE)
    v2 = registry.register(replace(ACCEPTANCE, ttl=timedelta(days=90)))
    assert v2.version == 2
    assert registry.register(ACCEPTANCE) == v1
    assert registry.get(ACCEPTANCE.name) == v2
    assert registry.get(ACCEPTANCE.name, 1).definition == ACCEPTANCE
    assert [r.version for r in registry.versions(ACCEPTANCE.name)] == [1, 2]


def test_versions_count_per_name() -> None:
    registry = MemoryFeatureRegistry()
    for defn in builtin_features():
        assert registry.register(defn).version == 1
    assert registry.names() == sorted(d.name for d in builtin_features())


def test_update_and_delete_are_refused() -> None:
    registry = MemoryFeatureRegistry()
    registry.register(ACCEPTANCE)
    with pytest.raises(FeatureImmutableError) as err:
        registry.update(replace(ACCEPTANCE, owner="someone"))
    assert isinstance(err.value, ImmutableError)
    assert err.value.field == ACCEPTANCE.name
    with pytest.raises(FeatureImmutableError):
        registry.delete(ACCEPTANCE.name, 1)
    assert registry.get(ACCEPTANCE.name).definition == ACCEPTANCE


def test_unknown_feature_or_version_is_not_found() -> None:
    registry = MemoryFeatureRegistry()
    with pytest.raises(FeatureNotFoundError) as err:
        registry.get("nope")
    assert isinstance(err.value, NotFoundError)
    registry.register(ACCEPTANCE)
    with pytest.raises(FeatureNotFoundError) as err:
        registry.get(ACCEPTANCE.name, 2)
    assert err.value.field == "version"
    assert registry.versions("nope") == []


def test_concurrent_registration_gives_each_definition_one_version() -> None:
    registry = MemoryFeatureRegistry()
    definitions = [replace(ACCEPTANCE, ttl=timedelta(days=d)) for d in range(1, 6)]
    results: list[int] = []

    def work() -> None:
        for defn in definitions:
            results.append(registry.register(defn).version)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(results)) == [1, 2, 3, 4, 5]
    assert len(registry.versions(ACCEPTANCE.name)) == 5


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: replace(ACCEPTANCE, name="Bad Name"), "name"),
        (lambda: replace(ACCEPTANCE, owner=" "), "owner"),
        (lambda: replace(ACCEPTANCE, value_type="int"), "value_type"),
        (lambda: replace(ACCEPTANCE, ttl=timedelta(0)), "ttl"),
        (lambda: Computation(kind="median", source="x"), "computation.kind"),  # type: ignore[arg-type]
        (lambda: Computation(kind="rate", source="x", events=("click",)), "computation.denominator_events"),
        (lambda: Computation(kind="count", source="x", events="reject"), "computation.events"),  # type: ignore[arg-type]
        (lambda: Computation(kind="mean", source="x"), "computation.column"),
        (
            lambda: Computation(kind="length", source="x", column="s", window=timedelta(days=1)),
            "computation.window",
        ),
        (lambda: Computation(kind="count", source="x", window=timedelta(days=-1)), "computation.window"),
        (lambda: Computation(kind="count", source=""), "computation.source"),
    ],
)
def test_invalid_definitions_are_refused_naming_the_field(make: object, field: str) -> None:
    with pytest.raises(InvalidInputError) as err:
        make()  # type: ignore[operator]
    assert err.value.field == field


# Values computed from events.


def feedback_events(rows: list[tuple[str, str, float, float]], entity: str = "variant_id") -> pd.DataFrame:
    """Feedback events from (entity, kind, event day, ingest day) tuples."""
    return pd.DataFrame(
        {
            entity: [r[0] for r in rows],
            "kind": [r[1] for r in rows],
            "event_time": days([r[2] for r in rows]),
            "ingested_at": days([r[3] for r in rows]),
        }
    )


def as_records(frame: pd.DataFrame) -> list[tuple[Any, ...]]:
    """Rows as (entity, event day, ingest day, value) with days as floats, for readable assertions."""
    out: list[tuple[Any, ...]] = []
    for row in frame.itertuples(index=False):
        out.append(
            (row[0], (row[1] - T0) / pd.Timedelta(days=1), (row[2] - T0) / pd.Timedelta(days=1), row[3])
        )
    return out


def test_acceptance_rate_so_far_counts_accepts_over_accepts_and_rejects() -> None:
    events = feedback_events(
        [
            ("v1", "accept", 1, 1),
            ("v1", "reject", 2, 9),
            ("v1", "edit", 3, 3),
            ("v1", "accept", 4, 4),
            ("v1", "reject", 4, 5),
            ("v2", "reject", 2, 2),
        ]
    )
    out = compute_feature(ACCEPTANCE, events)
    assert list(out.columns) == ["variant_id", "event_time", "ingested_at", "value"]
    # The value at day 4 covers both day-4 events; ingested_at is when the value became knowable.
    assert as_records(out) == [
        ("v1", 1.0, 1.0, 1.0),
        ("v1", 2.0, 9.0, 0.5),
        ("v1", 4.0, 9.0, 0.5),
        ("v2", 2.0, 2.0, 0.0),
    ]


def test_acceptance_rate_as_of_ignores_events_ingested_later() -> None:
    events = feedback_events([("v1", "accept", 1, 1), ("v1", "reject", 2, 9), ("v1", "accept", 4, 4)])
    out = compute_feature(ACCEPTANCE, events, as_of=day(6))
    assert as_records(out) == [("v1", 1.0, 1.0, 1.0), ("v1", 4.0, 4.0, 1.0)]


def test_segment_click_rate_over_30_days_counts_events_in_the_window_and_when_they_leave_it() -> None:
    events = pd.DataFrame(
        {
            "segment_id": "s",
            "kind": ["send", "send", "click", "send", "click", "open"],
            "event_time": days([0, 0, 1, 10, 35, 36]),
            "ingested_at": days([0, 0, 1, 10, 35, 36]),
        }
    )
    out = compute_feature(CLICK_RATE_30D, events)
    records = as_records(out)
    # Window (t - 30 days, t]: the day-0 sends leave at day 30, the day-1 click at day 31.
    assert [r[1] for r in records] == [0, 1, 10, 30, 31, 35, 40, 65]
    values = [r[3] for r in records]
    assert values[:6] == [0.0, 0.5, pytest.approx(1 / 3), 1.0, 0.0, 1.0]
    assert np.isnan(values[6]) and np.isnan(values[7])
    assert records[3][2] == 10.0


def test_brand_rejections_count_so_far_is_an_integer_series() -> None:
    events = feedback_events(
        [("b", "reject", 1, 1), ("b", "accept", 2, 2), ("b", "reject", 3, 3), ("b", "reject", 3, 3)],
        "brand_id",
    )
    out = compute_feature(BRAND_REJECTIONS, events)
    assert out["value"].dtype == np.int64
    assert as_records(out) == [("b", 1.0, 1.0, 1), ("b", 3.0, 3.0, 3)]


def test_windowed_count_drops_as_events_age_out() -> None:
    defn = replace(
        BRAND_REJECTIONS, computation=replace(BRAND_REJECTIONS.computation, window=timedelta(days=2))
    )
    events = feedback_events([("b", "reject", 0, 0), ("b", "reject", 1, 1)], "brand_id")
    assert [(r[1], r[3]) for r in as_records(compute_feature(defn, events))] == [
        (0, 1),
        (1, 2),
        (2, 1),
        (3, 0),
    ]


def test_subject_length_is_fixed_at_variant_creation_and_counts_characters() -> None:
    variants = pd.DataFrame(
        {
            "variant_id": ["v2", "v1", "v3"],
            "subject": ["Spring sale — 20% off", "Hello", None],
            "event_time": days([1, 0, 2]),
            "ingested_at": days([1, 0, 2]),
        }
    )
    out = compute_feature(SUBJECT_LENGTH, variants)
    assert out["value"].dtype == np.int64
    assert as_records(out) == [("v1", 0.0, 0.0, 5), ("v2", 1.0, 1.0, 21)]


def test_mean_rating_skips_events_without_a_rating() -> None:
    events = feedback_events(
        [("v", "rating", 1, 1), ("v", "rating", 2, 2), ("v", "rating", 3, 3), ("v", "accept", 4, 4)]
    )
    events["rating"] = [5, 3, None, None]
    assert [(r[1], r[3]) for r in as_records(compute_feature(rating_mean(), events))] == [(1, 5.0), (2, 4.0)]


def test_computed_values_join_without_leaking_the_future() -> None:
    events = feedback_events([("v1", "accept", 1, 1), ("v1", "reject", 3, 3), ("v1", "reject", 5, 5)])
    values = compute_feature(ACCEPTANCE, events)
    spine = pd.DataFrame({"variant_id": ["v1"] * 4, "ts": days([0.5, 1, 4.9, 5])})
    out = point_in_time_join(spine, {ACCEPTANCE.name: values}, entity_cols=ACCEPTANCE.entity)
    got = out[ACCEPTANCE.name].tolist()
    assert np.isnan(got[0]) and got[1:] == [1.0, 0.5, pytest.approx(1 / 3)]


def test_missing_event_columns_are_named() -> None:
    events = feedback_events([("v1", "accept", 1, 1)]).drop(columns="kind")
    with pytest.raises(InvalidInputError) as err:
        compute_feature(ACCEPTANCE, events)
    assert err.value.field == "events.kind"


def brute_force_value(defn: FeatureDefinition, events: pd.DataFrame, entity: str, t: pd.Timestamp) -> float:
    """The feature's value for one entity at time t straight from its definition, or NaN before it has one."""
    comp = defn.computation
    kinds = events["kind"].to_numpy()
    in_events = np.isin(kinds, comp.events) if comp.events else np.ones(len(events), dtype=bool)
    in_denominator = np.isin(kinds, comp.denominator_events)
    # A value exists once the entity has had an event the computation looks at.
    times = events["event_time"].to_numpy(dtype="datetime64[ns]")
    mine = (events["entity_id"].to_numpy() == entity) & (times <= t.tz_convert(None).to_datetime64())
    if not (mine & (in_events | in_denominator)).any():
        return np.nan
    if comp.window is not None:
        mine &= times > (t - comp.window).tz_convert(None).to_datetime64()
    if comp.kind == "count":
        return float((mine & in_events).sum())
    if comp.kind == "mean":
        scores = events["score"].to_numpy()[mine & in_events]
        return float(scores.mean()) if len(scores) else np.nan
    denominator = (mine & in_denominator).sum()
    return float((mine & in_events).sum() / denominator) if denominator else np.nan


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    "computation",
    [
        Computation(kind="rate", source="e", events=("a",), denominator_events=("a", "b")),
        Computation(
            kind="rate", source="e", events=("a",), denominator_events=("b",), window=timedelta(hours=30)
        ),
        Computation(kind="count", source="e", events=("b",), window=timedelta(hours=50)),
        Computation(kind="count", source="e"),
        Computation(kind="mean", source="e", column="score", window=timedelta(hours=24)),
    ],
)
def test_joined_values_equal_the_definition_evaluated_at_each_spine_time(
    seed: int, computation: Computation
) -> None:
    rng = np.random.default_rng(seed)
    n = 60
    events = pd.DataFrame(
        {
            "entity_id": rng.choice(["x", "y", "z"], n),
            "kind": rng.choice(["a", "b", "c"], n),
            "event_time": T0 + pd.to_timedelta(rng.integers(0, 12, n) * 6, unit="h"),
            "score": rng.integers(1, 6, n).astype(float),
        }
    )
    events["ingested_at"] = events["event_time"]
    value_type: ValueType = "int" if computation.kind == "count" else "float"
    defn = FeatureDefinition(
        name="f",
        description="d",
        owner="o",
        entity="entity_id",
        value_type=value_type,
        ttl=None,
        computation=computation,
    )
    values = compute_feature(defn, events)
    # Spine times every 3 hours fall on event times, on window edges and between them.
    spine_times = T0 + pd.to_timedelta(rng.integers(-2, 40, 80) * 3, unit="h")
    spine = pd.DataFrame({"entity_id": rng.choice(["x", "y", "z"], 80), "ts": spine_times})
    got = point_in_time_join(spine, {"f": values}, entity_cols="entity_id")["f"].to_numpy(dtype=float)
    expected = [
        brute_force_value(defn, events, e, t) for e, t in zip(spine["entity_id"], spine["ts"], strict=True)
    ]
    np.testing.assert_allclose(got, expected, rtol=1e-12, equal_nan=True)
    assert np.isfinite(got).sum() > 20
