"""Database fixtures: every test runs on SQLite (a temp file) and on PostgreSQL (a fresh schema).

Each PostgreSQL test gets its own schema, selected through the connection's ``search_path``, so tests
never see each other's rows; the migrations run into it and it is dropped afterwards. Set
``COPYLOOP_TEST_POSTGRES_URL`` to use another server than the local one (see `tests.support.postgres`).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from feedback.db import make_engine, session_factory, upgrade
from tests.support.feedback import seed_workspace
from tests.support.postgres import drop_schema, new_postgres_schema


@pytest.fixture(scope="session")
def _schema_dropper() -> Iterator[ThreadPoolExecutor]:
    """Drops finished tests' schemas in the background; all are gone when the session ends."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(
    request: pytest.FixtureRequest, tmp_path: Path, _schema_dropper: ThreadPoolExecutor
) -> Iterator[str]:
    """A URL to an empty database of each kind, isolated from every other test."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'feedback.db'}"
        return
    schema, url = new_postgres_schema("t")
    try:
        yield url
    finally:
        # Dropping takes as long as migrating; the next test need not wait for it.
        _schema_dropper.submit(drop_schema, schema)


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on a freshly migrated database."""
    eng = make_engine(db_url)
    upgrade(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def factory(engine: Engine) -> sessionmaker[Session]:
    """The session factory of the migrated database."""
    return session_factory(engine)


@pytest.fixture
def workspace(factory: sessionmaker[Session]) -> tuple[str, list[str]]:
    """A committed workspace with three variants: ``(workspace_id, variant_ids)``."""
    with factory() as sess:
        return seed_workspace(sess)
