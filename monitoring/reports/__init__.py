"""The three Evidently reports of a window: latency, drift and quality, each with its tests.

One module per report (`latency`, `drift`, `quality`), and what they share in `base`: the result
and test types and how a report of a window is run.

Tests only run where enough rows stand behind a metric (the ``min_*`` settings), so a quiet night
does not page anyone. Rates come with Wilson intervals in the report's tables.
"""

from __future__ import annotations

from monitoring.reports.base import ReportResult, TestOutcome, skipped_report
from monitoring.reports.drift import (
    DRIFT_INPUTS,
    DRIFT_OUTPUTS,
    EMBEDDING_COLUMNS,
    drift_report,
    drift_sample,
    drift_skip_reason,
)
from monitoring.reports.latency import latency_report
from monitoring.reports.quality import edit_sample, quality_report

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
