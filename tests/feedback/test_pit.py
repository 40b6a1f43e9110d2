"""Point-in-time join: checked against a brute-force reference on random data and on hand-made edges."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from feedback.pit import point_in_time_join
from genai.errors import InvalidInputError

T0 = pd.Timestamp("2024-03-01 09:00", tz="UTC")
NS = pd.Timedelta(1, "ns")


def at(minutes: float) -> pd.Timestamp:
    """A timestamp `minutes` after T0."""
    return T0 + pd.Timedelta(minutes=minutes)


def stamps(values: Sequence[float | None]) -> pd.Series:
    """A UTC datetime column from minutes after T0 (None gives NaT)."""
    return pd.Series([pd.NaT if v is None else at(v) for v in values], dtype="datetime64[ns, UTC]")


def reference_join(
    spine: pd.DataFrame,
    feats: pd.DataFrame,
    keys: list[str],
    ttl: timedelta | None,
    as_of: pd.Timestamp | None,
) -> pd.DataFrame:
    """The join written the slow, obvious way: scan every feature row for every spine row."""
    has_ingest = "ingested_at" in feats.columns
    feat_keys = [tuple(row) for row in feats[keys].itertuples(index=False)]
    event = feats["event_time"].tolist()
    ingest = feats["ingested_at"].tolist() if has_ingest else [pd.NaT] * len(feats)
    chosen = []
    for spine_key, ts in zip(spine[keys].itertuples(index=False), spine["ts"].tolist(), strict=True):
        best, best_rank = -1, None
        if pd.isna(ts) or any(pd.isna(v) for v in spine_key):
            chosen.append(best)
            continue
        for j in range(len(feats)):
            if any(pd.isna(v) for v in feat_keys[j]) or feat_keys[j] != tuple(spine_key):
                continue
            if pd.isna(event[j]) or event[j] > ts:
                continue
            if ttl is not None and event[j] < ts - ttl:
                continue
            if as_of is not None and (pd.isna(ingest[j]) or ingest[j] > as_of):
                continue
            rank = (event[j], -np.inf if pd.isna(ingest[j]) else ingest[j].value, j)
            if best_rank is None or rank > best_rank:
                best, best_rank = j, rank
        chosen.append(best)
    positions = np.array(chosen, dtype=np.int64)
    out = spine.copy()
    for col in feats.columns:
        if col not in {*keys, "event_time", "ingested_at"}:
            out[col] = feats[col].array.take(positions, allow_fill=True)
    return out


def random_case(
    seed: int, two_keys: bool
) -> tuple[pd.DataFrame, pd.DataFrame, list[str], timedelta | None, pd.Timestamp | None]:
    """Small random frames dense in ties, equal timestamps, null keys, NaT and duplicate spine rows."""
    rng = np.random.default_rng(seed)
    n_feats = int(rng.choice([0, 1, 5, 40, 90]))
    n_spine = int(rng.integers(1, 50))
    brands = np.array(["a", "b", "c", None], dtype=object)

    def minutes(n: int, nat_share: float) -> pd.Series:
        values = rng.integers(0, 12, n).astype(float)
        values[rng.random(n) < nat_share] = np.nan
        return stamps([None if np.isnan(v) else float(v) for v in values])

    feats = pd.DataFrame(
        {
            "brand": rng.choice(brands, n_feats, p=[0.4, 0.3, 0.25, 0.05]),
            "event_time": minutes(n_feats, 0.05),
            "ingested_at": minutes(n_feats, 0.1),
            "row_id": np.arange(n_feats, dtype=np.int64),
            "score": rng.normal(size=n_feats),
            "label": pd.array([f"v{i}" for i in range(n_feats)], dtype="str"),
        }
    )
    spine = pd.DataFrame(
        {
            # "z" is never seen in the features.
            "brand": rng.choice(np.array(["a", "b", "c", "z", None], dtype=object), n_spine),
            "ts": minutes(n_spine, 0.05),
            "spine_no": np.arange(n_spine),
        }
    )
    keys = ["brand"]
    if two_keys:
        feats.insert(1, "segment", rng.integers(0, 2, n_feats))
        spine.insert(1, "segment", rng.integers(0, 3, n_spine))
        keys = ["brand", "segment"]
    # Sampling with replacement duplicates spine rows; a shuffled, non-unique index must survive.
    spine = spine.iloc[rng.integers(0, n_spine, n_spine + 10)]
    spine.index = rng.integers(0, 5, len(spine))
    ttl_choice = rng.choice([-1, 0, 1, 3, 7])
    ttl = None if ttl_choice < 0 else timedelta(minutes=int(ttl_choice))
    as_of = None if rng.random() < 0.5 else at(int(rng.integers(0, 12)))
    return spine, feats, keys, ttl, as_of


@pytest.mark.parametrize("two_keys", [False, True])
@pytest.mark.parametrize("seed", range(30))
def test_join_matches_brute_force_reference_on_random_data(seed: int, two_keys: bool) -> None:
    spine, feats, keys, ttl, as_of = random_case(seed, two_keys)
    got = point_in_time_join(spine, feats, entity_cols=keys, ttl=ttl, as_of=as_of)
    pd.testing.assert_frame_equal(got, reference_join(spine, feats, keys, ttl, as_of))


@pytest.mark.parametrize("seed", range(10))
def test_join_without_ingest_column_breaks_ties_by_frame_order(seed: int) -> None:
    spine, feats, keys, ttl, _ = random_case(seed, two_keys=False)
    feats = feats.drop(columns="ingested_at")
    got = point_in_time_join(spine, feats, entity_cols=keys, ttl=ttl)
    pd.testing.assert_frame_equal(got, reference_join(spine, feats, keys, ttl, None))


@pytest.mark.parametrize("seed", range(5))
def test_join_matches_pandas_merge_asof_when_times_are_distinct(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    n = 2000
    feats = pd.DataFrame(
        {
            "entity": rng.integers(0, 50, n),
            "event_time": T0 + pd.to_timedelta(rng.permutation(n) * 7, unit="s"),
            "value": rng.normal(size=n),
        }
    )
    spine = pd.DataFrame(
        {
            "entity": rng.integers(0, 60, 500),
            "ts": T0 + pd.to_timedelta(rng.integers(0, n * 7, 500), unit="s"),
        }
    )
    ttl = pd.Timedelta(minutes=10)
    got = point_in_time_join(spine, feats, entity_cols="entity", ttl=ttl)
    ordered = spine.reset_index().sort_values("ts", kind="stable")
    expected = pd.merge_asof(
        ordered,
        feats.sort_values("event_time"),
        left_on="ts",
        right_on="event_time",
        by="entity",
        tolerance=ttl,
        allow_exact_matches=True,
    ).set_index("index")
    expected = expected.loc[spine.index, "value"].rename(None)
    np.testing.assert_array_equal(got["value"].to_numpy(), expected.to_numpy())
    assert got["value"].notna().sum() > 100


def one_entity_feats(
    event_minutes: Sequence[float], ingest_minutes: Sequence[float], values: list[str]
) -> pd.DataFrame:
    """Feature rows of entity "e" with the given event and ingest times."""
    return pd.DataFrame(
        {
            "entity": "e",
            "event_time": stamps(event_minutes),
            "ingested_at": stamps(ingest_minutes),
            "value": values,
        }
    )


def spine_at(*times: pd.Timestamp) -> pd.DataFrame:
    """A spine of entity "e" at the given times."""
    return pd.DataFrame({"entity": "e", "ts": pd.Series(times, dtype="datetime64[ns, UTC]")})


def test_value_at_exactly_the_spine_time_is_used_and_one_nanosecond_later_is_not() -> None:
    feats = pd.DataFrame(
        {
            "entity": "e",
            "event_time": pd.Series([at(0), at(5), at(5) + NS], dtype="datetime64[ns, UTC]"),
            "value": ["old", "exact", "future"],
        }
    )
    out = point_in_time_join(spine_at(at(5)), feats, entity_cols="entity")
    assert out["value"].tolist() == ["exact"]


def test_ttl_edge_is_inclusive_and_a_stale_value_gives_missing_not_an_older_one() -> None:
    feats = one_entity_feats([0, 10], [0, 10], ["older", "edge"])
    ttl = pd.Timedelta(minutes=5)
    out = point_in_time_join(spine_at(at(15), at(15) + NS), feats, entity_cols="entity", ttl=ttl)
    assert out["value"].iloc[0] == "edge"
    assert pd.isna(out["value"].iloc[1])


def test_zero_ttl_accepts_only_values_at_the_spine_time() -> None:
    feats = one_entity_feats([3], [3], ["x"])
    out = point_in_time_join(spine_at(at(3), at(4)), feats, entity_cols="entity", ttl=timedelta(0))
    assert out["value"].iloc[0] == "x"
    assert pd.isna(out["value"].iloc[1])


def test_tie_on_event_time_goes_to_the_row_ingested_last_whatever_the_frame_order() -> None:
    feats = one_entity_feats([2, 2, 2], [9, 4, 1], ["late", "middle", "early"])
    out = point_in_time_join(spine_at(at(2)), feats, entity_cols="entity")
    assert out["value"].tolist() == ["late"]


def test_tie_on_event_and_ingest_time_goes_to_the_last_row_of_the_frame() -> None:
    feats = one_entity_feats([2, 2, 2], [4, 4, 1], ["first", "second", "early"])
    out = point_in_time_join(spine_at(at(2)), feats, entity_cols="entity")
    assert out["value"].tolist() == ["second"]


def test_as_of_ignores_backfilled_rows_and_keeps_rows_ingested_exactly_then() -> None:
    # "backfill" describes minute 5 but only arrived at minute 30.
    feats = one_entity_feats([1, 5, 6], [1, 30, 10], ["known", "backfill", "at_as_of"])
    spine = spine_at(at(5), at(7))
    assert point_in_time_join(spine, feats, entity_cols="entity")["value"].tolist() == [
        "backfill",
        "at_as_of",
    ]
    out = point_in_time_join(spine, feats, entity_cols="entity", as_of=at(10))
    assert out["value"].tolist() == ["known", "at_as_of"]
    out = point_in_time_join(spine, feats, entity_cols="entity", as_of=at(10) - NS)
    assert out["value"].tolist() == ["known", "known"]


def test_duplicate_spine_rows_stay_duplicates_in_order_with_their_index() -> None:
    feats = one_entity_feats([0, 4], [0, 4], ["a", "b"])
    spine = spine_at(at(5), at(1), at(5), at(1))
    spine.index = pd.Index([7, 7, 3, 3])
    out = point_in_time_join(spine, feats, entity_cols="entity")
    assert out.index.tolist() == [7, 7, 3, 3]
    assert out["value"].tolist() == ["b", "a", "b", "a"]
    assert out["ts"].tolist() == spine["ts"].tolist()


def test_empty_feature_frame_keeps_every_spine_row_with_missing_values() -> None:
    feats = one_entity_feats([], [], []).astype({"value": "float64"})
    out = point_in_time_join(spine_at(at(1), at(2)), feats, entity_cols="entity", as_of=at(3))
    assert len(out) == 2
    assert out["value"].isna().all()


def test_empty_spine_gives_an_empty_frame_with_the_feature_columns() -> None:
    feats = one_entity_feats([1], [1], ["x"])
    out = point_in_time_join(spine_at(), feats, entity_cols="entity")
    assert list(out.columns) == ["entity", "ts", "value"]
    assert len(out) == 0


def test_unknown_and_null_entities_and_missing_times_get_missing_values() -> None:
    feats = one_entity_feats([0], [0], ["x"])
    spine = pd.DataFrame(
        {
            "entity": ["e", "never", None, "e"],
            "ts": pd.Series([at(1), at(1), at(1), pd.NaT], dtype="datetime64[ns, UTC]"),
        }
    )
    out = point_in_time_join(spine, feats, entity_cols="entity")
    assert out["value"].iloc[0] == "x"
    assert out["value"].iloc[1:].isna().all()


def test_integer_values_become_float_with_nan_where_missing() -> None:
    feats = pd.DataFrame({"entity": ["e"], "event_time": stamps([1]), "count": [3]})
    out = point_in_time_join(spine_at(at(2), at(0)), feats, entity_cols="entity")
    assert out["count"].dtype == np.float64
    assert out["count"].iloc[0] == 3.0
    assert np.isnan(out["count"].iloc[1])


def test_timezones_and_units_are_compared_as_instants() -> None:
    # 10:00 in Paris in March is 09:00 UTC, i.e. T0.
    paris = pd.Series([pd.Timestamp("2024-03-01 10:00", tz="Europe/Paris")]).dt.as_unit("s")
    feats = pd.DataFrame({"entity": ["e"], "event_time": paris, "value": [1.5]})
    spine = pd.DataFrame({"entity": ["e", "e"], "ts": pd.Series([T0, T0 - NS], dtype="datetime64[ns, UTC]")})
    assert point_in_time_join(spine, feats, entity_cols="entity")["value"].tolist()[0] == 1.5
    assert np.isnan(point_in_time_join(spine, feats, entity_cols="entity")["value"].iloc[1])


def test_mapping_of_features_names_columns_and_takes_entity_and_ttl_per_feature() -> None:
    spine = pd.DataFrame({"variant_id": ["v1", "v2"], "brand_id": ["b", "b"], "ts": stamps([10, 10])})
    by_variant = pd.DataFrame({"variant_id": ["v1"], "event_time": stamps([1]), "value": [0.5]})
    by_brand = pd.DataFrame({"brand_id": ["b"], "event_time": stamps([2]), "n": [3], "m": [4]})
    out = point_in_time_join(
        spine,
        {"acceptance": by_variant, "brand": by_brand},
        entity_cols={"acceptance": "variant_id", "brand": ["brand_id"]},
        ttl={"acceptance": timedelta(minutes=9), "brand": timedelta(minutes=1)},
    )
    assert list(out.columns) == ["variant_id", "brand_id", "ts", "acceptance", "brand__n", "brand__m"]
    assert out["acceptance"].iloc[0] == 0.5
    assert np.isnan(out["acceptance"].iloc[1])
    assert out["brand__n"].isna().all()


def test_join_does_not_modify_its_inputs() -> None:
    feats = one_entity_feats([2, 1], [2, 1], ["b", "a"])
    spine = spine_at(at(3))
    before = (feats.copy(), spine.copy())
    point_in_time_join(spine, feats, entity_cols="entity")
    pd.testing.assert_frame_equal(feats, before[0])
    pd.testing.assert_frame_equal(spine, before[1])


@pytest.mark.parametrize(
    ("spine_cols", "feat_cols", "field"),
    [
        ({"entity": ["e"]}, {"entity": ["e"], "event_time": stamps([0])}, "spine.ts"),
        ({"entity": ["e"], "ts": stamps([0])}, {"entity": ["e"]}, "features.event_time"),
        ({"ts": stamps([0])}, {"entity": ["e"], "event_time": stamps([0])}, "spine.entity"),
        ({"entity": ["e"], "ts": stamps([0])}, {"event_time": stamps([0])}, "features.entity"),
    ],
)
def test_missing_columns_are_named_in_the_error(
    spine_cols: dict[str, Any], feat_cols: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidInputError) as err:
        point_in_time_join(pd.DataFrame(spine_cols), pd.DataFrame(feat_cols), entity_cols="entity")
    assert err.value.field == field


def test_naive_feature_times_against_aware_spine_times_are_refused() -> None:
    feats = pd.DataFrame({"entity": ["e"], "event_time": [pd.Timestamp("2024-03-01")], "value": [1]})
    with pytest.raises(InvalidInputError, match="timezone-naive") as err:
        point_in_time_join(spine_at(at(0)), feats, entity_cols="entity")
    assert err.value.field == "features.event_time"


def test_naive_ingest_times_and_naive_as_of_are_refused_with_aware_data() -> None:
    feats = one_entity_feats([0], [0], ["x"])
    naive = feats.assign(ingested_at=feats["ingested_at"].dt.tz_localize(None))
    with pytest.raises(InvalidInputError) as err:
        point_in_time_join(spine_at(at(0)), naive, entity_cols="entity")
    assert err.value.field == "features.ingested_at"
    with pytest.raises(InvalidInputError) as err:
        point_in_time_join(spine_at(at(0)), feats, entity_cols="entity", as_of=pd.Timestamp("2024-03-02"))
    assert err.value.field == "as_of"


def test_non_datetime_time_column_is_refused() -> None:
    spine = pd.DataFrame({"entity": ["e"], "ts": ["2024-03-01T09:00:00Z"]})
    with pytest.raises(InvalidInputError, match="timezone-aware UTC") as err:
        point_in_time_join(spine, one_entity_feats([0], [0], ["x"]), entity_cols="entity")
    assert err.value.field == "spine.ts"


def test_as_of_without_an_ingest_column_is_refused() -> None:
    feats = one_entity_feats([0], [0], ["x"]).drop(columns="ingested_at")
    with pytest.raises(InvalidInputError) as err:
        point_in_time_join(spine_at(at(0)), feats, entity_cols="entity", as_of=at(1))
    assert err.value.field == "features.ingested_at"


def test_feature_column_clashing_with_a_spine_column_is_refused() -> None:
    spine = spine_at(at(0)).assign(value=1)
    with pytest.raises(InvalidInputError) as err:
        point_in_time_join(spine, one_entity_feats([0], [0], ["x"]), entity_cols="entity")
    assert err.value.field == "value"


def test_negative_ttl_is_refused() -> None:
    with pytest.raises(InvalidInputError) as err:
        point_in_time_join(
            spine_at(at(0)), one_entity_feats([0], [0], ["x"]), entity_cols="entity", ttl=timedelta(-1)
        )
    assert err.value.field == "ttl"
