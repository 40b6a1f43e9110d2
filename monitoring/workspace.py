"""The Evidently workspace: one project per copyloop workspace (or brand), with its dashboard.

The workspace is a local folder by default (see `MonitoringConfig.workspace_path`). Each monitoring
run adds its reports as snapshots, tagged with the report kind, the model versions and prompt
versions in the window and the window itself; the dashboard plots them over time in three
sections (latency, drift, quality). ``copyloop monitor ui`` serves the folder with Evidently's UI.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from evidently.sdk.models import DashboardPanelPlot, PanelMetric
from evidently.sdk.panels import counter_panel, line_plot_panel, text_panel
from evidently.ui.workspace import Workspace

from monitoring.reports import DRIFT_INPUTS, DRIFT_OUTPUTS, EMBEDDING_COLUMNS

__all__ = [
    "DASHBOARD_PANELS",
    "add_snapshot",
    "delete_snapshots",
    "ensure_project",
    "open_workspace",
    "snapshot_ids",
    "ui_command",
]

WATCHED_COLUMNS = [*DRIFT_INPUTS, *DRIFT_OUTPUTS]


def _metric(metric: str, legend: str, report: str, **labels: str) -> PanelMetric:
    return PanelMetric(legend=legend, metric=metric, metric_labels=labels, tags=[f"report:{report}"])


def _dashboard() -> list[DashboardPanelPlot]:
    latency = [
        text_panel(title="Latency", description="Per generated variant, from the feedback store."),
        line_plot_panel(
            title="End-to-end latency (s)",
            values=[
                _metric("QuantileValue", f"p{int(q * 100)}", "latency", column="latency_s", quantile=str(q))
                for q in (0.5, 0.95, 0.99)
            ],
            size="full",
        ),
        line_plot_panel(
            title="Time to first token and queue time, p95 (s)",
            values=[
                _metric("QuantileValue", "time to first token", "latency", column="ttft_s", quantile="0.95"),
                _metric("QuantileValue", "queue", "latency", column="queue_s", quantile="0.95"),
            ],
            size="half",
        ),
        line_plot_panel(
            title="Output tokens per second (mean)",
            values=[_metric("MeanValue", "tokens/s", "latency", column="tokens_per_s")],
            size="half",
        ),
        counter_panel(
            title="Generated variants",
            values=[_metric("RowCount", "variants", "latency")],
            aggregation="sum",
            size="half",
        ),
    ]
    drift = [
        text_panel(title="Drift", description="The window against its reference window, on sampled rows."),
        line_plot_panel(
            title="Share of drifted input and output columns",
            values=[
                _metric(
                    "DriftedColumnsCount", "share", "drift", value_type="share", columns=str(WATCHED_COLUMNS)
                )
            ],
            size="half",
        ),
        line_plot_panel(
            title="Embedding drift of subjects and bodies (test p-value)",
            values=[
                _metric("ValueDrift", column.split("_")[0], "drift", column=column)
                for column in EMBEDDING_COLUMNS
            ],
            size="half",
        ),
        line_plot_panel(
            title="Subject and body length (mean characters)",
            values=[
                _metric("MeanValue", "subject", "drift", column="subject_chars"),
                _metric("MeanValue", "body", "drift", column="body_chars"),
            ],
            size="half",
        ),
        line_plot_panel(
            title="Capitals and exclamation marks (mean ratios)",
            values=[
                _metric("MeanValue", "subject capitals", "drift", column="subject_caps_ratio"),
                _metric("MeanValue", "subject '!' per word", "drift", column="subject_exclamation_ratio"),
                _metric("MeanValue", "body '!' per word", "drift", column="body_exclamation_ratio"),
            ],
            size="half",
        ),
    ]
    quality = [
        text_panel(title="Quality", description="Marketer verdicts, gate blocks and email outcomes."),
        line_plot_panel(
            title="Acceptance rate",
            values=[
                _metric("MeanValue", "accepted", "quality", column="accepted"),
                _metric("MeanValue", "edited", "quality", column="edited"),
            ],
            size="half",
        ),
        line_plot_panel(
            title="Gate block rate",
            values=[_metric("MeanValue", "blocked", "quality", column="blocked")],
            size="half",
        ),
        line_plot_panel(
            title="Outcome rates per send",
            values=[
                _metric("MeanValue", flag, "quality", column=flag)
                for flag in ("opened", "clicked", "converted", "unsubscribed")
            ],
            size="full",
        ),
    ]
    # One line per prompt version, adapter or reward model: the report's acceptance grouped by each.
    loop = [
        text_panel(
            title="Learning loop",
            description="Acceptance by what generated the variant: prompt version, adapter, reward model.",
        ),
        *(
            line_plot_panel(
                title=f"Acceptance by {name}",
                values=[
                    PanelMetric(
                        legend=f"{name} {{{{label}}}}",
                        metric="GroupByMetric",
                        metric_labels={"column_name": column},
                        tags=["report:quality"],
                    )
                ],
                size="full" if column == "prompt_version" else "half",
            )
            for name, column in (
                ("prompt version", "prompt_version"),
                ("adapter", "adapter"),
                ("reward model", "reward_model"),
            )
        ),
    ]
    return [*latency, *drift, *quality, *loop]


# Titles of the plotted panels (the section headings are text panels).
DASHBOARD_PANELS = tuple(panel.title for panel in _dashboard() if panel.values)


def open_workspace(path: Path) -> Workspace:
    """The Evidently workspace in `path`, created when missing."""
    path.mkdir(parents=True, exist_ok=True)
    return Workspace(str(path))


def ensure_project(workspace: Workspace, name: str, description: str = "") -> Any:
    """The project named `name`, created with the copyloop dashboard when it does not exist."""
    for project in workspace.search_project(name):
        return project
    project = workspace.create_project(name, description or "copyloop generation monitoring")
    # One page without tabs: everything at a glance, and every panel renders when the page opens.
    for panel in _dashboard():
        project.dashboard.add_panel(panel)
    return project


def add_snapshot(workspace: Workspace, project_id: Any, snapshot: Any) -> str:
    """Store a report's snapshot in the project; returns the snapshot id."""
    ref = workspace.add_run(project_id, snapshot, include_data=False)
    return str(ref.id)


def snapshot_ids(workspace: Workspace, project_id: Any) -> set[str]:
    """The ids of the project's snapshots."""
    return {str(sid) for sid in workspace.list_runs(project_id)}


def delete_snapshots(workspace: Workspace, project_id: Any, ids: Sequence[str]) -> None:
    """Remove snapshots that exist (a half-finished earlier run of the same window)."""
    existing = snapshot_ids(workspace, project_id)
    for sid in ids:
        if sid in existing:
            workspace.delete_run(project_id, sid)


def ui_command(
    workspace_path: Path, host: str = "127.0.0.1", port: int = 8000
) -> tuple[list[str], dict[str, str]]:
    """The command and environment that serve Evidently's UI on the workspace with telemetry off."""
    env = {**os.environ, "DO_NOT_TRACK": "1"}
    command = [
        sys.executable,
        "-m",
        "evidently.cli",
        "ui",
        "--workspace",
        str(workspace_path),
        "--host",
        host,
        "--port",
        str(port),
    ]
    return command, env


def run_ui(workspace_path: Path, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Serve Evidently's UI on the workspace until interrupted; returns the server's exit code."""
    command, env = ui_command(workspace_path, host, port)
    return subprocess.call(command, env=env)
