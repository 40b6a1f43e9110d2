"""`copyloop serve` and `copyloop keys`: the server starts from the command line, keys print once."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi import FastAPI

from feedback.api_keys import authenticate
from feedback.db import make_engine, session_factory
from serving.cli import cli


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_keys_create_prints_only_the_key_and_it_authenticates(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    result = CliRunner().invoke(
        cli, ["keys", "create", "--workspace", "acme", "--role", "analyst", "--database", url]
    )
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("cl_") and "\n" not in token
    assert "created workspace 'acme'" in result.stderr and "shown only once" in result.stderr
    engine = make_engine(url)
    try:
        with session_factory(engine)() as session:
            row = authenticate(session, token)
            assert row is not None and row.role == "analyst"
    finally:
        engine.dispose()
    listed = CliRunner().invoke(cli, ["keys", "list", "--workspace", "acme", "--database", url])
    assert listed.exit_code == 0 and f"{row.id}\tanalyst\tactive" in listed.stdout
    assert token.rsplit("_", 1)[1] not in listed.stdout
    revoked = CliRunner().invoke(cli, ["keys", "revoke", row.id, "--workspace", "acme", "--database", url])
    assert revoked.exit_code == 0
    assert (
        "revoked"
        in CliRunner().invoke(cli, ["keys", "list", "--workspace", "acme", "--database", url]).stdout
    )


def test_keys_create_refuses_an_unknown_role_and_revoke_an_unknown_key(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'keys.db'}"
    bad = CliRunner().invoke(
        cli, ["keys", "create", "--workspace", "a", "--role", "owner", "--database", url]
    )
    assert bad.exit_code == 2 and "owner" in bad.output
    CliRunner().invoke(cli, ["keys", "create", "--workspace", "a", "--role", "admin", "--database", url])
    missing = CliRunner().invoke(
        cli, ["keys", "revoke", "0123456789ab", "--workspace", "a", "--database", url]
    )
    assert missing.exit_code == 2 and "no API key '0123456789ab'" in missing.stderr


def test_serve_passes_its_options_to_uvicorn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def fake_run(app: Any, **options: Any) -> None:
        calls.append({"app": app, **options})

    monkeypatch.setattr("uvicorn.run", fake_run)
    url = f"sqlite:///{tmp_path / 'api.db'}"
    args = [
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "9001",
        "--backend",
        "fake",
        "--database",
        url,
        "--no-migrate",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    call = calls[0]
    assert isinstance(call["app"], FastAPI) and (call["host"], call["port"]) == ("0.0.0.0", 9001)
    assert "backend fake" in result.stderr
    defaults = CliRunner().invoke(cli, ["serve"])
    assert defaults.exit_code == 0
    assert (calls[1]["host"], calls[1]["port"]) == ("127.0.0.1", 8000)
    assert "backend transformers" in defaults.stderr
    bad = CliRunner().invoke(cli, ["serve", "--port", "70000"])
    assert bad.exit_code == 2


def test_copyloop_serve_answers_health_and_readiness(tmp_path: Path) -> None:
    port = free_port()
    url = f"sqlite:///{tmp_path / 'api.db'}"
    command = [
        sys.executable,
        "-m",
        "serving.cli",
        "serve",
        "--backend",
        "fake",
        "--port",
        str(port),
        "--database",
        url,
    ]
    process = subprocess.Popen(
        command, env=os.environ.copy(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1)
                if ready.status_code == 200:
                    break
            except httpx.TransportError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.2)
        assert ready.status_code == 200 and ready.json()["status"] == "ready"
        assert httpx.get(f"http://127.0.0.1:{port}/v1/me").status_code == 401
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=20)
        if process.stderr:
            process.stderr.close()
