"""Fixtures: a small simulated history in SQLite, copied for each test, and settings that fit it.

The history is written once per session (about two seconds) and every test gets its own copy of
the database file, so tests may add rows without seeing each other's.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import Engine

from feedback.db import make_engine, upgrade
from genai.embed import HashingEmbedder
from monitoring.config import MonitoringConfig, load_config
from monitoring.demo_history import SimulationConfig, SimulationResult, simulate

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


@pytest.fixture(scope="session")
def simulated_store(tmp_path_factory: pytest.TempPathFactory) -> SimulatedStore:
    """The small history, written once."""
    path = tmp_path_factory.mktemp("simulated") / "history.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    result = simulate(engine, SMALL)
    engine.dispose()  # closing the last connection folds the WAL into the file
    return SimulatedStore(path, result)


@pytest.fixture
def store_url(simulated_store: SimulatedStore, tmp_path: Path) -> str:
    """A URL to this test's own copy of the simulated history."""
    copy = tmp_path / "history.db"
    shutil.copyfile(simulated_store.path, copy)
    return f"sqlite:///{copy}"


@pytest.fixture
def store(store_url: str) -> Iterator[Engine]:
    """An engine on this test's copy of the simulated history."""
    engine = make_engine(store_url)
    yield engine
    engine.dispose()


@pytest.fixture
def config(tmp_path: Path) -> MonitoringConfig:
    """Settings sized for the small history, writing under this test's temp folder."""
    overrides = {
        **SMALL_OVERRIDES,
        "workspace_dir": str(tmp_path / "evidently"),
        "reports_dir": str(tmp_path / "reports"),
    }
    return load_config(overrides=overrides)


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


@pytest.fixture(scope="session")
def backfill(simulated_store: SimulatedStore, tmp_path_factory: pytest.TempPathFactory) -> Backfill:
    """The job over days 5 to 9 of the small history, with a webhook that records what it gets."""
    root = tmp_path_factory.mktemp("backfill")
    shutil.copyfile(simulated_store.path, root / "history.db")
    url = f"sqlite:///{root / 'history.db'}"
    config = load_config(
        overrides={
            **SMALL_OVERRIDES,
            "workspace_dir": str(root / "evidently"),
            "reports_dir": str(root / "reports"),
            "webhook_url": WEBHOOK,
        }
    )
    posts: list[dict[str, Any]] = []
    now = day_end(9) + dt.timedelta(hours=1)
    with recording_client(posts) as client:
        result = isolated_run(
            root, url, config, window="24h", reference="3d", now=now, windows=5, http_client=client
        )
    return Backfill(result, config, posts, url, now, root)


@pytest.fixture
def embedder() -> HashingEmbedder:
    """A fast stand-in for the embedding model (the notebooks run the real one)."""
    return HashingEmbedder()


def pytest_configure(config: pytest.Config) -> None:
    # Evidently imports deprecated numpy and litestar APIs; these belong with the third-party
    # deprecations of pyproject.toml, and are added here so this folder's tests pass either way.
    for line in (
        "ignore::DeprecationWarning:evidently.*",
        "ignore::DeprecationWarning:litestar.*",
    ):
        config.addinivalue_line("filterwarnings", line)
