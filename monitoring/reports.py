"""The three Evidently reports of a window: latency, drift and quality, each with its tests.

- **latency**: end-to-end p50/p95/p99, time to first token, time per output token, tokens per
  second and queue time, overall and per backend and model; tests on the p95/p99 limits.
- **drift**: the current window against the reference window on the inputs (segment mix, brief
  length, offer type, language) and outputs (subject and body length, word counts, exclamation and
  capitals ratios, selection score, gate failures), plus embedding drift of subjects and bodies.
- **quality**: acceptance by model version, prompt version and segment, gate block rate, how much
  marketers edit, and open, click, conversion and unsubscribe rates, overall and per experiment arm.

Tests only run where enough rows stand behind a metric (the ``min_*`` settings), so a quiet night
does not page anyone. Rates come with Wilson intervals in the report's tables.

Embedding drift deliberately avoids Evidently's ``EmbeddingsDrift`` metric: it draws a t-SNE map
on every run, which takes 7 to 30 seconds on two CPU cores for a few hundred rows and is not
seeded. Each text's cosine similarity to the reference window's mean embedding is a column like
any other instead, compared with a two-sample test, and the drift is visible as a shift in it.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot
from evidently.metrics import (
    DriftedColumnsCount,
    GroupBy,
    MeanValue,
    QuantileValue,
    RowCount,
    ValueDrift,
)
from evidently.tests import gte, lte

from genai.embed import Embedder
from monitoring.config import DriftThresholds, LatencyThresholds, QualityThresholds
from monitoring.frames import MonitoringFrames, stable_sample
from monitoring.tables import Table, percentile_table, rate_table, tables_html
from monitoring.textstats import EmbeddingCache, edit_distance, embed_texts, text_descriptors
from monitoring.vllm_metrics import VllmLatency

__all__ = [
    "DRIFT_INPUTS",
    "DRIFT_OUTPUTS",
    "EMBEDDING_COLUMNS",
    "REPORT_KINDS",
    "ReportResult",
    "TestOutcome",
    "drift_report",
    "drift_sample",
    "drift_skip_reason",
    "edit_sample",
    "latency_report",
    "quality_report",
    "skipped_report",
]

REPORT_KINDS = ("latency", "drift", "quality")
DRIFT_INPUTS = {"segment": "cat", "offer_type": "cat", "language": "cat", "brief_length": "num"}
DRIFT_OUTPUTS = (
    "subject_chars",
    "subject_words",
    "subject_exclamation_ratio",
    "subject_caps_ratio",
    "body_chars",
    "body_words",
    "body_exclamation_ratio",
    "body_caps_ratio",
    "score",
    "gate_failures",
)
EMBEDDING_COLUMNS = ("subject_similarity", "body_similarity")
LATENCY_COLUMNS = ("latency_s", "ttft_s", "time_per_output_token_s", "tokens_per_s", "queue_s")
OUTCOME_FLAGS = ("opened", "clicked", "converted", "unsubscribed")


@dataclass(frozen=True)
class TestOutcome:
    """One test of one report: its name, status (SUCCESS, FAIL, WARNING, ERROR) and description."""

    __test__ = False  # not a pytest test class, whatever its name says

    report: str
    name: str
    status: str
    description: str

    @property
    def failed(self) -> bool:
        """True when the test did not pass (a warning passes)."""
        return self.status in ("FAIL", "ERROR")

    def as_dict(self) -> dict[str, str]:
        """A JSON-ready dict."""
        return {
            "report": self.report,
            "name": self.name,
            "status": self.status,
            "description": self.description,
        }


@dataclass
class ReportResult:
    """A report of one kind for one window: the Evidently snapshot, its tests and the summary tables."""

    kind: str
    snapshot: Snapshot | None
    tests: list[TestOutcome] = field(default_factory=list)
    tables: dict[str, Table] = field(default_factory=dict)
    skipped: str | None = None
    window: dict[str, str] = field(default_factory=dict)

    @property
    def failures(self) -> list[TestOutcome]:
        """The tests that failed."""
        return [test for test in self.tests if test.failed]

    def html(self) -> str:
        """The report page: Evidently's rendering followed by the summary tables."""
        title = f"copyloop {self.kind} report, {self.window.get('start', '')} to {self.window.get('end', '')}"
        section = tables_html(self.tables, title)
        if self.snapshot is None:
            reason = f"<p>{html.escape(self.skipped or 'no data')}</p>"
            head = f"<head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            return f"<!DOCTYPE html><html>{head}<body>{reason}{section}</body></html>"
        page = str(self.snapshot.get_html_str(as_iframe=False))
        marker = page.rfind("</body>")
        return page[:marker] + section + page[marker:] if marker >= 0 else page + section

    def as_json(self) -> dict[str, Any]:
        """Tests, tables and metric values as JSON-ready data (NaN becomes null)."""
        metrics = self.snapshot.dict()["metrics"] if self.snapshot is not None else []
        data = {
            "report": self.kind,
            "window": self.window,
            "skipped": self.skipped,
            "tests": [test.as_dict() for test in self.tests],
            "tables": self.tables,
            "metrics": metrics,
        }
        cleaned: dict[str, Any] = _clean(json.loads(json.dumps(data, default=_json_default)))
        return cleaned


