"""The database going away under a real server: 503 in the envelope, and service again once it is back.

On SQLite the outage is another writer holding the database past the busy timeout; on PostgreSQL it
is a proxy in front of the server that drops every connection and refuses new ones.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import httpx
import pytest
from sqlalchemy import make_url

from tests.support.live_server import LiveServer, api_settings
from tests.support.postgres import drop_schema, new_postgres_schema
from tests.support.tcp_proxy import TcpProxy

Outage = Callable[[], AbstractContextManager[None]]
UNAVAILABLE = {
    "code": "database_unavailable",
    "message": "the database is unavailable; try again shortly",
    "field": None,
}


@contextmanager
def _sqlite_locked(path: Path) -> Iterator[None]:
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def outage(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[LiveServer, Outage]]:
    """A server, and a context manager during which its database cannot serve."""
    if request.param == "sqlite":
        # A writer waits this long for a lock before the driver gives up ("database is locked").
        monkeypatch.setattr("feedback.db.SQLITE_BUSY_TIMEOUT_MS", 200)
        path = tmp_path / "api.db"
        server = LiveServer(api_settings(f"sqlite:///{path}", tmp_path / "data")).start()
        try:
            yield server, lambda: _sqlite_locked(path)
        finally:
            server.stop()
        return
    schema, url = new_postgres_schema("outage")
    parsed = make_url(url)
    proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)

    @contextmanager
    def cut() -> Iterator[None]:
        proxy.cut()
        yield
        proxy.restore()

    proxied = parsed.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    server = LiveServer(api_settings(proxied, tmp_path / "data")).start()
    try:
        yield server, cut
    finally:
        server.stop()
        proxy.close()
        drop_schema(schema)


def test_a_database_outage_answers_503_and_the_requests_after_it_succeed(
    outage: tuple[LiveServer, Outage],
) -> None:
    server, down = outage
    cached, fresh = server.tenant(), server.tenant()
    with server.client(cached) as client:
        assert client.get("/v1/segments").status_code == 200  # its key is now verified and cached
    with down():
        # A key verified a moment ago reaches the route; an unseen one needs the database to log in.
        for tenant in (cached, fresh):
            with server.client(tenant) as client:
                response = client.get("/v1/segments")
            assert response.status_code == 503
            assert response.json()["error"] == UNAVAILABLE
            assert response.headers["retry-after"] == "5"
        ready = httpx.get(f"{server.base_url}/readyz")
        assert ready.status_code == 503 and ready.json()["database"] is False
        # No driver text (hosts, ports, users) for an anonymous caller; the log has it.
        assert ready.json()["detail"]["database"] == (
            "the database does not answer; the server's log has the reason"
        )
    # The pool hands out working connections again: nothing stays broken after the outage.
    for tenant in (cached, fresh):
        with server.client(tenant) as client:
            assert client.get("/v1/segments").status_code == 200
            assert client.post("/v1/segments", json={"name": "after"}).status_code == 201
    assert httpx.get(f"{server.base_url}/readyz").status_code == 200
