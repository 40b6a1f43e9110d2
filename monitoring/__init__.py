"""Monitoring: metrics, Evidently reports, workspace and dashboards, the monitoring job."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names load on first use: Evidently takes seconds to import, and the API server only needs the
# report listing (`list_reports`, `latest_report`), which does not import it.

if TYPE_CHECKING:
    from monitoring.config import (
        DriftThresholds,
        LatencyThresholds,
        MonitoringConfig,
        QualityThresholds,
        load_config,
    )
    from monitoring.demo_history import SimulationConfig, SimulationResult, simulate
    from monitoring.errors import MonitoringError, WorkspaceLockedError
    from monitoring.frames import MonitoringFrames, Scope, load_frames, scopes
    from monitoring.job import JobResult, WindowRun, post_failures, run_monitoring
    from monitoring.reportfiles import ReportFile, latest_report, list_reports
    from monitoring.reports import (
        REPORT_KINDS,
        ReportResult,
        TestOutcome,
        drift_report,
        latency_report,
        quality_report,
    )
    from monitoring.tables import wilson_interval
    from monitoring.textstats import EmbeddingCache, edit_distance, embed_texts, text_descriptors
    from monitoring.vllm_metrics import VllmLatency, parse_vllm_metrics, read_vllm_metrics
    from monitoring.windows import Window, monitoring_window, parse_duration
    from monitoring.workspace import DASHBOARD_PANELS, ensure_project, open_workspace, ui_command

_EXPORTS: dict[str, str] = {
    "DASHBOARD_PANELS": "monitoring.workspace",
    "REPORT_KINDS": "monitoring.reports",
    "DriftThresholds": "monitoring.config",
    "EmbeddingCache": "monitoring.textstats",
    "JobResult": "monitoring.job",
    "LatencyThresholds": "monitoring.config",
    "MonitoringConfig": "monitoring.config",
    "MonitoringError": "monitoring.errors",
    "MonitoringFrames": "monitoring.frames",
    "QualityThresholds": "monitoring.config",
    "ReportFile": "monitoring.reportfiles",
    "ReportResult": "monitoring.reports",
    "Scope": "monitoring.frames",
    "SimulationConfig": "monitoring.demo_history",
    "SimulationResult": "monitoring.demo_history",
    "TestOutcome": "monitoring.reports",
    "VllmLatency": "monitoring.vllm_metrics",
    "Window": "monitoring.windows",
    "WindowRun": "monitoring.job",
    "WorkspaceLockedError": "monitoring.errors",
    "drift_report": "monitoring.reports",
    "edit_distance": "monitoring.textstats",
    "embed_texts": "monitoring.textstats",
    "ensure_project": "monitoring.workspace",
    "latency_report": "monitoring.reports",
    "latest_report": "monitoring.reportfiles",
    "list_reports": "monitoring.reportfiles",
    "load_config": "monitoring.config",
    "load_frames": "monitoring.frames",
    "monitoring_window": "monitoring.windows",
    "open_workspace": "monitoring.workspace",
    "parse_duration": "monitoring.windows",
    "parse_vllm_metrics": "monitoring.vllm_metrics",
    "post_failures": "monitoring.job",
    "quality_report": "monitoring.reports",
    "read_vllm_metrics": "monitoring.vllm_metrics",
    "run_monitoring": "monitoring.job",
    "scopes": "monitoring.frames",
    "simulate": "monitoring.demo_history",
    "text_descriptors": "monitoring.textstats",
    "ui_command": "monitoring.workspace",
    "wilson_interval": "monitoring.tables",
}

__all__ = [
    "DASHBOARD_PANELS",
    "REPORT_KINDS",
    "DriftThresholds",
    "EmbeddingCache",
    "JobResult",
    "LatencyThresholds",
    "MonitoringConfig",
    "MonitoringError",
    "MonitoringFrames",
    "QualityThresholds",
    "ReportFile",
    "ReportResult",
    "Scope",
    "SimulationConfig",
    "SimulationResult",
    "TestOutcome",
    "VllmLatency",
    "Window",
    "WindowRun",
    "WorkspaceLockedError",
    "drift_report",
    "edit_distance",
    "embed_texts",
    "ensure_project",
    "latency_report",
    "latest_report",
    "list_reports",
    "load_config",
    "load_frames",
    "monitoring_window",
    "open_workspace",
    "parse_duration",
    "parse_vllm_metrics",
    "post_failures",
    "quality_report",
    "read_vllm_metrics",
    "run_monitoring",
    "scopes",
    "simulate",
    "text_descriptors",
    "ui_command",
    "wilson_interval",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'monitoring' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
