"""Latency percentiles from a vLLM server's own Prometheus ``/metrics``.

vLLM exports histograms (``vllm:time_to_first_token_seconds``, ``vllm:e2e_request_latency_seconds``,
``vllm:request_queue_time_seconds``...). Their buckets are cumulative since the server started, so
the percentiles here cover the server's lifetime, not the report's window; they complement the
per-request figures in the store with what only the server sees (queueing inside vLLM).
Percentiles are interpolated inside buckets, as Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import httpx
from prometheus_client.parser import text_string_to_metric_families

from monitoring.errors import MonitoringError

__all__ = ["HISTOGRAMS", "VllmLatency", "histogram_quantile", "parse_vllm_metrics", "read_vllm_metrics"]

HISTOGRAMS = {
    "ttft_s": "vllm:time_to_first_token_seconds",
    "e2e_latency_s": "vllm:e2e_request_latency_seconds",
    "queue_s": "vllm:request_queue_time_seconds",
    "time_per_output_token_s": "vllm:time_per_output_token_seconds",
}


@dataclass
class VllmLatency:
    """Percentiles (p50, p95, p99) of each vLLM latency histogram, and request counts."""

    url: str
    percentiles: dict[str, dict[str, float]] = field(default_factory=dict)
    counts: dict[str, float] = field(default_factory=dict)

    def rows(self) -> list[dict[str, object]]:
        """One table row per histogram."""
        return [
            {"metric": name, "requests": self.counts.get(name, 0.0), **values}
            for name, values in sorted(self.percentiles.items())
        ]


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """The q-quantile of a cumulative histogram given as sorted (upper bound, count) pairs."""
    if not buckets or buckets[-1][1] <= 0:
        return math.nan
    total = buckets[-1][1]
    rank = q * total
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # past the last finite bucket: its bound is all we know
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def parse_vllm_metrics(text: str, url: str = "") -> VllmLatency:
    """Percentiles of vLLM's latency histograms in a Prometheus text exposition (all models summed)."""
    wanted = {metric: name for name, metric in HISTOGRAMS.items()}
    buckets: dict[str, dict[float, float]] = {}
    for family in text_string_to_metric_families(text):
        name = wanted.get(family.name)
        if name is None:
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                bound = float(sample.labels["le"])
                per_name = buckets.setdefault(name, {})
                per_name[bound] = per_name.get(bound, 0.0) + float(sample.value)
    result = VllmLatency(url=url)
    for name, by_bound in buckets.items():
        ordered = sorted(by_bound.items())
        result.counts[name] = ordered[-1][1] if ordered else 0.0
        result.percentiles[name] = {
            f"p{int(q * 100)}": histogram_quantile(q, ordered) for q in (0.5, 0.95, 0.99)
        }
    return result


def read_vllm_metrics(url: str, client: httpx.Client | None = None, timeout_s: float = 5.0) -> VllmLatency:
    """Fetch and parse a vLLM server's ``/metrics``."""
    own = client is None
    http = client or httpx.Client(timeout=timeout_s)
    try:
        response = http.get(url)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise MonitoringError(
            f"could not read vLLM metrics from {url}: {exc}", field="vllm_metrics_url"
        ) from exc
    finally:
        if own:
            http.close()
    return parse_vllm_metrics(response.text, url)
