"""The monitoring job: snapshots, pages, alerts, exit status, and reruns that change nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

import monitoring.job
from monitoring.config import MonitoringConfig
from monitoring.errors import MonitoringError, WorkspaceLockedError
from monitoring.job import _locked
from monitoring.reportfiles import latest_report, list_reports
from monitoring.workspace import open_workspace
from tests.support.monitoring import WEBHOOK, Backfill, day_end, isolated_run, recording_client


def _tree(root: Path) -> dict[str, str]:
    """Every file under `root` with a hash of its bytes."""
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and path.name != ".monitoring.lock"
    }


def _snapshots(config: MonitoringConfig) -> list[dict[str, Any]]:
    workspace = open_workspace(config.workspace_path())
    (project,) = workspace.list_projects()
    return [workspace.get_run(project.id, sid).dict() for sid in workspace.list_runs(project.id)]


def test_the_planted_regression_fails_the_job(backfill: Backfill) -> None:
    assert backfill.result.failed
    assert backfill.result.exit_code == 1
    last = backfill.result.runs[-1]
    assert last.window.end == day_end(9)
    reports = {failure["report"] for failure in last.failures}
    assert "latency" in reports
    assert any(f["name"] == "Quantile 0.95 of 'latency_s': Less or Equal 12.000" for f in last.failures)


def test_the_clean_window_passes(backfill: Backfill) -> None:
    first = backfill.result.runs[0]
    assert first.window.end == day_end(5)
    assert first.failures == []
    assert all(entry["tests"] > 0 for entry in first.reports.values())


def test_windows_run_oldest_first_with_the_planted_drift_in_between(backfill: Backfill) -> None:
    ends = [run.window.end for run in backfill.result.runs]
    assert ends == sorted(ends) == [day_end(day) for day in range(5, 10)]
    drifted = backfill.result.runs[1]
    assert any(f["report"] == "drift" for f in drifted.failures)


def test_every_report_is_stored_as_page_json_and_snapshot(backfill: Backfill) -> None:
    snapshots = _snapshots(backfill.config)
    assert len(snapshots) == 5 * 3
    for run in backfill.result.runs:
        for kind in ("latency", "drift", "quality"):
            assert (run.folder / f"{kind}.html").stat().st_size > 0
            data = json.loads((run.folder / f"{kind}.json").read_text("utf-8"))
            assert data["report"] == kind
        assert json.loads((run.folder / "run.json").read_text("utf-8"))["failures"] == run.failures


def test_snapshots_are_tagged_with_report_models_prompts_and_window(backfill: Backfill) -> None:
    snapshot = next(
        s
        for s in _snapshots(backfill.config)
        if "report:latency" in s["tags"] and "window_end:" in "".join(s["tags"])
    )
    tags = set(snapshot["tags"])
    assert {"report:latency", "prompt:holiday-v2", "window:1d/3d"} <= tags
    assert any(tag.startswith("model:google/") for tag in tags)
    assert snapshot["metadata"]["window_start"]


def test_failed_windows_are_posted_to_the_webhook(backfill: Backfill) -> None:
    failing = [run for run in backfill.result.runs if run.failures]
    assert len(backfill.posts) == len(failing) == 4
    last = backfill.posts[-1]
    assert last["url"] == WEBHOOK
    assert last["json"]["failed_tests"] == backfill.result.runs[-1].failures
    assert last["json"]["window"]["end"] == day_end(9).isoformat()
    assert set(last["json"]["reports"]) == {"latency", "drift", "quality"}
    assert all(run.webhook and run.webhook["delivered"] for run in failing)


def test_running_again_for_the_same_windows_changes_nothing(backfill: Backfill) -> None:
    before = _tree(backfill.root / "reports") | {
        f"evidently/{k}": v for k, v in _tree(backfill.root / "evidently").items()
    }
    posts = len(backfill.posts)
    with recording_client(backfill.posts) as client:
        again = isolated_run(
            backfill.root,
            backfill.store_url,
            backfill.config,
            window="24h",
            reference="3d",
            now=backfill.now + dt.timedelta(hours=3),
            windows=5,
            http_client=client,
        )
    after = _tree(backfill.root / "reports") | {
        f"evidently/{k}": v for k, v in _tree(backfill.root / "evidently").items()
    }
    assert all(run.reused for run in again.runs)
    assert after == before
    assert len(backfill.posts) == posts
    assert again.failures == backfill.result.failures
    assert again.exit_code == 1


def test_stored_reports_are_listed_newest_first(backfill: Backfill) -> None:
    reports = list_reports(backfill.config.reports_path())
    assert len(reports) == 15
    assert reports[0].window_end >= reports[-1].window_end
    latest = latest_report("latency", backfill.config.reports_path())
    assert latest is not None and latest.window_end == day_end(9).isoformat()
    assert latest.failed_tests > 0
    assert latest.html_path.is_file()
    assert latest_report("latency", backfill.config.reports_path(), project="no such project") is None


def test_an_interrupted_window_is_redone_without_duplicate_snapshots(
    store_url: str, config: MonitoringConfig, tmp_path: Path
) -> None:
    now = day_end(5) + dt.timedelta(hours=1)
    first = isolated_run(tmp_path, store_url, config, window="24h", reference="3d", now=now)
    (first.runs[0].folder / "drift.json").unlink()  # as if the run had stopped half-way
    again = isolated_run(tmp_path, store_url, config, window="24h", reference="3d", now=now)
    assert not again.runs[0].reused
    assert len(_snapshots(config)) == 3
    assert (again.runs[0].folder / "drift.json").is_file()


def test_force_recomputes_a_stored_window(store_url: str, config: MonitoringConfig, tmp_path: Path) -> None:
    now = day_end(5) + dt.timedelta(hours=1)
    isolated_run(tmp_path, store_url, config, window="24h", reference="3d", now=now)
    again = isolated_run(tmp_path, store_url, config, window="24h", reference="3d", now=now, force=True)
    assert not again.runs[0].reused
    assert len(_snapshots(config)) == 3


def test_an_unreachable_webhook_is_retried_recorded_and_retried_next_run(
    store_url: str, config: MonitoringConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitoring.job.time, "sleep", lambda _s: None)
    now = day_end(9) + dt.timedelta(hours=1)
    refused: list[dict[str, Any]] = []
    with recording_client(refused, status=503) as client:
        first = isolated_run(
            tmp_path,
            store_url,
            config,
            window="24h",
            reference="3d",
            now=now,
            webhook_url=WEBHOOK,
            http_client=client,
        )
    assert len(refused) == monitoring.job.WEBHOOK_ATTEMPTS
    assert first.runs[0].webhook == {
        "url": WEBHOOK,
        "delivered": False,
        "attempts": 3,
        "status": 503,
        "error": "HTTP 503",
    }
    assert first.exit_code == 1
    delivered: list[dict[str, Any]] = []
    with recording_client(delivered) as client:
        second = isolated_run(
            tmp_path,
            store_url,
            config,
            window="24h",
            reference="3d",
            now=now,
            webhook_url=WEBHOOK,
            http_client=client,
        )
    assert second.runs[0].reused
    assert len(delivered) == 1
    assert second.runs[0].webhook is not None and second.runs[0].webhook["delivered"]


def test_a_refused_payload_is_not_sent_again(
    store_url: str, config: MonitoringConfig, tmp_path: Path
) -> None:
    now = day_end(9) + dt.timedelta(hours=1)
    refused: list[dict[str, Any]] = []
    with recording_client(refused, status=400) as client:
        result = isolated_run(
            tmp_path,
            store_url,
            config,
            window="24h",
            reference="3d",
            now=now,
            webhook_url=WEBHOOK,
            http_client=client,
        )
    assert len(refused) == 1
    assert result.runs[0].webhook is not None and result.runs[0].webhook["status"] == 400


def test_one_project_per_brand_when_configured(
    store_url: str, config: MonitoringConfig, tmp_path: Path
) -> None:
    per_brand = dataclasses.replace(config, project_per="brand")
    result = isolated_run(tmp_path, store_url, per_brand, window="24h", reference="3d", now=day_end(5))
    assert [run.project for run in result.runs] == ["copyloop · Wick & Willow demo · Wick & Willow"]


def test_an_unknown_workspace_is_an_error(store_url: str, config: MonitoringConfig, tmp_path: Path) -> None:
    with pytest.raises(MonitoringError) as info:
        isolated_run(tmp_path, store_url, config, workspace="nobody", now=day_end(5))
    assert info.value.field == "workspace"


def test_a_second_run_at_the_same_time_gives_up_on_the_lock(
    store_url: str, config: MonitoringConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(monitoring.job, "LOCK_TIMEOUT_S", 0.3)
    with _locked(config.reports_path()), pytest.raises(WorkspaceLockedError):
        isolated_run(tmp_path, store_url, config, window="24h", reference="3d", now=day_end(5))


def test_pages_of_old_windows_are_pruned(store_url: str, config: MonitoringConfig, tmp_path: Path) -> None:
    keep_one = dataclasses.replace(config, keep_html_windows=1)
    result = isolated_run(
        tmp_path, store_url, keep_one, window="24h", reference="3d", now=day_end(6), windows=2
    )
    old, new = result.runs
    assert not list(old.folder.glob("*.html"))
    assert len(list(old.folder.glob("*.json"))) == 4
    assert len(list(new.folder.glob("*.html"))) == 3


def test_vllm_metrics_are_read_for_the_latest_window(
    store_url: str, config: MonitoringConfig, tmp_path: Path
) -> None:
    from tests.support.vllm_metrics import EXPOSITION

    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, text=EXPOSITION)

    latency = dataclasses.replace(config.latency, vllm_metrics_url="http://vllm:8000/metrics")
    with_vllm = dataclasses.replace(config, latency=latency)
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = isolated_run(
            tmp_path,
            store_url,
            with_vllm,
            window="24h",
            reference="3d",
            now=day_end(5),
            windows=2,
            http_client=client,
        )
    assert seen == ["/metrics"]
    older, latest = (
        json.loads(Path(run.reports["latency"]["json"]).read_text("utf-8")) for run in result.runs
    )
    assert "vllm_server_since_start" not in older["tables"]
    assert latest["tables"]["vllm_server_since_start"][0]["metric"] == "queue_s"
    assert any(test["name"].startswith("vLLM queue time p95") for test in latest["tests"])


def test_an_unreachable_vllm_endpoint_is_a_failed_check(
    store_url: str, config: MonitoringConfig, tmp_path: Path
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    latency = dataclasses.replace(config.latency, vllm_metrics_url="http://vllm:8000/metrics")
    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = isolated_run(
            tmp_path,
            store_url,
            dataclasses.replace(config, latency=latency),
            window="24h",
            reference="3d",
            now=day_end(5),
            http_client=client,
        )
    (failure,) = result.runs[0].failures
    assert failure["name"] == "vLLM metrics endpoint reachable"
    assert failure["status"] == "ERROR"
