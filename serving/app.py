"""The HTTP API: `create_app` builds the FastAPI app; its lifespan opens the database and the backend.

At start the lifespan creates the engine, upgrades the schema when `run_migrations_on_start` is set,
creates the API key table, and loads the generation backend once, in the background on a worker
thread: the API answers at once, and until the model is loaded (or if it fails to load) `/readyz`
and the generation routes say why generation is unavailable. Everything lives on
``app.state.runtime`` for the dependencies in `serving.deps`.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from feedback.db import session_factory, upgrade
from genai.backends import Backend, get_backend
from genai.embed import Embedder
from serving.adapter_jobs import AdapterJobs
from serving.auth import KeyCache
from serving.errors import install_error_handlers
from serving.limits import BodySizeLimitMiddleware, HeaderSizeLimitMiddleware, RateLimiter
from serving.metrics import ApiMetrics, MetricsMiddleware
from serving.routes import (
    adapters,
    brands,
    datasets,
    experiments,
    feedback,
    generations,
    health,
    keys,
    outcomes,
    prompt_arms,
    reports,
    rewards,
    segments,
)
from serving.routes import metrics as metrics_route
from serving.runtime import Runtime
from serving.settings import Settings

if TYPE_CHECKING:
    import httpx

__all__ = ["create_app"]

log = logging.getLogger("copyloop.api")

_TAGS = [
    {"name": "reports", "description": "Monitoring reports (latency, drift, quality) for analysts."},
    {"name": "brands", "description": "Brand kits from JSON, an uploaded page or a URL."},
    {"name": "segments", "description": "Segments, and RFM tiers computed from orders."},
    {"name": "generations", "description": "Briefs in, variants per segment out (JSON or a stream)."},
    {"name": "variants", "description": "Variants as JSON, HTML or text, and their feedback."},
    {"name": "feedback", "description": "Marketers' verdicts on variants."},
    {"name": "outcomes", "description": "Sends, opens, clicks and conversions: batches, CSV, webhooks."},
    {"name": "experiments", "description": "A/B tests and bandits over accepted variants."},
    {"name": "datasets", "description": "Point-in-time feature datasets and their manifests."},
    {"name": "admin", "description": "The caller, API keys and erasure."},
    {"name": "health", "description": "Liveness, readiness and metrics."},
]


def _version() -> str:
    try:
        return version("copyloop")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0.0.0"


def _load_backend(settings: Settings) -> Backend:
    return get_backend(settings.backend, **settings.backend_options())


def create_app(
    settings: Settings | None = None,
    *,
    backend: Backend | None = None,
    embedder: Embedder | None = None,
    fetch_transport: httpx.BaseTransport | None = None,
) -> FastAPI:
    """Build the API. `backend` and `embedder` replace the configured ones (tests pass fakes);
    `fetch_transport` replaces the network for brand pages fetched by URL."""
    settings = settings or Settings()
    metrics = ApiMetrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = settings.make_engine()
        if settings.run_migrations_on_start:
            await anyio.to_thread.run_sync(upgrade, engine)
        runtime = Runtime(
            settings=settings,
            engine=engine,
            sessions=session_factory(engine),
            metrics=metrics,
            rate_limiter=RateLimiter(settings.rate_limit_per_s, settings.rate_limit_burst),
            auth_failures=RateLimiter(settings.auth_failures_per_min / 60, settings.auth_failure_burst),
            key_cache=KeyCache(),
            generation_slots=anyio.CapacityLimiter(settings.max_concurrent_generations),
            embedder=embedder,
            fetch_transport=fetch_transport,
            adapter_jobs=AdapterJobs(settings),
        )
        owned: list[Backend] = []  # what this app loaded, and so closes

        async def load() -> None:
            try:
                loaded = await anyio.to_thread.run_sync(_load_backend, settings, abandon_on_cancel=True)
            except Exception as exc:  # the API serves everything else without a backend
                runtime.backend_error = f"the {settings.backend} backend failed to load: {exc}"
                log.error("%s", runtime.backend_error)
                return
            owned.append(loaded)
            try:
                # The ranking embedder too, so the first generation does not pay for loading it.
                await anyio.to_thread.run_sync(runtime.require_embedder, abandon_on_cancel=True)
            except Exception as exc:
                runtime.backend_error = f"the embedding model failed to load: {exc}"
                log.error("%s", runtime.backend_error)
                return
            runtime.attach_backend(loaded)

        app.state.runtime = runtime
        async with anyio.create_task_group() as tasks:
            if backend is not None:
                runtime.attach_backend(backend)
            else:
                # Loading a model can take minutes; meanwhile /healthz answers and /readyz says why not.
                runtime.backend_error = f"the {settings.backend} backend is still loading"
                tasks.start_soon(load)
            try:
                yield
            finally:
                tasks.cancel_scope.cancel()
                for loaded in owned:
                    await anyio.to_thread.run_sync(loaded.close)
                if runtime.adapter_jobs is not None:
                    runtime.adapter_jobs.close()
                engine.dispose()

    app = FastAPI(
        title="copyloop",
        version=_version(),
        summary="Brand-aware marketing e-mail variants, first-party feedback, experiments and datasets.",
        description="Every route under `/v1` needs an API key (`Authorization: Bearer cl_...`) and sees only "
        'its workspace. Errors answer `{"error": {"code", "message", "field"}}`.',
        openapi_tags=_TAGS,
        lifespan=lifespan,
    )
    app.state.metrics = metrics
    install_error_handlers(app)
    # Outermost last: metrics time everything, including bodies the size limit refuses.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(HeaderSizeLimitMiddleware, max_bytes=settings.max_header_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    for module in (
        health,
        metrics_route,
        keys,
        brands,
        segments,
        generations,
        feedback,
        outcomes,
        experiments,
        datasets,
        reports,
        rewards,
        prompt_arms,
        adapters,
    ):
        app.include_router(module.router)
    # The marketers' web app: static files that call the public API above.
    app.mount("/app", StaticFiles(directory=Path(__file__).parent / "webapp", html=True), name="webapp")
    _document_text_answers(app)
    return app


def _document_text_answers(app: FastAPI) -> None:
    """Drop the empty JSON body FastAPI documents beside a route's declared text or file body."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        for item in document.get("paths", {}).values():
            for operation in item.values():
                for answer in operation.get("responses", {}).values():
                    content = answer.get("content", {})
                    if len(content) > 1 and content.get("application/json", {}).get("schema") == {}:
                        del content["application/json"]
        return document

    app.openapi = openapi  # type: ignore[method-assign]
