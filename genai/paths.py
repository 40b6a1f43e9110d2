"""The user's own cache and data folders: the defaults wherever no folder is passed in."""

from __future__ import annotations

from pathlib import Path

import platformdirs

__all__ = ["user_cache_dir", "user_data_dir"]


def user_cache_dir() -> Path:
    """The user cache folder for converted checkpoints and other rebuildable files."""
    return Path(platformdirs.user_cache_dir("copyloop"))


def user_data_dir() -> Path:
    """The user data folder for the database and reports."""
    return Path(platformdirs.user_data_dir("copyloop"))
