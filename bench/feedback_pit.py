"""Time the point-in-time join against pandas `merge_asof` doing the same join, and check they agree.

Run from the repository root: ``python bench/feedback_pit.py``. It writes
``bench/results/feedback_pit.json`` with both times (best of the repeats, each including the
sorting and filtering its path needs), their ratio, and the set-up. Both paths apply the same
TTL, the same ``as_of`` filter and the same tie rule (the latest ingest wins), and the results
must be identical, or the script fails.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from feedback.pit import point_in_time_join

RESULTS = Path(__file__).resolve().parent / "results" / "feedback_pit.json"
T0 = pd.Timestamp("2024-01-01", tz="UTC")
SPAN_S = 90 * 86_400
TTL = pd.Timedelta(days=7)


def make_data(
    n_events: int, n_spine: int, n_entities: int, keys: str, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Feature events with ties and late ingests, a spine, and an as_of that drops the latest ingests."""
    rng = np.random.default_rng(seed)
    entity = rng.integers(0, n_entities, n_events)
    event_s = rng.integers(0, SPAN_S, n_events)
    # One event in fifty repeats an earlier row's entity and time: ties the join must break by ingest time.
    tied = np.flatnonzero(rng.random(n_events) < 0.02)
    source = rng.integers(0, n_events, len(tied))
    entity[tied], event_s[tied] = entity[source], event_s[source]
    ingest_s = event_s + rng.exponential(600, n_events).astype(np.int64) + rng.integers(0, 2, n_events)
    features = pd.DataFrame(
        {
            "entity": _keys(entity, keys),
            "event_time": T0 + pd.to_timedelta(event_s, unit="s"),
            "ingested_at": T0 + pd.to_timedelta(ingest_s, unit="s"),
            "value": rng.normal(size=n_events),
            "count": rng.integers(0, 100, n_events),
        }
    )
    spine = pd.DataFrame(
        {
            "entity": _keys(rng.integers(0, int(n_entities * 1.05), n_spine), keys),
            "ts": T0 + pd.to_timedelta(rng.integers(0, SPAN_S, n_spine), unit="s"),
        }
    )
    as_of = T0 + pd.Timedelta(seconds=int(SPAN_S * 0.95))
    return features, spine, as_of


def _keys(codes: np.ndarray, keys: str) -> pd.Series | np.ndarray:
    """Entity keys as integers or as string ids like the database's."""
    if keys == "int":
        return codes
    return pd.Series(codes).map("v{:08d}".format).astype("str")


def pit(features: pd.DataFrame, spine: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The join under test."""
    return point_in_time_join(spine, features, entity_cols="entity", ttl=TTL, as_of=as_of)


def with_merge_asof(features: pd.DataFrame, spine: pd.DataFrame, as_of: pd.Timestamp) -> pd.DataFrame:
    """The same join in pandas: filter, sort both sides by time, merge_asof by entity, restore the order."""
    known = features[features["ingested_at"] <= as_of]
    # Sorted by ingest time within equal event times, so merge_asof's last match is the latest ingest.
    right = known.sort_values(["event_time", "ingested_at"], kind="stable").drop(columns="ingested_at")
    left = spine.assign(_row=np.arange(len(spine))).sort_values("ts", kind="stable")
    merged = pd.merge_asof(
        left,
        right,
        left_on="ts",
        right_on="event_time",
        by="entity",
        tolerance=TTL,
        allow_exact_matches=True,
        direction="backward",
    )
    merged = merged.sort_values("_row").drop(columns=["_row", "event_time"])
    merged.index = spine.index
    return merged


def best_time(fn: Callable[[], pd.DataFrame], repeats: int) -> tuple[list[float], pd.DataFrame]:
    """Wall times of `repeats` runs and the last result."""
    times = []
    result = pd.DataFrame()
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def main() -> None:
    """Run the benchmark and write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--spine", type=int, default=100_000)
    parser.add_argument("--entities", type=int, default=50_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    runs: list[dict[str, Any]] = []
    ratios: list[float] = []
    for keys in ("str", "int"):
        features, spine, as_of = make_data(args.events, args.spine, args.entities, keys, args.seed)
        pit_times, ours = best_time(partial(pit, features, spine, as_of), args.repeats)
        pandas_times, theirs = best_time(partial(with_merge_asof, features, spine, as_of), args.repeats)
        pd.testing.assert_frame_equal(ours, theirs)
        ratio = min(pit_times) / min(pandas_times)
        run = {
            "entity_keys": keys,
            "pit_join_s": round(min(pit_times), 4),
            "merge_asof_s": round(min(pandas_times), 4),
            "ratio_pit_over_merge_asof": round(ratio, 3),
            "pit_join_median_s": round(statistics.median(pit_times), 4),
            "merge_asof_median_s": round(statistics.median(pandas_times), 4),
            "identical_results": True,
            "matched_share": round(float(ours["value"].notna().mean()), 4),
        }
        runs.append(run)
        ratios.append(ratio)
        print(json.dumps(run))

    report = {
        "benchmark": "point-in-time join vs pandas merge_asof",
        "events": args.events,
        "spine_rows": args.spine,
        "entities": args.entities,
        "ttl": str(TTL),
        "as_of_share_of_span": 0.95,
        "repeats": args.repeats,
        "timing": "best of repeats, wall clock, including each path's filtering and sorting",
        "runs": runs,
        "target": "pit_join_s within 2x of merge_asof_s with identical results",
        "meets_target": all(r <= 2.0 for r in ratios),
        "environment": {
            "python": platform.python_version(),
            "pandas": pd.__version__,
            "numpy": np.__version__,
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
