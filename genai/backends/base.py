"""The one contract every generation backend implements.

A backend takes a batch of `GenerationRequest`s and returns, for each, `n` candidate
completions plus what it cost: tokens in and out, time to first token, total time and
why each candidate stopped. Requests carry chat messages, sampling parameters and an
optional JSON schema that the output must follow (structured output). Backends are
registered by name in `genai.backends` and imported lazily, so that importing the API
layer never imports torch or an HTTP client it does not need.

Backends are synchronous and thread-safe: callers that must not block (the HTTP API)
run them in a worker thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from genai.errors import InvalidInputError

__all__ = [
    "AdapterUsed",
    "Backend",
    "Candidate",
    "GenerationRequest",
    "GenerationResult",
    "Message",
    "SamplingParams",
]

Message = dict[str, str]  # {"role": "system"|"user"|"assistant", "content": "..."}


@dataclass(frozen=True)
class SamplingParams:
    """How to sample; `seed` makes a request reproducible on backends that honour it."""

    temperature: float = 0.8
    top_p: float = 0.95
    top_k: int = 0  # 0: no top-k cut
    max_tokens: int = 400
    seed: int | None = None
    repetition_penalty: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class GenerationRequest:
    """n candidates for one prompt."""

    messages: list[Message]
    n: int = 1
    sampling: SamplingParams = field(default_factory=SamplingParams)
    json_schema: dict[str, Any] | None = None
    timeout_s: float | None = None
    # The LoRA adapter to write with, by name ("none": the base model); None: the backend's own.
    adapter: str | None = None


@dataclass
class Candidate:
    """One completion."""

    text: str
    tokens_out: int
    finish_reason: str  # "stop" or "length"
    mean_logprob: float | None = None  # the model's own per-token log-likelihood, when it reports it


@dataclass(frozen=True)
class AdapterUsed:
    """The adapter a result was written with (name None: the base model), when a request named one."""

    name: str | None
    sha256: str | None


@dataclass
class GenerationResult:
    """The candidates for one request and what producing them took."""

    candidates: list[Candidate]
    tokens_in: int
    ttft_s: float | None
    total_s: float
    queue_s: float = 0.0
    adapter: AdapterUsed | None = None  # None: the backend's own adapter wrote it

    @property
    def tokens_out(self) -> int:
        """Output tokens over all candidates."""
        return sum(c.tokens_out for c in self.candidates)

    def time_per_output_token(self) -> float | None:
        """Decode time per output token after the first: the candidates decode side by side, so
        the time after the first token is shared by the longest one. None without a first-token
        time or with fewer than two tokens. The one definition the Prometheus histogram and the
        stored lineage (hence the monitoring reports) both use."""
        longest = max((c.tokens_out for c in self.candidates), default=0)
        if self.ttft_s is None or longest < 2:
            return None
        return max(0.0, self.total_s - self.ttft_s) / (longest - 1)


class Backend(ABC):
    """A source of completions. Subclasses set `name` and implement `generate`."""

    name: str = "base"
    model_id: str = "unknown"
    checkpoint_sha256: str | None = None
    adapter_name: str | None = None  # the LoRA adapter the backend writes with, if any
    adapter_sha256: str | None = None

    @abstractmethod
    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Return one result per request, in order; raise a BackendError on failure."""

    def ready(self) -> bool:
        """True when the backend can serve requests now."""
        return True

    def check_adapter(self, name: str) -> None:
        """Raise InvalidInputError (field ``adapter``) unless a request may name adapter `name`.

        A backend that cannot switch adapters per request takes only the one it writes with.
        """
        own = self.adapter_name or "none"
        if name != own:
            raise InvalidInputError(
                f"the {self.name} backend writes with {own!r} only and cannot switch adapters per request",
                field="adapter",
            )

    def queue_depth(self) -> int:
        """Requests waiting for the model now (0 for a backend that does not queue)."""
        return 0

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing
        """Release the model, threads and connections."""
