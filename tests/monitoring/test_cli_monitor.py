"""`copyloop monitor`: exit status for cron, the UI with telemetry off, and the demo history."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

import genai.embed
import monitoring.workspace
from genai.embed import HashingEmbedder
from serving.cli_monitor import monitor
from tests.support.monitoring import SMALL_OVERRIDES, day_end


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A settings file for the small history; the embedding model is replaced by a stand-in."""
    monkeypatch.setattr(genai.embed, "default_embedder", HashingEmbedder)
    path = tmp_path / "monitoring.yaml"
    data: dict[str, Any] = {
        **SMALL_OVERRIDES,
        "workspace_dir": str(tmp_path / "evidently"),
        "reports_dir": str(tmp_path / "reports"),
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _run(store_url: str, config_file: Path, day: int) -> Any:
    now = (day_end(day) + dt.timedelta(hours=2)).isoformat()
    args = [
        "run",
        "--window",
        "24h",
        "--reference",
        "3d",
        "--database",
        store_url,
        "--config",
        str(config_file),
    ]
    return CliRunner().invoke(monitor, [*args, "--now", now, "--quiet"])


def test_run_exits_1_and_names_the_failed_tests_on_the_planted_regression(
    store_url: str, config_file: Path
) -> None:
    result = _run(store_url, config_file, 9)
    assert result.exit_code == 1, result.output
    assert "[latency] Quantile 0.95 of 'latency_s': Less or Equal 12.000" in result.output
    assert "reports:" in result.output


def test_run_exits_0_on_a_clean_window(store_url: str, config_file: Path) -> None:
    result = _run(store_url, config_file, 5)
    assert result.exit_code == 0, result.output
    assert "added, 0 failed test(s)" in result.output


def test_run_exits_2_with_a_message_on_a_bad_window(store_url: str, config_file: Path) -> None:
    result = CliRunner().invoke(
        monitor, ["run", "--window", "a day", "--database", store_url, "--config", str(config_file)]
    )
    assert result.exit_code == 2
    assert "window: 'a day' is not a duration" in result.output


def test_ui_serves_the_workspace_with_telemetry_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def fake_call(command: list[str], env: dict[str, str]) -> int:
        calls.append((command, env))
        return 0

    monkeypatch.setattr(monitoring.workspace.subprocess, "call", fake_call)
    result = CliRunner().invoke(monitor, ["ui", "--workspace-dir", str(tmp_path / "ws"), "--port", "8123"])
    assert result.exit_code == 0, result.output
    ((command, env),) = calls
    assert command[1:4] == ["-m", "evidently.cli", "ui"]
    assert command[command.index("--workspace") + 1] == str(tmp_path / "ws")
    assert command[command.index("--port") + 1] == "8123"
    assert env["DO_NOT_TRACK"] == "1"


def test_simulate_writes_a_demo_history(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = CliRunner().invoke(
        monitor, ["simulate", "--database", url, "--days", "8", "--end", "2025-06-01"]
    )
    assert result.exit_code == 0, result.output
    assert "workspace 'Wick & Willow demo'" in result.output
    assert "latency regression from 2025-05-30" in result.output
    again = CliRunner().invoke(monitor, ["simulate", "--database", url, "--days", "8", "--end", "2025-06-01"])
    assert again.exit_code == 2
    assert "exists" in again.output


def test_run_on_a_database_without_the_schema_says_so(tmp_path: Path, config_file: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = CliRunner().invoke(monitor, ["run", "--database", url, "--config", str(config_file), "--quiet"])
    assert result.exit_code == 2
    assert "database_url: could not read the feedback store" in result.output


def test_run_reads_the_thresholds_file_the_environment_names(
    store_url: str, config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPYLOOP_MONITORING_CONFIG", str(config_file))
    now = (day_end(9) + dt.timedelta(hours=2)).isoformat()
    args = ["run", "--window", "24h", "--reference", "3d", "--database", store_url, "--now", now, "--quiet"]
    result = CliRunner().invoke(monitor, args)
    assert result.exit_code == 1, result.output
    assert f"reports: {tmp_path / 'reports'}" in result.output
