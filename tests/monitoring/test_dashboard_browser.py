"""The dashboard in a real browser: Evidently's UI on the workspace, opened by headless Chromium."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from monitoring.workspace import DASHBOARD_PANELS, ui_command
from tests.support.monitoring import Backfill

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (Debian: apt-get install -y chromium)"
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def ui_url(backfill: Backfill, tmp_path: Path) -> Iterator[str]:
    """Evidently's UI serving the backfilled workspace, stopped after the test."""
    port = _free_port()
    command, env = ui_command(backfill.config.workspace_path(), port=port)
    log = (tmp_path / "ui.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/api/version", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(
                    f"the UI did not start: {(tmp_path / 'ui.log').read_text(errors='replace')[-2000:]}"
                )
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def _rendered_text(url: str, profile: Path) -> str:
    assert CHROMIUM is not None
    completed = subprocess.run(
        [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--virtual-time-budget=30000",
            "--window-size=1600,6000",
            "--dump-dom",
            url,
        ],
        capture_output=True,
        timeout=180,
        check=True,
    )
    dom = completed.stdout.decode("utf-8", errors="replace")
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", dom))


def test_every_dashboard_panel_renders_with_its_series(
    backfill: Backfill, ui_url: str, tmp_path: Path
) -> None:
    projects = httpx.get(f"{ui_url}/api/projects", timeout=10).json()
    (project,) = projects
    assert project["name"] == "copyloop · Wick & Willow demo"
    text = _rendered_text(f"{ui_url}/projects/{project['id']}", tmp_path / "chromium-profile")
    missing = [title for title in DASHBOARD_PANELS if title not in text]
    assert missing == []
    # Each plotted panel draws a time axis over the five windows; the counter sums the variants.
    assert text.count("Timestamps") >= len(DASHBOARD_PANELS) - 1
    assert "p95" in text and "accepted" in text and "opened" in text
    # The learning loop's panels draw one line per version, named from the grouped label.
    assert "prompt version 2" in text and "adapter email-v1" in text
