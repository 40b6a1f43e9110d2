"""What every report shares: its result and tests, and how an Evidently report of a window is run."""

from __future__ import annotations

import datetime as dt
import html
import json
import math
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.core.report import Snapshot

from monitoring.frames import MonitoringFrames
from monitoring.tables import Table, tables_html

__all__ = ["ReportResult", "TestOutcome", "labels", "outcomes", "run_report", "skipped_report"]


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


def outcomes(
    kind: str, snapshot: Snapshot, prefixes: Mapping[frozenset[str], str] | None = None
) -> list[TestOutcome]:
    """The snapshot's tests; one of a metric over exactly a `prefixes` key's columns is named after it."""
    found = []
    for result in snapshot.tests_results:
        status = str(getattr(result.status, "value", result.status)).upper()
        name = _REPEATED_GROUP.sub(r"\1", str(result.name))
        params = getattr(getattr(result, "metric_config", None), "params", None) or {}
        prefix = (prefixes or {}).get(frozenset(params.get("columns") or ()))
        if prefix is not None:
            name = f"{prefix}: {name}"
        found.append(TestOutcome(kind, name, status, _REPEATED_GROUP.sub(r"\1", str(result.description))))
    return found


def run_report(
    kind: str,
    metrics: list[Any],
    current: pd.DataFrame,
    reference: pd.DataFrame | None,
    definition: DataDefinition,
    frames: MonitoringFrames,
    tags: Sequence[str],
    metadata: dict[str, str],
) -> Snapshot:
    """Run an Evidently report on the window's rows, tagged and named for the dashboard."""
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


def labels(frame: pd.DataFrame, column: str) -> list[tuple[str, int]]:
    """Each value of `column` with its row count, in order."""
    counts = frame[column].astype(str).value_counts()
    return sorted((str(label), int(n)) for label, n in counts.items())
