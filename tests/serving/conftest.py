"""The API tests' server fixtures: a real uvicorn server on a free port, on SQLite and on PostgreSQL.

The server is `tests.support.live_server.LiveServer`. Each test module gets its own database (a SQLite
file, or a fresh PostgreSQL schema dropped afterwards); tests stay apart by working in workspaces of
their own (`tenant`).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.support.live_server import LiveServer, Responder, Tenant, api_settings
from tests.support.postgres import drop_schema, new_postgres_schema


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An empty database for this module: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'api.db'}"
        return
    schema, url = new_postgres_schema("api")
    try:
        yield url
    finally:
        drop_schema(schema)


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The API on this module's database."""
    live = LiveServer(api_settings(database_url, tmp_path_factory.mktemp("data"))).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def responder(server: LiveServer) -> Iterator[Responder]:
    """The server's fake-backend replies, reset to fast and healthy after the test."""
    yield server.responder
    server.responder.reset()


@pytest.fixture
def tenant(server: LiveServer) -> Tenant:
    """A fresh workspace on the server."""
    return server.tenant()


@pytest.fixture
def api(server: LiveServer, tenant: Tenant) -> Iterator[httpx.Client]:
    """A client with the tenant's admin key."""
    with server.client(tenant) as client:
        yield client