def _json_default(value: Any) -> Any:
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, dt.datetime | pd.Timestamp):
        return value.isoformat()
    return str(value)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


# Evidently 0.7 names a grouped metric's test with the "group by" clause twice.
_REPEATED_GROUP = re.compile(r"( group by '[^']*' for label: '[^']*')\1")


def _outcomes(kind: str, snapshot: Snapshot) -> list[TestOutcome]:
    outcomes = []
    for result in snapshot.tests_results:
        status = str(getattr(result.status, "value", result.status)).upper()
        name = _REPEATED_GROUP.sub(r"\1", str(result.name))
        params = getattr(getattr(result, "metric_config", None), "params", None) or {}
        if set(params.get("columns") or ()) == set(EMBEDDING_COLUMNS):
            # Both drift checks are DriftedColumnsCount metrics; say which one this is.
            name = f"Embedding drift: {name}"
        outcomes.append(TestOutcome(kind, name, status, _REPEATED_GROUP.sub(r"\1", str(result.description))))
    return outcomes


def _run(
    kind: str,
    metrics: list[Any],
    current: pd.DataFrame,
    reference: pd.DataFrame | None,
    definition: DataDefinition,
    frames: MonitoringFrames,
    tags: Sequence[str],
    metadata: dict[str, str],
) -> Snapshot:
    report = Report(metrics)
    with warnings.catch_warnings():
        # Evidently correlates every numeric column and divides by zero on constant ones (a ratio that
        # is 0 in both windows); the NaN it gets is harmless, the warning is noise.
        warnings.simplefilter("ignore", RuntimeWarning)
        return report.run(
            Dataset.from_pandas(current, data_definition=definition),
            Dataset.from_pandas(reference, data_definition=definition) if reference is not None else None,
            # Naive UTC: Evidently's UI compares snapshot times with naive datetimes.
            timestamp=frames.window.end.astimezone(dt.UTC).replace(tzinfo=None),
            tags=[f"report:{kind}", *tags],
            metadata={"report": kind, **metadata},
            name=f"{kind} {frames.window.key}",
        )


def skipped_report(kind: str, frames: MonitoringFrames, reason: str) -> ReportResult:
    """A report that was not computed, and why."""
    return ReportResult(kind, None, skipped=reason, window=frames.window.as_dict())


def _labels(frame: pd.DataFrame, column: str) -> list[tuple[str, int]]:
    counts = frame[column].astype(str).value_counts()
    return sorted((str(label), int(n)) for label, n in counts.items())


# Latency.


