"""The latency report: end-to-end p50/p95/p99, time to first token, time per output token, tokens per
second and queue time, overall and per backend and model; tests on the p95/p99 limits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from evidently import DataDefinition
from evidently.metrics import GroupBy, MeanValue, QuantileValue, RowCount
from evidently.tests import gte, lte

from monitoring.config import LatencyThresholds
from monitoring.frames import MonitoringFrames
from monitoring.reports.base import ReportResult, TestOutcome, labels, outcomes, run_report, skipped_report
from monitoring.tables import percentile_table
from monitoring.vllm_metrics import VllmLatency

__all__ = ["LATENCY_COLUMNS", "latency_report"]

LATENCY_COLUMNS = ("latency_s", "ttft_s", "time_per_output_token_s", "tokens_per_s", "queue_s")


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
    for label, rows in labels(data, "backend_model"):
        metrics.extend(column_metrics(rows, label))
    definition = DataDefinition(
        numerical_columns=[*LATENCY_COLUMNS, "tokens_out"], categorical_columns=["backend_model"]
    )
    snapshot = run_report("latency", metrics, data, None, definition, frames, tags, metadata or {})
    tests = outcomes("latency", snapshot)
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
