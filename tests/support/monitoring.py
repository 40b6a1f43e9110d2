"""The monitoring tests' small simulated history, settings that fit it, and running the job on it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from genai.embed import HashingEmbedder
from monitoring.config import MonitoringConfig
from monitoring.demo_history import SimulationConfig, SimulationResult

if TYPE_CHECKING:
    from monitoring.job import JobResult

END = dt.datetime(2025, 12, 1, tzinfo=dt.UTC)
# Ten days: the prompt changes on day 2, drift starts on day 6, latency regresses from day 8.
SMALL = SimulationConfig(
    days=10,
    end=END,
    requests_per_day=10,
    recipients_per_variant=40,
    contacts_per_segment=200,
    experiment_recipients=1500,
    experiment_day=1,
    prompt_change_day=2,
    drift_day=6,
    latency_regression_day=8,
)
# Settings for windows of a few dozen variants: the defaults ask for more rows before testing.
SMALL_OVERRIDES: dict[str, Any] = {
    "latency": {"min_rows": 10},
    "drift": {"min_rows": 8},
    "quality": {"min_verdicts": 10, "min_candidates": 20, "min_sends": 50},
}


def day_end(index: int) -> dt.datetime:
    """The end of simulated day `index` (0-based): run the job at this moment to report that day."""
    return SMALL.day(index) + dt.timedelta(days=1)


@dataclass(frozen=True)
class SimulatedStore:
    """The template database file and what the simulator wrote into it."""

    path: Path
    result: SimulationResult


@dataclass
class Backfill:
    """Five daily windows (days 5 to 9) run once: a clean day, two drifted, two slow."""

    result: JobResult
    config: MonitoringConfig
    posts: list[dict[str, Any]]
    store_url: str
    now: dt.datetime
    root: Path


WEBHOOK = "https://hooks.example/copyloop"


def recording_client(posts: list[dict[str, Any]], status: int = 200) -> httpx.Client:
    """An HTTP client whose every POST is recorded (its JSON body) and answered with `status`."""

    def handler(request: httpx.Request) -> httpx.Response:
        posts.append({"url": str(request.url), "json": json.loads(request.content)})
        return httpx.Response(status)

    return httpx.Client(transport=httpx.MockTransport(handler))


def isolated_run(root: Path, url: str, config: MonitoringConfig, **kwargs: Any) -> JobResult:
    """`run_monitoring` with the data and cache folders under `root`, never the user's."""
    from monitoring.job import run_monitoring

    return run_monitoring(
        url,
        config=config,
        embedder=HashingEmbedder(),
        data_dir=root / "data",
        cache_dir=root / "cache",
        **kwargs,
    )
