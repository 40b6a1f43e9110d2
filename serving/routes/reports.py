"""Monitoring reports for analysts: the list, and the latest HTML report of each kind."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import FileResponse

from feedback.errors import NotFoundError
from feedback.tenancy import get_workspace
from serving.deps import Analyst, RuntimeDep, SessionDep
from serving.routes import COMMON_ERRORS
from serving.settings import Settings

__all__ = ["router"]

router = APIRouter(prefix="/v1/reports", tags=["reports"])

Kind = Literal["latency", "drift", "quality"]


def _project(session: Any, workspace_id: str) -> str:
    # the monitoring job names a workspace's project "copyloop · <workspace name>"
    return f"copyloop · {get_workspace(session, workspace_id).name}"


def _reports_dir(settings: Settings) -> Path:
    """Where the monitoring job writes reports, as the monitoring settings and the data folder say."""
    from monitoring.config import load_config

    return load_config(settings.monitoring_config).reports_path(settings.data_dir)


@router.get("", responses=COMMON_ERRORS)
def list_reports_route(key: Analyst, session: SessionDep, runtime: RuntimeDep) -> list[dict[str, Any]]:
    """The caller's workspace's monitoring reports, newest window first."""
    from monitoring import list_reports

    reports = list_reports(_reports_dir(runtime.settings), project=_project(session, key.workspace_id))
    return [{k: v for k, v in r.as_dict().items() if k not in ("html_path", "json_path")} for r in reports]


@router.get("/{kind}/latest", responses=COMMON_ERRORS, response_class=FileResponse)
def latest_report_route(kind: Kind, key: Analyst, session: SessionDep, runtime: RuntimeDep) -> FileResponse:
    """The latest HTML report of one kind (latency, drift or quality)."""
    from monitoring import latest_report

    report = latest_report(kind, _reports_dir(runtime.settings), project=_project(session, key.workspace_id))
    if report is None or not report.html_path.exists():
        raise NotFoundError(
            f"no {kind} report yet for this workspace; run `copyloop monitor run`", field="kind"
        )
    return FileResponse(report.html_path, media_type="text/html")
