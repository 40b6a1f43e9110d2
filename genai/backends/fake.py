"""A backend that replays queued outputs, for unit tests."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence

from genai.backends.base import Backend, Candidate, GenerationRequest, GenerationResult
from genai.errors import BackendError

__all__ = ["FakeBackend"]

Responder = Callable[[GenerationRequest, int], str]


class FakeBackend(Backend):
    """Returns queued texts in order, or asks `responder(request, index)` when the queue is empty."""

    name = "fake"

    def __init__(
        self,
        outputs: Iterable[str] = (),
        responder: Responder | None = None,
        model_id: str = "fake-model",
    ) -> None:
        self.model_id = model_id
        self.checkpoint_sha256 = None
        self._queue: deque[str] = deque(outputs)
        self._responder = responder
        self._lock = threading.Lock()
        self.requests: list[GenerationRequest] = []

    def queue(self, *texts: str) -> None:
        """Add outputs to replay."""
        with self._lock:
            self._queue.extend(texts)

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Replay one queued output per candidate."""
        results = []
        with self._lock:
            for request in requests:
                self.requests.append(request)
                candidates = []
                for i in range(request.n):
                    if self._queue:
                        text = self._queue.popleft()
                    elif self._responder is not None:
                        text = self._responder(request, i)
                    else:
                        raise BackendError("the fake backend has no output queued")
                    candidates.append(
                        Candidate(text=text, tokens_out=len(text.split()), finish_reason="stop")
                    )
                tokens_in = sum(len(m["content"].split()) for m in request.messages)
                results.append(GenerationResult(candidates, tokens_in=tokens_in, ttft_s=0.0, total_s=0.0))
        return results
