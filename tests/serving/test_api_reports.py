"""GET /v1/reports: analysts see their own workspace's monitoring reports, and only those."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from monitoring.reportfiles import slugify
from tests.support.live_server import LiveServer, Tenant


def _write_report(data_dir: Path, workspace_name: str, window_key: str, failed: int) -> Path:
    root = data_dir / "monitoring" / "reports"
    folder = root / slugify(f"copyloop · {workspace_name}") / window_key
    folder.mkdir(parents=True)
    run = {
        "project": f"copyloop · {workspace_name}",
        "window": {"start": "2026-11-24T00:00:00+00:00", "end": "2026-11-25T00:00:00+00:00"},
        "reports": {"latency": {"failed": failed}},
    }
    (folder / "run.json").write_text(json.dumps(run))
    (folder / "latency.html").write_text(f"<html><body>latency report {workspace_name}</body></html>")
    (folder / "latency.json").write_text("{}")
    return folder


def test_analyst_lists_and_reads_the_latest_report_of_its_workspace(
    server: LiveServer, tenant: Tenant
) -> None:
    other = server.tenant()
    _write_report(server.settings.data_dir, tenant.name, "20261125T000000Z_1d_ref1w", failed=2)
    _write_report(server.settings.data_dir, other.name, "20261125T000000Z_1d_ref1w", failed=0)
    with server.client(tenant, role="analyst") as client:
        listed = client.get("/v1/reports")
        assert listed.status_code == 200
        [report] = listed.json()
        assert report["kind"] == "latency" and report["failed_tests"] == 2
        assert report["project"] == f"copyloop · {tenant.name}"
        assert "html_path" not in report
        page = client.get("/v1/reports/latency/latest")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert f"latency report {tenant.name}" in page.text
        missing = client.get("/v1/reports/drift/latest")
        assert missing.status_code == 404
        assert missing.json()["error"]["field"] == "kind"


def test_reports_need_the_analyst_role(server: LiveServer, tenant: Tenant) -> None:
    with server.client(tenant, role="marketer") as client:
        assert client.get("/v1/reports").status_code == 403
    with httpx.Client(base_url=server.base_url) as anonymous:
        assert anonymous.get("/v1/reports").status_code == 401
