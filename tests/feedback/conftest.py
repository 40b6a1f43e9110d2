"""Database fixtures: every test runs on SQLite (a temp file) and on PostgreSQL (a fresh schema).

Each PostgreSQL test gets its own schema, selected through the connection's ``search_path``, so tests
never see each other's rows; the migrations run into it and it is dropped afterwards. Set
``COPYLOOP_TEST_POSTGRES_URL`` to use another server than the local one.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import cache
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from feedback.db import make_engine, session_factory, upgrade
from tests.support.feedback import seed_workspace

POSTGRES_URL = os.environ.get(
    "COPYLOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@cache
def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URL} is not reachable: {type(exc).__name__}"
    finally:
        engine.dispose()
    return None


@pytest.fixture(scope="session")
def _schema_dropper() -> Iterator[ThreadPoolExecutor]:
    """Drops finished tests' schemas in the background; all are gone when the session ends."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        yield pool


def _drop_schema(schema: str) -> None:
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    finally:
        admin.dispose()


def new_postgres_schema(prefix: str) -> tuple[str, str]:
    """Create an empty PostgreSQL schema (or skip the test); return it and a URL whose search_path is it."""
    problem = _postgres_problem()
    if problem:
        pytest.skip(problem)
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
    finally:
        admin.dispose()
    separator = "&" if "?" in POSTGRES_URL else "?"
    return schema, f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"


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
        _schema_dropper.submit(_drop_schema, schema)


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
