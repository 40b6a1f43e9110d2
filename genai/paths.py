"""Where copyloop keeps its cache and data; overridable by environment variables."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

__all__ = ["cache_dir", "data_dir"]


def cache_dir() -> Path:
    """Converted checkpoints and other rebuildable files (`COPYLOOP_CACHE_DIR`)."""
    env = os.environ.get("COPYLOOP_CACHE_DIR")
    return Path(env) if env else Path(platformdirs.user_cache_dir("copyloop"))


def data_dir() -> Path:
    """The database and reports (`COPYLOOP_DATA_DIR`)."""
    env = os.environ.get("COPYLOOP_DATA_DIR")
    return Path(env) if env else Path(platformdirs.user_data_dir("copyloop"))
