"""The metering wrapper: metrics per request, and the backend contract passed through."""

from __future__ import annotations

from genai.backends.base import GenerationRequest
from genai.backends.fake import FakeBackend
from serving.metered_backend import MeteredBackend
from serving.metrics import ApiMetrics


class _Queued(FakeBackend):
    waiting = 3

    def queue_depth(self) -> int:
        return self.waiting


def test_the_queue_depth_is_the_wrapped_backends_own() -> None:
    inner = _Queued()
    metered = MeteredBackend(inner, ApiMetrics())
    assert metered.queue_depth() == 3
    inner.waiting = 0
    assert metered.queue_depth() == 0
    assert MeteredBackend(FakeBackend(), ApiMetrics()).queue_depth() == 0


def test_every_request_is_observed_under_the_backends_name() -> None:
    metrics = ApiMetrics()
    metered = MeteredBackend(FakeBackend(outputs=["hello there"]), metrics)
    metered.generate([GenerationRequest([{"role": "user", "content": "hi"}])])
    labels = {"gen_ai_provider_name": "fake", "gen_ai_request_model": metered.model_id}
    assert metrics.registry.get_sample_value("gen_ai_server_request_duration_seconds_count", labels) == 1
