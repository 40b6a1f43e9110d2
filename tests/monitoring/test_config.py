"""Settings: the shipped defaults, a user's file merged over them, and clear refusals of mistakes."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitoring.config import load_config
from monitoring.errors import InvalidInputError


def test_defaults_come_from_the_shipped_file() -> None:
    config = load_config()
    assert config.latency.p95_latency_s == 12.0
    assert config.drift.sample_rows == 300
    assert config.quality.min_acceptance_rate == 0.35
    assert config.project_per == "workspace"


def test_default_folders_are_under_the_data_directory(tmp_path: Path) -> None:
    config = load_config()
    assert config.workspace_path(tmp_path / "data") == tmp_path / "data" / "monitoring" / "workspace"
    assert config.reports_path(tmp_path / "data") == tmp_path / "data" / "monitoring" / "reports"


def test_a_user_file_changes_only_the_keys_it_names(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text(
        "latency:\n  p95_latency_s: 4.5\nwebhook_url: https://hooks.example/x\n", encoding="utf-8"
    )
    config = load_config(path)
    assert config.latency.p95_latency_s == 4.5
    assert config.latency.p99_latency_s == 25.0
    assert config.webhook_url == "https://hooks.example/x"


def test_the_environment_names_the_user_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from serving.settings import load_settings

    path = tmp_path / "ops.yaml"
    path.write_text("quality:\n  min_open_rate: 0.2\n", encoding="utf-8")
    monkeypatch.setenv("COPYLOOP_MONITORING_CONFIG", str(path))
    assert load_config(load_settings().monitoring_config).quality.min_open_rate == 0.2
    assert load_config().quality.min_open_rate != 0.2  # the library itself reads no environment


def test_a_misspelt_key_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text("latency:\n  p95_latncy_s: 4\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as info:
        load_config(path)
    assert info.value.field == "latency.p95_latncy_s"


def test_an_out_of_range_threshold_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        load_config(overrides={"quality": {"min_open_rate": 1.5}})
    assert info.value.field == "quality.min_open_rate"


def test_a_file_that_is_not_yaml_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "monitoring.yaml"
    path.write_text("latency: [unclosed\n", encoding="utf-8")
    with pytest.raises(InvalidInputError, match="not valid YAML"):
        load_config(path)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")
