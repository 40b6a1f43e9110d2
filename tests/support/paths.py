"""Where the repository and the tests' saved brand pages are."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
PAGES = REPO / "tests" / "fixtures" / "pages"
