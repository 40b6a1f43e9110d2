"""The quality report: acceptance by model version, prompt version (the prompt bandit's arms),
adapter, reward model and segment, gate block rate, how much marketers edit, and open, click,
conversion and unsubscribe rates, overall, per experiment arm and per learning-loop version.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from evidently import DataDefinition
from evidently.metrics import GroupBy, MeanValue, RowCount
from evidently.tests import gte, lte

from monitoring.config import QualityThresholds
from monitoring.frames import MonitoringFrames, stable_sample
from monitoring.reports.base import ReportResult, labels, outcomes, run_report, skipped_report
from monitoring.tables import Table, rate_table
from monitoring.textstats import edit_distance

__all__ = ["OUTCOME_FLAGS", "edit_sample", "quality_report"]

OUTCOME_FLAGS = ("opened", "clicked", "converted", "unsubscribed")
# what the learning loop changes: each variant's prompt version, adapter and reward model
LOOP_COLUMNS = ("prompt_version", "adapter", "reward_model")
# the columns rates are grouped by; "(none)" where a row has no value
GROUP_COLUMNS = ("model_version", *LOOP_COLUMNS, "segment", "arm_label")
RATE_COLUMNS = ("accepted", "edited", "edit_distance", "rating", "blocked", *OUTCOME_FLAGS)


def edit_sample(frames: MonitoringFrames, thresholds: QualityThresholds) -> list[int]:
    """Ids of the edit events whose edit distance is computed (the same ones every run)."""
    edits = frames.verdicts[frames.verdicts["kind"] == "edit"]
    if edits.empty:
        return []
    picked = stable_sample(edits["event_id"], thresholds.edit_sample)
    return [int(v) for v in edits.loc[picked, "event_id"]]


def _quality_rows(frames: MonitoringFrames, edits: pd.DataFrame) -> pd.DataFrame:
    """One long frame: verdict, rating, candidate and send rows, each with the columns that apply."""
    verdicts = frames.verdicts.copy()
    if not edits.empty:
        distances = {
            int(row.event_id): edit_distance(str(row.original), str(row.edited)) for row in edits.itertuples()
        }
        verdicts["edit_distance"] = verdicts["event_id"].map(distances).astype("float64")
    else:
        verdicts["edit_distance"] = np.nan
    verdicts["row_kind"] = "verdict"
    ratings = frames.ratings.assign(row_kind="rating")
    requests = frames.requests
    counted = requests[requests["candidates"].notna() & requests["blocked"].notna()]
    repeats = counted["candidates"].astype(int).clip(lower=0).to_numpy()
    candidates = pd.DataFrame(
        {
            "model_version": np.repeat(counted["model_version"].to_numpy(), repeats),
            "prompt_version": np.repeat(counted["prompt_version"].to_numpy(), repeats),
            "blocked": np.concatenate(
                [
                    (np.arange(n) < min(b, n)).astype("float64")
                    for n, b in zip(repeats, counted["blocked"].astype(int), strict=True)
                ]
            )
            if len(counted)
            else np.zeros(0),
            "row_kind": "candidate",
        }
    )
    sends = frames.sends.assign(row_kind="send")
    sends["arm_label"] = np.where(
        sends["experiment"] == "(none)",
        "(none)",
        sends["experiment"].astype(str) + " / " + sends["arm"].astype(str),
    )
    columns = ["row_kind", *GROUP_COLUMNS, *RATE_COLUMNS]
    long = pd.concat([verdicts, ratings, candidates, sends], ignore_index=True, sort=False)
    for column in columns:
        if column not in long.columns:
            long[column] = np.nan
    for column in GROUP_COLUMNS:
        long[column] = long[column].fillna("(none)").astype(str)
    return long[columns]


def quality_report(
    frames: MonitoringFrames,
    edits: pd.DataFrame,
    thresholds: QualityThresholds,
    *,
    tags: Sequence[str] = (),
    metadata: dict[str, str] | None = None,
) -> ReportResult:
    """Acceptance, block, edit and outcome rates of the window, with tests and Wilson intervals.

    `edits` holds ``event_id, original, edited`` for the events `edit_sample` picked.
    """
    rows = _quality_rows(frames, edits)
    if rows.empty:
        return skipped_report("quality", frames, "no verdicts, requests or sends in the window")
    verdicts = rows[rows["row_kind"] == "verdict"]
    sends = rows[rows["row_kind"] == "send"]
    candidates = rows[rows["row_kind"] == "candidate"]
    metrics: list[Any] = [RowCount()]
    if len(verdicts):
        enough = len(verdicts) >= thresholds.min_verdicts
        metrics.append(
            MeanValue(column="accepted", tests=[gte(thresholds.min_acceptance_rate)] if enough else None)
        )
        metrics.append(MeanValue(column="edited"))
        for column in ("model_version", "prompt_version", "adapter", "reward_model", "segment"):
            metrics.extend(
                GroupBy(MeanValue(column="accepted"), column).label_metric(label)
                for label, _ in labels(verdicts, column)
            )
        if verdicts["edit_distance"].notna().any():
            metrics.append(
                MeanValue(
                    column="edit_distance", tests=[lte(thresholds.max_mean_edit_distance)] if enough else None
                )
            )
    if rows["rating"].notna().any():
        metrics.append(MeanValue(column="rating"))
    if len(candidates):
        enough = len(candidates) >= thresholds.min_candidates
        metrics.append(
            MeanValue(column="blocked", tests=[lte(thresholds.max_block_rate)] if enough else None)
        )
    if len(sends):
        enough = len(sends) >= thresholds.min_sends
        limits = {
            "opened": gte(thresholds.min_open_rate),
            "clicked": gte(thresholds.min_click_rate),
            "unsubscribed": lte(thresholds.max_unsubscribe_rate),
        }
        for flag in OUTCOME_FLAGS:
            test = limits.get(flag)
            metrics.append(MeanValue(column=flag, tests=[test] if enough and test is not None else None))
        arms = [(label, n) for label, n in labels(sends, "arm_label") if label != "(none)"]
        for flag in ("opened", "clicked"):
            metrics.extend(
                GroupBy(MeanValue(column=flag), "arm_label").label_metric(label) for label, _ in arms
            )
    definition = DataDefinition(
        numerical_columns=list(RATE_COLUMNS),
        categorical_columns=["row_kind", *GROUP_COLUMNS],
    )
    snapshot = run_report("quality", metrics, rows, None, definition, frames, tags, metadata or {})
    level = thresholds.interval_level
    tables: dict[str, Table] = {
        "acceptance_overall": rate_table(verdicts, None, ["accepted", "edited"], level),
        "acceptance_by_model_version": rate_table(verdicts, "model_version", ["accepted", "edited"], level),
        "acceptance_by_prompt_version": rate_table(verdicts, "prompt_version", ["accepted", "edited"], level),
        "acceptance_by_adapter": rate_table(verdicts, "adapter", ["accepted", "edited"], level),
        "acceptance_by_reward_model": rate_table(verdicts, "reward_model", ["accepted", "edited"], level),
        "acceptance_by_segment": rate_table(verdicts, "segment", ["accepted", "edited"], level),
        "block_rate_by_model_version": rate_table(candidates, "model_version", ["blocked"], level),
        "block_rate_by_gate": _gate_table(frames.requests),
        "edit_distance": [
            {
                "edits": int((frames.verdicts["kind"] == "edit").sum()),
                "measured": int(verdicts["edit_distance"].notna().sum()),
                "mean_distance": float(verdicts["edit_distance"].mean()) if len(verdicts) else math.nan,
            }
        ],
        "outcomes_overall": rate_table(frames.sends, None, list(OUTCOME_FLAGS), level),
        "outcomes_by_variant": rate_table(frames.sends, "variant", list(OUTCOME_FLAGS), level),
        "outcomes_by_experiment_arm": rate_table(
            sends[sends["arm_label"] != "(none)"], "arm_label", list(OUTCOME_FLAGS), level
        ),
        **{
            f"outcomes_by_{column}": rate_table(sends, column, list(OUTCOME_FLAGS), level)
            for column in LOOP_COLUMNS
        },
    }
    return ReportResult(
        "quality", snapshot, outcomes("quality", snapshot), tables, window=frames.window.as_dict()
    )


def _gate_table(requests: pd.DataFrame) -> Table:
    candidates = float(requests["candidates"].sum(min_count=1)) if len(requests) else math.nan
    totals: dict[str, float] = {}
    for blocked_by in requests["blocked_by"]:
        for gate, count in (blocked_by or {}).items():
            if math.isfinite(count):
                totals[gate] = totals.get(gate, 0.0) + count
    return [
        {"gate": gate, "blocked": count, "block_rate": count / candidates if candidates else math.nan}
        for gate, count in sorted(totals.items())
    ]
