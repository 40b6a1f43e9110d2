"""Monitoring settings and test thresholds: the shipped ``monitoring.yaml``, merged with a user's file.

Every default lives in that one YAML file. A user's file holds only the keys it changes; unknown
keys and out-of-range values are refused with the key named, so a typo never silently keeps a
default.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import ConfigDict, Field, TypeAdapter, ValidationError, with_config

from genai.errors import invalid_input
from genai.paths import user_data_dir
from monitoring.errors import InvalidInputError

__all__ = [
    "DEFAULTS_PATH",
    "DriftThresholds",
    "LatencyThresholds",
    "MonitoringConfig",
    "QualityThresholds",
    "load_config",
]

DEFAULTS_PATH = Path(__file__).with_name("monitoring.yaml")

Seconds = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Share = Annotated[float, Field(ge=0, le=1)]
Count = Annotated[int, Field(ge=1)]
_FORBID = ConfigDict(extra="forbid")


@with_config(_FORBID)
@dataclass(frozen=True)
class LatencyThresholds:
    """Limits of the latency report's tests."""

    p95_latency_s: Seconds
    p99_latency_s: Seconds
    p95_ttft_s: Seconds
    p95_time_per_output_token_s: Seconds
    p95_queue_s: Seconds
    min_tokens_per_s: Annotated[float, Field(ge=0)]
    min_rows: Count
    vllm_metrics_url: str | None


@with_config(_FORBID)
@dataclass(frozen=True)
class DriftThresholds:
    """Methods, limits and sample sizes of the drift report."""

    max_drift_share: Share
    num_method: str
    num_threshold: Annotated[float, Field(gt=0)]
    cat_method: str
    cat_threshold: Annotated[float, Field(gt=0)]
    embedding_method: str
    embedding_threshold: Annotated[float, Field(gt=0)]
    sample_rows: Annotated[int, Field(ge=10)]
    min_rows: Count


@with_config(_FORBID)
@dataclass(frozen=True)
class QualityThresholds:
    """Limits of the quality report's tests."""

    min_acceptance_rate: Share
    max_block_rate: Share
    max_mean_edit_distance: Share
    edit_sample: Count
    min_open_rate: Share
    min_click_rate: Share
    max_unsubscribe_rate: Share
    interval_level: Annotated[float, Field(gt=0, lt=1)]
    min_verdicts: Count
    min_candidates: Count
    min_sends: Count


@with_config(_FORBID)
@dataclass(frozen=True)
class MonitoringConfig:
    """Everything the monitoring job reads from its configuration file."""

    workspace_dir: Path | None
    reports_dir: Path | None
    keep_html_windows: Annotated[int, Field(ge=0)]
    project_per: Literal["workspace", "brand"]
    webhook_url: str | None
    webhook_timeout_s: Seconds
    latency: LatencyThresholds
    drift: DriftThresholds
    quality: QualityThresholds

    def workspace_path(self, data_dir: Path | None = None) -> Path:
        """The Evidently workspace folder: as configured, else under `data_dir` (the user data folder)."""
        return self.workspace_dir or (data_dir or user_data_dir()) / "monitoring" / "workspace"

    def reports_path(self, data_dir: Path | None = None) -> Path:
        """The folder of HTML and JSON reports: as configured, else under `data_dir` (the user data one)."""
        return self.reports_dir or (data_dir or user_data_dir()) / "monitoring" / "reports"

    def replace(self, **changes: Any) -> MonitoringConfig:
        """A copy with some top-level fields changed (sections are replaced whole)."""
        return dataclasses.replace(self, **changes)


_ADAPTER: TypeAdapter[MonitoringConfig] = TypeAdapter(MonitoringConfig)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror}", field="config") from exc
    except yaml.YAMLError as exc:
        raise InvalidInputError(f"{path} is not valid YAML: {exc}", field="config") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise InvalidInputError(f"{path} must hold a mapping of settings", field="config")
    return loaded


def _merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def load_config(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> MonitoringConfig:
    """The shipped defaults, merged with the user's file at `path`, if any, and `overrides`."""
    data = _read_yaml(DEFAULTS_PATH)
    if path is not None:
        data = _merge(data, _read_yaml(Path(path).expanduser()))
    if overrides:
        data = _merge(data, overrides)
    try:
        return _ADAPTER.validate_python(data)
    except ValidationError as exc:
        raise invalid_input(exc, fallback="config") from exc