def latency_report(
    frames: MonitoringFrames,
    thresholds: LatencyThresholds,
    *,
    tags: Sequence[str] = (),
    metadata: dict[str, str] | None = None,
    vllm: VllmLatency | None = None,
) -> ReportResult:
    """Latency percentiles and throughput of the current window, overall and per backend and model."""
    current = frames.current
    if current.empty:
        return skipped_report("latency", frames, "no generations in the window")
    data = current[[*LATENCY_COLUMNS, "tokens_out", "backend_model"]].reset_index(drop=True)
    present = [c for c in LATENCY_COLUMNS if data[c].notna().any()]
    limits = {
        ("latency_s", 0.95): thresholds.p95_latency_s,
        ("latency_s", 0.99): thresholds.p99_latency_s,
        ("ttft_s", 0.95): thresholds.p95_ttft_s,
        ("time_per_output_token_s", 0.95): thresholds.p95_time_per_output_token_s,
        ("queue_s", 0.95): thresholds.p95_queue_s,
    }
    # Every Evidently metric draws a histogram, which is most of a report's cost: overall, the
    # median and the tested percentiles; per backend and model, only what is tested (the tables
    # carry the rest).
    overall = {
        "latency_s": (0.5, 0.95, 0.99),
        "ttft_s": (0.95,),
        "time_per_output_token_s": (0.95,),
        "queue_s": (0.95,),
    }
    per_group = {"latency_s": (0.95, 0.99), "ttft_s": (0.95,)}

    def column_metrics(rows: int, label: str | None) -> list[Any]:
        tested = rows >= thresholds.min_rows
        out: list[Any] = []
        for column, qs in (overall if label is None else per_group).items():
            if column not in present:
                continue
            for q in qs:
                limit = limits.get((column, q))
                metric = QuantileValue(
                    column=column, quantile=q, tests=[lte(limit)] if tested and limit is not None else None
                )
                out.append(metric if label is None else GroupBy(metric, "backend_model").label_metric(label))
        if "tokens_per_s" in present:
            metric = MeanValue(
                column="tokens_per_s", tests=[gte(thresholds.min_tokens_per_s)] if tested else None
            )
            out.append(metric if label is None else GroupBy(metric, "backend_model").label_metric(label))
        return out

    metrics: list[Any] = [RowCount(), *column_metrics(len(data), None)]
    for label, rows in _labels(data, "backend_model"):
        metrics.extend(column_metrics(rows, label))
    definition = DataDefinition(
        numerical_columns=[*LATENCY_COLUMNS, "tokens_out"], categorical_columns=["backend_model"]
    )
    snapshot = _run("latency", metrics, data, None, definition, frames, tags, metadata or {})
    tests = _outcomes("latency", snapshot)
    tables = {
        "latency_overall": percentile_table(data, None, present),
        "latency_by_backend_and_model": percentile_table(data, "backend_model", present),
        "latency_reference_window": percentile_table(frames.reference, None, present),
    }
    if vllm is not None:
        tables["vllm_server_since_start"] = vllm.rows()
        queue = vllm.percentiles.get("queue_s", {}).get("p95", math.nan)
        if vllm.counts.get("queue_s", 0.0) >= thresholds.min_rows and math.isfinite(queue):
            status = "SUCCESS" if queue <= thresholds.p95_queue_s else "FAIL"
            tests.append(
                TestOutcome(
                    "latency",
                    "vLLM queue time p95 (since the server started): "
                    f"Less or Equal {thresholds.p95_queue_s:.3f}",
                    status,
                    f"vLLM reports a p95 queue time of {queue:.3f} s at {vllm.url}",
                )
            )
    return ReportResult("latency", snapshot, tests, tables, window=frames.window.as_dict())


# Drift.


def _one_per_request(variants: pd.DataFrame) -> pd.DataFrame:
    """One variant of each generation request, picked by a hash of its id (the same every run)."""
    if variants.empty:
        return variants
    hashes = pd.util.hash_pandas_object(variants["variant_id"].astype(str), index=False)
    first = hashes.groupby(variants["request_id"].to_numpy()).idxmin()
    return variants.loc[np.sort(first.to_numpy())]


