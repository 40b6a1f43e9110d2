"""vLLM's own /metrics: histogram percentiles, read over HTTP."""

from __future__ import annotations

import httpx
import pytest

from monitoring.errors import MonitoringError
from monitoring.vllm_metrics import histogram_quantile, parse_vllm_metrics, read_vllm_metrics
from tests.support.vllm_metrics import EXPOSITION


def test_quantiles_interpolate_inside_buckets() -> None:
    buckets = [(0.5, 50.0), (1.0, 90.0), (2.0, 100.0), (float("inf"), 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.5)
    assert histogram_quantile(0.7, buckets) == pytest.approx(0.75)
    assert histogram_quantile(0.95, buckets) == pytest.approx(1.5)


def test_a_quantile_past_the_last_finite_bucket_is_that_bound() -> None:
    assert histogram_quantile(0.9, [(0.1, 10.0), (float("inf"), 20.0)]) == pytest.approx(0.1)


def test_parsing_reads_the_latency_histograms_and_ignores_the_rest() -> None:
    result = parse_vllm_metrics(EXPOSITION, "http://vllm/metrics")
    assert set(result.percentiles) == {"queue_s", "ttft_s"}
    assert result.percentiles["queue_s"]["p95"] == pytest.approx(1.5)
    assert result.counts["queue_s"] == 100.0
    assert {row["metric"] for row in result.rows()} == {"queue_s", "ttft_s"}


def test_metrics_are_read_over_http() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/metrics"
        return httpx.Response(200, text=EXPOSITION)

    with httpx.Client(transport=httpx.MockTransport(handler)) as client:
        result = read_vllm_metrics("http://vllm:8000/metrics", client)
    assert result.percentiles["queue_s"]["p50"] == pytest.approx(0.5)


def test_an_unreachable_server_is_a_monitoring_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(503)

    with (
        httpx.Client(transport=httpx.MockTransport(handler)) as client,
        pytest.raises(MonitoringError) as info,
    ):
        read_vllm_metrics("http://vllm:8000/metrics", client)
    assert info.value.field == "vllm_metrics_url"
