"""Request limits: a body size cap (ASGI middleware) and a token-bucket rate limit per API key.

The body cap refuses a declared ``Content-Length`` over the limit before reading anything, and
stops a chunked body as soon as it passes the limit. The rate limiter is per process: with
several workers, each enforces the limit on its own share of the traffic.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from serving.errors import error_envelope

__all__ = ["BodySizeLimitMiddleware", "RateLimiter", "TokenBucket"]


class BodySizeLimitMiddleware:
    """Answer 413 to a request whose body is larger than `max_bytes`."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send)
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # FastAPI turns any other error raised while reading the body into a 400; it lets an
                    # HTTPException through to the app's handlers, which answer in the envelope.
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"the request body is larger than the {self.max_bytes:,}-byte limit"

    async def _refuse(self, send: Send) -> None:
        await _send_error(send, 413, "payload_too_large", self._message(), "body")


class HeaderSizeLimitMiddleware:
    """Answer 431 to a request whose headers together are larger than `max_bytes`, before any of
    them is read: a megabyte of `Authorization` is not worth hashing and looking up."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            size = sum(len(name) + len(value) for name, value in scope.get("headers", ()))
            if size > self.max_bytes:
                message = f"the request headers are larger than the {self.max_bytes:,}-byte limit"
                await _send_error(send, 431, "headers_too_large", message, "headers")
                return
        await self.app(scope, receive, send)


async def _send_error(send: Send, status: int, code: str, message: str, field: str) -> None:
    body = json.dumps(error_envelope(code, message, field))
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body.encode()})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


@dataclass
class TokenBucket:
    """`capacity` tokens refilled at `rate` per second; each request takes one."""

    rate: float
    capacity: float
    tokens: float
    updated: float

    def available(self, now: float) -> float:
        """The tokens there are at `now`, refilled since the last take."""
        return min(self.capacity, self.tokens + (now - self.updated) * self.rate)

    def take(self, now: float) -> float:
        """Take a token; returns 0 on success, else the seconds until one is available."""
        self.tokens = self.available(now)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """One token bucket per key; a `rate` of 0 allows everything."""

    # Buckets idle this long are full again and can be forgotten.
    _SWEEP_EVERY = 1024

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()
        self._calls = 0

    def waiting(self, key: str) -> float:
        """The seconds `key` must still wait, without taking a token (0: it may proceed)."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            tokens = bucket.available(now) if bucket is not None else 1.0
            return 0.0 if tokens >= 1 else (1 - tokens) / self.rate

    def check(self, key: str) -> float:
        """0 when `key` may proceed, else the seconds it must wait."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = TokenBucket(self.rate, float(self.burst), float(self.burst), now)
                self._buckets[key] = bucket
            wait = bucket.take(now)
            self._calls += 1
            if self._calls % self._SWEEP_EVERY == 0:
                self._sweep(now)
            return wait

    def _sweep(self, now: float) -> None:
        full_after = self.burst / self.rate
        stale = [k for k, b in self._buckets.items() if now - b.updated > full_after]
        for key in stale:
            del self._buckets[key]
