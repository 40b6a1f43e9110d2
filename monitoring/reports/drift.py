"""The drift report: the current window against the reference window on the inputs (segment mix, brief
length, offer type, language) and outputs (subject and body length, word counts, exclamation and
capitals ratios, selection score, gate failures), plus embedding drift of subjects and bodies.

Embedding drift deliberately avoids Evidently's ``EmbeddingsDrift`` metric: it draws a t-SNE map
on every run, which takes 7 to 30 seconds on two CPU cores for a few hundred rows and is not
seeded. Each text's cosine similarity to the reference window's mean embedding is a column like
any other instead, compared with a two-sample test, and the drift is visible as a shift in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from evidently import DataDefinition
from evidently.metrics import DriftedColumnsCount, MeanValue, RowCount, ValueDrift
from evidently.tests import lte

from genai.embed import Embedder
from monitoring.config import DriftThresholds
from monitoring.frames import MonitoringFrames, stable_sample
from monitoring.reports.base import ReportResult, outcomes, run_report, skipped_report
from monitoring.textstats import EmbeddingCache, embed_texts, text_descriptors

__all__ = [
    "DRIFT_INPUTS",
    "DRIFT_OUTPUTS",
    "EMBEDDING_COLUMNS",
    "drift_report",
    "drift_sample",
    "drift_skip_reason",
]

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
# Both drift checks are DriftedColumnsCount metrics; say which one a test belongs to.
_NAMED = {frozenset(EMBEDDING_COLUMNS): "Embedding drift"}


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
    snapshot = run_report(
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
        "drift", snapshot, outcomes("drift", snapshot, _NAMED), tables, window=frames.window.as_dict()
    )
