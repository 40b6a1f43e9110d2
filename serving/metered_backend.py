"""`MeteredBackend`: a backend that records the GenAI metrics of every request it serves."""

from __future__ import annotations

from collections.abc import Sequence

from genai.backends.base import Backend, GenerationRequest, GenerationResult
from serving.metrics import ApiMetrics

__all__ = ["MeteredBackend"]


class MeteredBackend(Backend):
    """A backend that records the GenAI metrics of every request it serves."""

    def __init__(self, inner: Backend, metrics: ApiMetrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.name = inner.name
        self.model_id = inner.model_id
        self.checkpoint_sha256 = inner.checkpoint_sha256
        self.adapter_name = inner.adapter_name
        self.adapter_sha256 = inner.adapter_sha256

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Delegate, then observe time to first token, time per output token, duration and tokens."""
        results = self.inner.generate(requests)
        labels = {"gen_ai_provider_name": self.inner.name, "gen_ai_request_model": self.inner.model_id}
        m = self.metrics
        for result in results:
            m.request_duration.labels(**labels).observe(result.total_s)
            if result.ttft_s is not None:
                m.time_to_first_token.labels(**labels).observe(result.ttft_s)
                per_token = result.time_per_output_token()
                if per_token is not None:
                    m.time_per_output_token.labels(**labels).observe(per_token)
            m.token_usage.labels(**labels, gen_ai_token_type="input").observe(result.tokens_in)
            m.token_usage.labels(**labels, gen_ai_token_type="output").observe(result.tokens_out)
        return results

    def ready(self) -> bool:
        """Whether the wrapped backend is ready."""
        return self.inner.ready()

    def check_adapter(self, name: str) -> None:
        """Whether a request may name adapter `name`, as the wrapped backend says."""
        self.inner.check_adapter(name)

    def close(self) -> None:
        """Close the wrapped backend."""
        self.inner.close()

    def queue_depth(self) -> int:
        """Requests waiting in the wrapped backend."""
        return self.inner.queue_depth()