def drift_sample(frames: MonitoringFrames, thresholds: DriftThresholds) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The rows each window's side of the drift report compares: one variant per generation request.

    Variants of one request share its brief and offer, so they are not independent draws; the
    two-sample tests assume they are and would call chance differences drift. One variant per
    request makes the rows independent. At most `sample_rows` requests per side are kept, picked
    by a hash of their ids (as `load_frames` samples the reference window), so overlapping windows
    and reruns pick the same rows.
    """
    picked = []
    for side in (frames.current, frames.reference):
        single = _one_per_request(side)
        picked.append(single.loc[stable_sample(single["request_id"], thresholds.sample_rows)])
    return picked[0], picked[1]


def drift_skip_reason(frames: MonitoringFrames, thresholds: DriftThresholds) -> str | None:
    """Why the windows are too small to compare, or None when they are not."""
    current = frames.current["request_id"].nunique()
    reference = frames.reference_requests
    if current < thresholds.min_rows or reference < thresholds.min_rows:
        return (
            f"too few generation requests to compare: {current} in the window and {reference} in the "
            f"reference (at least {thresholds.min_rows} each)"
        )
    return None


def _similarities(
    reference: np.ndarray, current: np.ndarray, reference_groups: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarity of each vector to the reference mean.

    A reference row is compared with the mean of the reference rows of *other* generation requests:
    variants of one request share a brief and an offer, so a mean that includes a row's siblings (or
    the row itself) sits closer to it than to any current row, which reads as drift on small windows.
    """
    total = reference.sum(axis=0)
    n = len(reference)
    codes, inverse = np.unique(reference_groups, return_inverse=True)
    group_sums = np.zeros((len(codes), reference.shape[1]), dtype=np.float64)
    np.add.at(group_sums, inverse, reference)
    group_sizes = np.bincount(inverse, minlength=len(codes))
    others = np.maximum(n - group_sizes[inverse], 1)[:, None]
    centres = (total[None, :] - group_sums[inverse]) / others

    def cosine(vectors: np.ndarray, centre: np.ndarray) -> np.ndarray:
        norms = np.linalg.norm(vectors, axis=1) * np.linalg.norm(centre, axis=-1)
        dots = (vectors * centre).sum(axis=1) if centre.ndim == 2 else vectors @ centre
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(norms > 0, dots / norms, 0.0)

    return cosine(reference, centres), cosine(current, total / max(n, 1))


