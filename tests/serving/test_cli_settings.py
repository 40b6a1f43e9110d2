"""The command line reads its settings from the environment and hands them to the libraries."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from serving.cli import cli


def test_db_upgrade_migrates_sqlite_in_the_data_directory_the_environment_names(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"sqlite:///{tmp_path / 'data' / 'copyloop.db'}: at revision ")
    assert (tmp_path / "data" / "copyloop.db").is_file()
    assert not (tmp_path / "user-data").exists()


def test_db_upgrade_follows_the_database_url_of_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPYLOOP_DATABASE_URL", f"sqlite:///{tmp_path / 'chosen.db'}")
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "chosen.db").is_file()
    assert not (tmp_path / "data" / "copyloop.db").exists()


def test_a_setting_that_does_not_validate_exits_2_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPYLOOP_MAX_BATCH", "0")
    result = CliRunner().invoke(cli, ["db", "upgrade"])
    assert result.exit_code == 2
    assert "error: max_batch: " in result.output


def test_monitor_simulate_writes_into_the_data_directory_the_environment_names(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["monitor", "simulate", "--days", "8", "--end", "2025-06-01"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "data" / "copyloop.db").is_file()
