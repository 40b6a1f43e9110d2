"""Fixtures: a small simulated history in SQLite, copied for each test, and settings that fit it.

The history is written once per session (about two seconds) and every test gets its own copy of
the database file, so tests may add rows without seeing each other's.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from feedback.db import make_engine, upgrade
from genai.embed import HashingEmbedder
from monitoring.config import MonitoringConfig, load_config
from monitoring.demo_history import simulate
from tests.support.monitoring import (
    SMALL,
    SMALL_OVERRIDES,
    WEBHOOK,
    Backfill,
    SimulatedStore,
    day_end,
    isolated_run,
    recording_client,
)


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
