"""Health: `/healthz` (the process answers) and `/readyz` (the database and the backend can serve)."""

from __future__ import annotations

import logging

import anyio
from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from serving.deps import RuntimeDep
from serving.runtime import Runtime
from serving.schemas import HealthOut, ReadyOut

__all__ = ["router"]

router = APIRouter(tags=["health"])

log = logging.getLogger("copyloop.api")


@router.get("/healthz")
async def healthz() -> HealthOut:
    """Alive: the process answers requests."""
    return HealthOut(status="ok")


def _check(runtime: Runtime) -> ReadyOut:
    detail: dict[str, str] = {}
    database = True
    try:
        with runtime.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any failure means "not ready"
        # The driver's text names hosts, ports and users: it goes to the log, not to an anonymous caller.
        log.warning("readiness: the database failed: %s: %s", type(exc).__name__, exc)
        database = False
        detail["database"] = "the database does not answer; the server's log has the reason"
    backend = False
    if runtime.backend is None:
        detail["backend"] = runtime.backend_error or "no generation backend is loaded"
    else:
        try:
            backend = runtime.backend.ready()
        except Exception as exc:
            log.warning("readiness: the generation backend failed: %s: %s", type(exc).__name__, exc)
            detail["backend"] = "the generation backend failed its check; the server's log has the reason"
        else:
            if not backend:
                detail["backend"] = "the generation backend is not ready"
    return ReadyOut(
        status="ready" if database and backend else "not_ready",
        database=database,
        backend=backend,
        detail=detail,
    )


@router.get(
    "/readyz",
    response_model=ReadyOut,
    responses={503: {"model": ReadyOut, "description": "Not ready; `detail` says why."}},
)
async def readyz(runtime: RuntimeDep) -> ReadyOut | JSONResponse:
    """Ready: the database answers and the generation backend can serve; 503 with the reasons if not."""
    report = await anyio.to_thread.run_sync(_check, runtime)
    if report.status != "ready":
        return JSONResponse(report.model_dump(), status_code=503)
    return report
