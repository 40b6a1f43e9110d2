"""`/metrics`: the API's metrics in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from serving.metrics import CONTENT_TYPE_LATEST, ApiMetrics

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text exposition."}},
)
async def metrics(request: Request) -> Response:
    """HTTP latency by route, generation timings and tokens, gate blocks, event counts, queue depth."""
    registry: ApiMetrics = request.app.state.metrics
    return Response(registry.exposition(), media_type=CONTENT_TYPE_LATEST)
