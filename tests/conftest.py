"""Every test runs with its own data and cache directories, never the user's."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PAGES = Path(__file__).parent / "fixtures" / "pages"


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPYLOOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COPYLOOP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv("COPYLOOP_DATABASE_URL", raising=False)


@pytest.fixture
def pages() -> Path:
    """The folder of saved brand pages used by the tests."""
    return PAGES
