"""The API on uvicorn for browser tests: settings from the environment (the fake backend, SQLite)
and the hashing embedder, so no model loads. Run as `python -m tests.support.webapp_server PORT`."""

from __future__ import annotations

import sys

import uvicorn

from genai.embed import HashingEmbedder
from serving.app import create_app
from serving.settings import Settings


def main(port: int) -> None:
    """Serve on 127.0.0.1:`port` until stopped."""
    app = create_app(Settings(), embedder=HashingEmbedder())
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="info")


if __name__ == "__main__":
    main(int(sys.argv[1]))
