"""A micro-batching worker: concurrent requests share one forward pass.

Callers on any thread submit requests; one worker thread takes everything waiting
(up to `max_batch` candidates) and hands it to `run_batch` in a single call, so every
variant of every waiting request goes through one `generate`. The queue is bounded
(`QueueFullError` when full) and every request has a deadline
(`GenerationTimeoutError` when it passes; a request still queued then is dropped).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field

from genai.backends.base import GenerationRequest, GenerationResult
from genai.errors import BackendError, GenerationTimeoutError, QueueFullError

__all__ = ["BatchStats", "MicroBatcher"]

RunBatch = Callable[[list[GenerationRequest]], list[GenerationResult]]


@dataclass
class _Item:
    request: GenerationRequest
    deadline: float
    enqueued: float
    future: Future[GenerationResult] = field(default_factory=Future)


@dataclass
class BatchStats:
    """Counters a caller can export as metrics."""

    batches: int = 0
    requests: int = 0
    candidates: int = 0
    expired: int = 0
    last_batch_size: int = 0


class MicroBatcher:
    """Runs `run_batch` on a worker thread over whatever is waiting."""

    def __init__(
        self,
        run_batch: RunBatch,
        *,
        max_batch: int = 32,
        max_queue: int = 64,
        timeout_s: float = 600.0,
        wait_s: float = 0.01,
    ) -> None:
        self._run_batch = run_batch
        self.max_batch = max_batch
        self.timeout_s = timeout_s
        self.wait_s = wait_s
        self._queue: queue.Queue[_Item | None] = queue.Queue(maxsize=max_queue)
        self._carry: _Item | None = None
        self.stats = BatchStats()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="copyloop-batcher", daemon=True)
        self._thread.start()

    @property
    def depth(self) -> int:
        """Requests waiting for the worker."""
        return self._queue.qsize() + (1 if self._carry else 0)

    def submit(self, request: GenerationRequest) -> Future[GenerationResult]:
        """Queue one request; its future resolves to the result or the error."""
        if self._closed:
            raise BackendError("the batcher is closed")
        now = time.monotonic()
        timeout = request.timeout_s if request.timeout_s is not None else self.timeout_s
        item = _Item(request, deadline=now + timeout, enqueued=now)
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            raise QueueFullError(f"generation queue is full ({self._queue.maxsize} waiting)") from None
        return item.future

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Submit every request, then wait for all of them (each up to its own deadline)."""
        futures = [self.submit(r) for r in requests]
        results = []
        for request, fut in zip(requests, futures, strict=True):
            timeout = request.timeout_s if request.timeout_s is not None else self.timeout_s
            try:
                results.append(fut.result(timeout=timeout))
            except FutureTimeout:
                fut.cancel()
                raise GenerationTimeoutError(f"generation did not finish within {timeout:g} s") from None
        return results

    def close(self) -> None:
        """Stop the worker after the batch in progress."""
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _take(self) -> list[_Item] | None:
        first = self._carry or self._queue.get()
        self._carry = None
        if first is None:
            return None
        batch = [first]
        size = first.request.n
        end = time.monotonic() + self.wait_s
        while size < self.max_batch:
            try:
                item = self._queue.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                self._queue.put(None)
                break
            if size + item.request.n > self.max_batch:
                self._carry = item
                break
            batch.append(item)
            size += item.request.n
        return batch

    def _loop(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            now = time.monotonic()
            live = []
            for item in batch:
                if item.future.cancelled() or now > item.deadline:
                    self.stats.expired += 1
                    if not item.future.done():
                        item.future.set_exception(GenerationTimeoutError("request expired in the queue"))
                elif item.future.set_running_or_notify_cancel():
                    live.append(item)
            if not live:
                continue
            self.stats.batches += 1
            self.stats.requests += len(live)
            self.stats.candidates += sum(i.request.n for i in live)
            self.stats.last_batch_size = len(live)
            try:
                results = self._run_batch([i.request for i in live])
                if len(results) != len(live):
                    # a mismatch would otherwise kill the worker and leave every later caller waiting
                    raise BackendError(
                        f"the backend returned {len(results)} results for {len(live)} requests"
                    )
            except Exception as exc:
                for item in live:
                    item.future.set_exception(exc)
                continue
            for item, result in zip(live, results, strict=True):
                result.queue_s = now - item.enqueued
                item.future.set_result(result)
