"""What the API builds once at start and shares between requests: engine, backend, limits, metrics."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from genai.backends.base import Backend
from genai.embed import Embedder
from genai.errors import BackendUnavailableError
from serving.adapter_jobs import AdapterJobs
from serving.auth import KeyCache
from serving.limits import RateLimiter
from serving.metered_backend import MeteredBackend
from serving.metrics import ApiMetrics
from serving.settings import Settings

if TYPE_CHECKING:
    import anyio
    import httpx

__all__ = ["Runtime"]


@dataclass
class Runtime:
    """The app's long-lived objects, kept on ``app.state.runtime`` by the lifespan."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    metrics: ApiMetrics
    rate_limiter: RateLimiter
    auth_failures: RateLimiter  # failed API-key attempts, per client address
    key_cache: KeyCache
    generation_slots: anyio.CapacityLimiter
    backend: Backend | None = None
    backend_error: str | None = None
    embedder: Embedder | None = None
    adapter_jobs: AdapterJobs | None = None
    fetch_transport: httpx.BaseTransport | None = None
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock)

    def attach_backend(self, backend: Backend) -> None:
        """Serve generations with `backend`, metered, and export its queue depth."""
        metered = MeteredBackend(backend, self.metrics)
        self.backend = metered
        self.backend_error = None
        self.metrics.watch_queue(metered.queue_depth)

    def require_backend(self) -> Backend:
        """The generation backend, or BackendUnavailableError saying why there is none."""
        if self.backend is None:
            reason = self.backend_error or "no generation backend is loaded"
            raise BackendUnavailableError(f"the generation backend is unavailable: {reason}", field="backend")
        return self.backend

    def require_embedder(self) -> Embedder:
        """The embedder the pipeline ranks with, loaded on first use (call from a worker thread)."""
        with self._embedder_lock:
            if self.embedder is None:
                from genai.embed import default_embedder

                self.embedder = default_embedder()
            return self.embedder
