"""PostgreSQL for the tests: the server's URL, and throwaway schemas that keep tests apart.

Each schema is selected through the connection's ``search_path``. Set ``COPYLOOP_TEST_POSTGRES_URL``
to use another server than the local one.
"""

from __future__ import annotations

import os
import secrets
from functools import cache
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

POSTGRES_URL = os.environ.get(
    "COPYLOOP_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@cache
def postgres_problem() -> str | None:
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


def drop_schema(schema: str) -> None:
    """Drop `schema` and everything in it."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    finally:
        admin.dispose()


def new_postgres_schema(prefix: str) -> tuple[str, str]:
    """Create an empty PostgreSQL schema (or skip the test); return it and a URL whose search_path is it."""
    problem = postgres_problem()
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
