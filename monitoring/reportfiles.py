"""Where the job writes report pages and what the API lists, without importing Evidently.

Layout under the reports folder::

    <project-slug>/<window-key>/latency.html   latency.json
                                drift.html     drift.json
                                quality.html   quality.json
                                run.json       what the run produced: snapshot ids, failures, webhook

Window keys start with the window's end (``20250101T000000Z_24h_ref7d``), so they sort by time.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitoring.config import load_config

__all__ = [
    "RUN_FILE",
    "ReportFile",
    "latest_report",
    "list_reports",
    "read_run",
    "run_dir",
    "slugify",
    "write_json_atomic",
]

RUN_FILE = "run.json"
KINDS = ("latency", "drift", "quality")


def slugify(name: str) -> str:
    """A file-name-safe form of a project name: ``copyloop · Acme`` becomes ``copyloop-acme``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")
    return slug or "project"


def run_dir(reports_dir: Path, project: str, window_key: str) -> Path:
    """The folder of one window's reports for one project."""
    return reports_dir / slugify(project) / window_key


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON through a temporary file, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False), encoding="utf-8")
    partial.replace(path)


def read_run(folder: Path) -> dict[str, Any] | None:
    """The ``run.json`` of a window's folder, or None when there is none or it is unreadable."""
    try:
        data = json.loads((folder / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class ReportFile:
    """One stored report: its project, kind and window, its files, and how many of its tests failed."""

    project: str
    project_slug: str
    kind: str
    window_key: str
    window_start: str
    window_end: str
    html_path: Path
    json_path: Path
    failed_tests: int
    skipped: str | None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        return {
            "project": self.project,
            "project_slug": self.project_slug,
            "kind": self.kind,
            "window_key": self.window_key,
            "window_start": self.window_start,
            "window_end": self.window_end,
            "html_path": str(self.html_path),
            "json_path": str(self.json_path),
            "failed_tests": self.failed_tests,
            "skipped": self.skipped,
        }


def list_reports(
    reports_dir: Path | None = None, *, project: str | None = None, kind: str | None = None
) -> list[ReportFile]:
    """Every stored report (newest window first), optionally of one project (name or slug) and kind."""
    root = reports_dir or load_config().reports_path()
    if not root.is_dir():
        return []
    wanted = slugify(project) if project is not None else None
    found: list[ReportFile] = []
    for project_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if wanted is not None and project_dir.name != wanted:
            continue
        for window_dir in sorted((p for p in project_dir.iterdir() if p.is_dir()), reverse=True):
            run = read_run(window_dir)
            if run is None:
                continue
            window = run.get("window", {})
            reports = run.get("reports", {})
            for report_kind in KINDS:
                entry = reports.get(report_kind)
                if entry is None or (kind is not None and report_kind != kind):
                    continue
                found.append(
                    ReportFile(
                        project=str(run.get("project", project_dir.name)),
                        project_slug=project_dir.name,
                        kind=report_kind,
                        window_key=window_dir.name,
                        window_start=str(window.get("start", "")),
                        window_end=str(window.get("end", "")),
                        html_path=window_dir / f"{report_kind}.html",
                        json_path=window_dir / f"{report_kind}.json",
                        failed_tests=int(entry.get("failed", 0)),
                        skipped=entry.get("skipped"),
                    )
                )
    return found


def latest_report(
    kind: str, reports_dir: Path | None = None, *, project: str | None = None
) -> ReportFile | None:
    """The report of this kind for the most recent window (of one project, when given), or None."""
    candidates = [r for r in list_reports(reports_dir, project=project, kind=kind) if r.html_path.is_file()]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (r.window_end, r.window_key))
