"""Prometheus metrics of the API: HTTP latency by route, generation timings and tokens, gates, events.

Names follow the OpenTelemetry semantic conventions in their Prometheus form: the GenAI metrics
(``gen_ai.server.time_to_first_token`` becomes ``gen_ai_server_time_to_first_token_seconds``,
attribute ``gen_ai.token.type`` the label ``gen_ai_token_type``) and the HTTP server duration
(``http.server.request.duration``). Every app gets its own registry, so several apps in one
process (tests) never share counters.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_TYPE_LATEST", "ApiMetrics", "MetricsMiddleware"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
_TTFT_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
_TPOT_BUCKETS = (0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5)
_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144)


class ApiMetrics:
    """The API's metrics in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.http_duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP requests, by route template.",
            ["http_request_method", "http_route", "http_response_status_code"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        model_labels = ["gen_ai_provider_name", "gen_ai_request_model"]
        self.time_to_first_token = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time from a generation request to its first output token.",
            model_labels,
            buckets=_TTFT_BUCKETS,
            registry=r,
        )
        self.time_per_output_token = Histogram(
            "gen_ai_server_time_per_output_token_seconds",
            "Time per output token after the first.",
            model_labels,
            buckets=_TPOT_BUCKETS,
            registry=r,
        )
        self.request_duration = Histogram(
            "gen_ai_server_request_duration_seconds",
            "Duration of one generation request to the backend, end to end.",
            model_labels,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.token_usage = Histogram(
            "gen_ai_client_token_usage",
            "Tokens per generation request, by type (input or output).",
            [*model_labels, "gen_ai_token_type"],
            buckets=_TOKEN_BUCKETS,
            registry=r,
        )
        self.gate_blocks = Counter(
            "copyloop_gate_blocks", "Candidate drafts blocked, by gate.", ["gate_id"], registry=r
        )
        self.generations = Counter(
            "copyloop_generations", "Generation API calls, by outcome.", ["status"], registry=r
        )
        self.feedback_events = Counter(
            "copyloop_feedback_events",
            "Feedback events received, by result (accepted, duplicate, rejected).",
            ["result"],
            registry=r,
        )
        self.outcome_events = Counter(
            "copyloop_outcome_events",
            "Outcome events received, by result (accepted, duplicate, rejected).",
            ["result"],
            registry=r,
        )
        self.queue_depth = Gauge(
            "copyloop_batcher_queue_depth", "Generation requests waiting for the model.", registry=r
        )
        self.queue_depth.set_function(lambda: 0.0)

    def watch_queue(self, depth: Callable[[], float | int]) -> None:
        """Read the batcher's queue depth from `depth` at every scrape."""
        self.queue_depth.set_function(depth)

    def count_events(self, counter: Counter, accepted: int, duplicates: int, rejected: int) -> None:
        """Add a batch's results to a feedback or outcome counter."""
        for result, count in (("accepted", accepted), ("duplicate", duplicates), ("rejected", rejected)):
            if count:
                counter.labels(result=result).inc(count)

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format."""
        return generate_latest(self.registry)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    # Errors raised before routing (a body refused by the size limit) still name their route.
    for candidate in getattr(getattr(app, "router", None), "routes", ()):
        match, _ = candidate.matches(scope)
        if match == Match.FULL:
            return str(getattr(candidate, "path", "unmatched"))
    return "unmatched"


class MetricsMiddleware:
    """Time every HTTP request and record it under its route template (never the raw path)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def timed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.metrics.http_duration.labels(
                http_request_method=scope.get("method", ""),
                http_route=_route_template(scope),
                http_response_status_code=str(status),
            ).observe(time.perf_counter() - started)
