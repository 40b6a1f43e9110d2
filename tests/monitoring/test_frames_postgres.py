"""The monitoring queries on PostgreSQL read the same rows as on SQLite (the dialects differ in places)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pandas as pd
import pytest
from sqlalchemy import Engine

from feedback.db import make_engine, upgrade
from monitoring.demo_history import simulate
from monitoring.frames import MonitoringFrames, load_frames, scopes
from monitoring.windows import monitoring_window
from tests.support.monitoring import SMALL, day_end
from tests.support.postgres import drop_schema, new_postgres_schema

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def postgres_store() -> Iterator[Engine]:
    """The same simulated history as the SQLite template, written into a fresh PostgreSQL schema."""
    schema, url = new_postgres_schema("monitoring")
    engine = make_engine(url)
    try:
        upgrade(engine)
        simulate(engine, SMALL)
        yield engine
    finally:
        engine.dispose()
        drop_schema(schema)


def _frames(engine: Engine, day: int) -> MonitoringFrames:
    (scope,) = scopes(engine)
    return load_frames(engine, scope, monitoring_window("24h", "3d", day_end(day)))


RANDOM_IDS = ("request_id", "brand_id", "event_id", "contact_id")


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame without the ids that are random per store, in a canonical row order."""
    # ids of workspaces, brands, requests, events and contacts are random per store; the rest
    # (variant ids included) follows the simulator's seed
    out = frame.drop(columns=[c for c in RANDOM_IDS if c in frame])
    for column in out.columns:
        if out[column].dtype == object:
            # JSONB keeps object keys in its own order: compare JSON values, not key order
            out[column] = out[column].map(lambda value: json.dumps(value, sort_keys=True, default=str))
        elif str(out[column].dtype).startswith("datetime64"):
            out[column] = out[column].dt.round("ms")
    return out.sort_values(list(out.columns), kind="stable").reset_index(drop=True)


@pytest.mark.parametrize("day", [3, 7])
def test_a_window_reads_the_same_rows_from_postgresql_as_from_sqlite(
    postgres_store: Engine, store: Engine, day: int
) -> None:
    ours, theirs = _frames(postgres_store, day), _frames(store, day)
    assert len(ours.current) > 0 and len(ours.verdicts) > 0 and len(ours.sends) > 0
    assert ours.reference_requests == theirs.reference_requests
    for name in ("generations", "requests", "verdicts", "ratings", "sends"):
        pd.testing.assert_frame_equal(
            _comparable(getattr(ours, name)),
            _comparable(getattr(theirs, name)),
            check_dtype=False,
            check_exact=False,
            rtol=1e-6,
            obj=name,
        )
