"""Every test runs with its own data and cache directories, never the user's."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from tests.support.paths import PAGES


@pytest.fixture(autouse=True)
def _isolated_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The settings read these; a library call given no folder falls back on the user folders,
    # which point under the test's own temp folder too.
    monkeypatch.setenv("COPYLOOP_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COPYLOOP_CACHE_DIR", str(tmp_path / "cache"))
    for kind in ("data", "cache"):
        monkeypatch.setattr(platformdirs, f"user_{kind}_dir", _user_dir(kind, tmp_path / f"user-{kind}"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    monkeypatch.delenv("COPYLOOP_DATABASE_URL", raising=False)


def _user_dir(kind: str, folder: Path) -> Callable[..., str]:
    original = getattr(platformdirs, f"user_{kind}_dir")

    def user_dir(appname: str | None = None, *args: Any, **kwargs: Any) -> str:
        return str(folder) if appname == "copyloop" else str(original(appname, *args, **kwargs))

    return user_dir


@pytest.fixture
def pages() -> Path:
    """The folder of saved brand pages used by the tests."""
    return PAGES