def _drift_features(
    rows: pd.DataFrame, texts: pd.DataFrame, embedder: Embedder, cache: EmbeddingCache | None
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    merged = rows[["variant_id", "request_id", *DRIFT_INPUTS, "score", "gate_failures"]].merge(
        texts, on="variant_id", how="left"
    )
    merged = merged.reset_index(drop=True)
    subjects = merged["subject"].fillna("").astype(str)
    bodies = merged["body"].fillna("").astype(str)
    frame = pd.concat(
        [
            merged.drop(columns=["subject", "body"]),
            text_descriptors(subjects, "subject"),
            text_descriptors(bodies, "body"),
        ],
        axis=1,
    )
    return (
        frame,
        embed_texts(subjects.tolist(), embedder, cache),
        embed_texts(bodies.tolist(), embedder, cache),
    )


def drift_report(
    frames: MonitoringFrames,
    texts: pd.DataFrame,
    thresholds: DriftThresholds,
    embedder: Embedder,
    *,
    cache: EmbeddingCache | None = None,
    tags: Sequence[str] = (),
    metadata: dict[str, str] | None = None,
) -> ReportResult:
    """Drift of inputs, text descriptors and embeddings between the sampled windows.

    `texts` holds ``variant_id, subject, body`` for the rows `drift_sample` picked.
    """
    reason = drift_skip_reason(frames, thresholds)
    if reason is not None:
        return skipped_report("drift", frames, reason)
    current_rows, reference_rows = drift_sample(frames, thresholds)
    current, current_subjects, current_bodies = _drift_features(current_rows, texts, embedder, cache)
    reference, reference_subjects, reference_bodies = _drift_features(reference_rows, texts, embedder, cache)
    groups = reference["request_id"].astype(str).to_numpy()
    reference["subject_similarity"], current["subject_similarity"] = _similarities(
        reference_subjects, current_subjects, groups
    )
    reference["body_similarity"], current["body_similarity"] = _similarities(
        reference_bodies, current_bodies, groups
    )
    categorical = [c for c, kind in DRIFT_INPUTS.items() if kind == "cat"]
    numerical = [c for c, kind in DRIFT_INPUTS.items() if kind == "num"] + list(DRIFT_OUTPUTS)
    watched = [*DRIFT_INPUTS, *DRIFT_OUTPUTS]
    for frame in (current, reference):
        for column in categorical:
            frame[column] = frame[column].astype(str)
    methods = {c: (thresholds.cat_method, thresholds.cat_threshold) for c in categorical} | {
        c: (thresholds.num_method, thresholds.num_threshold) for c in numerical
    }
    metrics: list[Any] = [
        RowCount(),
        DriftedColumnsCount(
            columns=watched,
            cat_method=thresholds.cat_method,
            cat_threshold=thresholds.cat_threshold,
            num_method=thresholds.num_method,
            num_threshold=thresholds.num_threshold,
            share_tests=[lte(thresholds.max_drift_share)],
        ),
        DriftedColumnsCount(
            columns=list(EMBEDDING_COLUMNS),
            method=thresholds.embedding_method,
            threshold=thresholds.embedding_threshold,
            tests=[lte(0)],
        ),
    ]
    metrics.extend(ValueDrift(column=c, method=m, threshold=t) for c, (m, t) in methods.items())
    metrics.extend(
        ValueDrift(column=c, method=thresholds.embedding_method, threshold=thresholds.embedding_threshold)
        for c in EMBEDDING_COLUMNS
    )
    # The means the dashboard plots; the tables carry every column's.
    metrics.extend(
        MeanValue(column=c)
        for c in (
            "subject_chars",
            "body_chars",
            "subject_caps_ratio",
            "subject_exclamation_ratio",
            "body_exclamation_ratio",
        )
    )
    definition = DataDefinition(
        numerical_columns=[*numerical, *EMBEDDING_COLUMNS], categorical_columns=categorical
    )
    columns = [*watched, *EMBEDDING_COLUMNS]
    snapshot = _run(
        "drift", metrics, current[columns], reference[columns], definition, frames, tags, metadata or {}
    )
    tables = {
        "compared_rows": [
            {"window": name, "requests": requests, "compared": len(rows)}
            for name, requests, rows in (
                ("current", int(frames.current["request_id"].nunique()), current),
                ("reference", frames.reference_requests, reference),
            )
        ],
        "means": [
            {
                "column": column,
                "reference": float(reference[column].mean()),
                "current": float(current[column].mean()),
            }
            for column in (*numerical, *EMBEDDING_COLUMNS)
        ],
        "category_shares": [
            {
                "column": column,
                "category": category,
                "reference": float((reference[column] == category).mean()),
                "current": float((current[column] == category).mean()),
            }
            for column in categorical
            for category in sorted(set(reference[column]) | set(current[column]))
        ],
    }
    return ReportResult(
        "drift", snapshot, _outcomes("drift", snapshot), tables, window=frames.window.as_dict()
    )


# Quality.


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
    columns = [
        "row_kind",
        "model_version",
        "prompt_version",
        "segment",
        "arm_label",
        "accepted",
        "edited",
        "edit_distance",
        "rating",
        "blocked",
        *OUTCOME_FLAGS,
    ]
    long = pd.concat([verdicts, ratings, candidates, sends], ignore_index=True, sort=False)
    for column in columns:
        if column not in long.columns:
            long[column] = np.nan
    for column in ("model_version", "prompt_version", "segment", "arm_label"):
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
        for column in ("model_version", "prompt_version", "segment"):
            metrics.extend(
                GroupBy(MeanValue(column="accepted"), column).label_metric(label)
                for label, _ in _labels(verdicts, column)
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
        arms = [(label, n) for label, n in _labels(sends, "arm_label") if label != "(none)"]
        for flag in ("opened", "clicked"):
            metrics.extend(
                GroupBy(MeanValue(column=flag), "arm_label").label_metric(label) for label, _ in arms
            )
    definition = DataDefinition(
        numerical_columns=["accepted", "edited", "edit_distance", "rating", "blocked", *OUTCOME_FLAGS],
        categorical_columns=["row_kind", "model_version", "prompt_version", "segment", "arm_label"],
    )
    snapshot = _run("quality", metrics, rows, None, definition, frames, tags, metadata or {})
    level = thresholds.interval_level
    tables: dict[str, Table] = {
        "acceptance_overall": rate_table(verdicts, None, ["accepted", "edited"], level),
        "acceptance_by_model_version": rate_table(verdicts, "model_version", ["accepted", "edited"], level),
        "acceptance_by_prompt_version": rate_table(verdicts, "prompt_version", ["accepted", "edited"], level),
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
    }
    return ReportResult(
        "quality", snapshot, _outcomes("quality", snapshot), tables, window=frames.window.as_dict()
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
