"""Generation for the API: every segment of a brief runs at once, and each reports when it is done.

`run_campaign` gives each segment its own pipeline run on a worker thread, so a segment's
variants are known (and streamed) as soon as that segment is finished instead of when the last
one is. The runs share the backend: the embedded model's micro-batcher merges their concurrent
requests into one forward pass, so nothing is lost against one run over every segment. Each run
keeps the prompt exemplar and the seed its segment would have had in a single run of the brief.

`MeteredBackend` wraps a backend and records the GenAI metrics of every request.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from genai.backends.base import Backend, GenerationRequest, GenerationResult
from genai.brand import BrandKit
from genai.brief import Brief, Segment
from genai.campaign import CampaignDraft, Variant
from genai.embed import Embedder
from genai.pipeline import GenerationOptions, generate_campaign
from genai.prompts import PromptTemplate, RenderedPrompt, load_prompt
from serving.metrics import ApiMetrics

__all__ = ["Listener", "MeteredBackend", "SegmentDone", "SegmentProgress", "blocked_gates", "run_campaign"]


@dataclass(frozen=True)
class SegmentProgress:
    """A segment's pipeline finished a round: candidates parsed so far for that segment."""

    segment: str
    message: str
    candidates: int


@dataclass(frozen=True)
class SegmentDone:
    """A segment's variants, ready."""

    segment: str
    variants: list[Variant]


Listener = Callable[[SegmentProgress | SegmentDone], None]


@dataclass(frozen=True)
class _ShiftedPrompt(PromptTemplate):
    """A template that renders its one segment with the exemplar it has at `shift` in the full brief."""

    shift: int = 0

    def render(
        self, brand: BrandKit, brief: Brief, segment: Segment, *, exemplars: int = 1, offset: int = 0
    ) -> RenderedPrompt:
        """Render as the base template does, at the segment's place in the full brief."""
        return super().render(brand, brief, segment, exemplars=exemplars, offset=offset + self.shift)


def _merge(brand: str, goal: str, parts: Sequence[CampaignDraft], order: Sequence[str]) -> CampaignDraft:
    variants: dict[str, list[Variant]] = {}
    rejected: dict[str, list[dict[str, Any]]] = {}
    for part in parts:
        variants.update(part.variants)
        rejected.update(part.rejected)
    stats: dict[str, Any] = {
        "candidates": sum(int(p.stats.get("candidates", 0)) for p in parts),
        "parse_failures": sum(int(p.stats.get("parse_failures", 0)) for p in parts),
        "seconds": max((float(p.stats.get("seconds", 0.0)) for p in parts), default=0.0),
        "shortfall": {k: v for p in parts for k, v in dict(p.stats.get("shortfall", {})).items()},
        "embedder": next((p.stats.get("embedder") for p in parts), None),
    }
    return CampaignDraft(
        brand=brand,
        goal=goal,
        variants={name: variants.get(name, []) for name in order},
        rejected={name: rejected.get(name, []) for name in order},
        stats=stats,
    )


def run_campaign(
    brand: BrandKit,
    brief: Brief,
    backend: Backend,
    *,
    embedder: Embedder,
    options: GenerationOptions,
    listener: Listener | None = None,
) -> CampaignDraft:
    """Generate every segment of the brief concurrently; `listener` hears each round and each segment."""
    template = load_prompt()
    # A run without a seed still gets one, so every variant's lineage can reproduce it.
    base_seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    names = [segment.name for segment in brief.segments]

    def one(index: int, segment: Segment) -> CampaignDraft:
        prompt = _ShiftedPrompt(**dataclasses.asdict(template), shift=index)
        sub_brief = brief.model_copy(update={"segments": [segment]})
        sub_options = dataclasses.replace(options, seed=base_seed + index)

        def progress(message: str, done: int) -> None:
            if listener is not None:
                listener(SegmentProgress(segment.name, message, done))

        part = generate_campaign(
            brand,
            sub_brief,
            backend,
            prompt=prompt,
            embedder=embedder,
            options=sub_options,
            progress=progress,
        )
        if listener is not None:
            listener(SegmentDone(segment.name, part.variants.get(segment.name, [])))
        return part

    with ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="copyloop-segment") as pool:
        futures: list[Future[CampaignDraft]] = [
            pool.submit(one, i, segment) for i, segment in enumerate(brief.segments)
        ]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
        for future in futures:
            if future in done and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        parts = [future.result() for future in futures]
    return _merge(brand.name, brief.goal, parts, names)


def blocked_gates(campaign: CampaignDraft) -> list[str]:
    """The gate ids that blocked candidates of this campaign, one entry per block."""
    out: list[str] = []
    for rows in campaign.rejected.values():
        for row in rows:
            reason = row.get("reason")
            if isinstance(reason, str) and reason.startswith("blocked by "):
                out.extend(g.strip() for g in reason.removeprefix("blocked by ").split(",") if g.strip())
    return out


class MeteredBackend(Backend):
    """A backend that records the GenAI metrics of every request it serves."""

    def __init__(self, inner: Backend, metrics: ApiMetrics) -> None:
        self.inner = inner
        self.metrics = metrics
        self.name = inner.name
        self.model_id = inner.model_id
        self.checkpoint_sha256 = inner.checkpoint_sha256

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        """Delegate, then observe time to first token, time per output token, duration and tokens."""
        results = self.inner.generate(requests)
        labels = {"gen_ai_provider_name": self.inner.name, "gen_ai_request_model": self.inner.model_id}
        m = self.metrics
        for result in results:
            m.request_duration.labels(**labels).observe(result.total_s)
            if result.ttft_s is not None:
                m.time_to_first_token.labels(**labels).observe(result.ttft_s)
                # Candidates decode side by side, so the decode time is shared by the longest one.
                longest = max((c.tokens_out for c in result.candidates), default=0)
                if longest > 1:
                    per_token = max(0.0, result.total_s - result.ttft_s) / (longest - 1)
                    m.time_per_output_token.labels(**labels).observe(per_token)
            m.token_usage.labels(**labels, gen_ai_token_type="input").observe(result.tokens_in)
            m.token_usage.labels(**labels, gen_ai_token_type="output").observe(result.tokens_out)
        return results

    def ready(self) -> bool:
        """Whether the wrapped backend is ready."""
        return self.inner.ready()

    def close(self) -> None:
        """Close the wrapped backend."""
        self.inner.close()

    def queue_depth(self) -> float:
        """Requests waiting in the wrapped backend's micro-batcher (0 when it has none)."""
        batcher = getattr(self.inner, "batcher", None)
        depth = getattr(batcher, "depth", 0)
        return float(depth) if isinstance(depth, int | float) else 0.0
