"""From a brand and a brief to ranked, gated email variants for every segment."""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from genai.backends.base import Backend, GenerationRequest, GenerationResult, SamplingParams
from genai.brand import BrandKit
from genai.brief import Brief, Segment
from genai.campaign import CampaignDraft, Lineage, Variant
from genai.draft import DRAFT_SCHEMA
from genai.embed import Embedder, default_embedder
from genai.errors import ParseError
from genai.gates import run_gates
from genai.parse import parse_draft
from genai.prompts import PromptTemplate, RenderedPrompt, load_prompt
from genai.render import render_html, render_text
from genai.select import Scored, select_drafts

__all__ = ["GenerationOptions", "generate_campaign"]

Progress = Callable[[str, int], None]  # (message, candidates finished so far)


@dataclass(frozen=True)
class GenerationOptions:
    """How hard the pipeline tries: oversampling, retries and sampling."""

    oversample: float = 1.5  # candidates per requested variant in the first round
    max_rounds: int = 3  # first round plus retries with fresh seeds
    temperature: float = 0.7
    top_p: float = 0.9
    top_k: int = 40
    max_tokens: int = 320
    # 1.0: a penalty also counts the prompt, and pushes the model away from the brand's own words
    repetition_penalty: float = 1.0
    seed: int | None = None
    dup_threshold: float = 0.92
    timeout_s: float | None = None
    structured: bool = True  # ask the backend for JSON-schema-constrained output


@dataclass
class _Attempt:
    segment: Segment
    prompt: RenderedPrompt
    request: GenerationRequest
    round: int


def generate_campaign(
    brand: BrandKit,
    brief: Brief,
    backend: Backend,
    *,
    prompt: PromptTemplate | None = None,
    embedder: Embedder | None = None,
    options: GenerationOptions | None = None,
    progress: Progress | None = None,
) -> CampaignDraft:
    """Generate, gate, de-duplicate and rank variants for each segment of the brief."""
    options = options or GenerationOptions()
    prompt = prompt or load_prompt()
    embedder = embedder or default_embedder()
    rng = random.Random(options.seed)
    want = brief.variants_per_segment
    pools: dict[str, list[tuple[Scored, Lineage]]] = {s.name: [] for s in brief.segments}
    failures: dict[str, list[dict[str, object]]] = {s.name: [] for s in brief.segments}
    rendered = {s.name: prompt.render(brand, brief, s, offset=i) for i, s in enumerate(brief.segments)}
    started = time.perf_counter()
    queue_s = 0.0
    finished = 0
    selected: dict[str, list[Scored]] = {}
    dropped: dict[str, list[Scored]] = {}
    for round_no in range(1, options.max_rounds + 1):
        attempts = []
        for segment in brief.segments:
            have = len(selected.get(segment.name, []))
            if have >= want:
                continue
            missing = want - have
            n = max(missing, round(missing * options.oversample)) if round_no == 1 else missing + 1
            attempts.append(_attempt(segment, rendered[segment.name], n, round_no, options, rng))
        if not attempts:
            break
        results = backend.generate([a.request for a in attempts])
        queue_s = max([queue_s, *(r.queue_s for r in results)])
        for attempt, result in zip(attempts, results, strict=True):
            pool = pools[attempt.segment.name]
            for cand_index, cand in enumerate(result.candidates):
                lineage = _lineage(backend, attempt, result, cand_index)
                try:
                    draft = parse_draft(cand.text, brief.cta_url)
                except ParseError as exc:
                    failures[attempt.segment.name].append(
                        {"round": round_no, "error": str(exc), "output": cand.text[:500]}
                    )
                    continue
                gates = run_gates(draft, brief, brand)
                pool.append((Scored(index=len(pool), draft=draft, gates=gates), lineage))
                finished += 1
            if progress:
                progress(f"segment {attempt.segment.name}: round {round_no}", finished)
        for segment in brief.segments:
            pool = pools[segment.name]
            for scored, _ in pool:
                scored.dropped = None
            selected[segment.name], dropped[segment.name] = select_drafts(
                [s for s, _ in pool], brand, embedder, want, options.dup_threshold
            )
    variants: dict[str, list[Variant]] = {}
    rejected: dict[str, list[dict[str, object]]] = {}  # why each candidate was not selected
    for segment in brief.segments:
        lineages = {id(s): lin for s, lin in pools[segment.name]}
        out = []
        for rank, scored in enumerate(selected.get(segment.name, []), start=1):
            draft = scored.draft
            out.append(
                Variant(
                    id=_variant_id(segment.name, draft.to_dict()),
                    segment=segment.name,
                    rank=rank,
                    draft=draft,
                    score=scored.score,
                    reasons=scored.reasons or [],
                    gates=scored.gates,
                    lineage=lineages[id(scored)],
                    html=render_html(draft, brand, lang=brief.language),
                    text=render_text(draft, brand),
                )
            )
        variants[segment.name] = out
        dropped_rows: list[dict[str, object]] = [
            {
                "reason": s.dropped,
                "subject": s.draft.subject,
                "gates": [g.gate_id for g in s.gates if not g.passed],
            }
            for s in dropped.get(segment.name, [])
        ]
        rejected[segment.name] = dropped_rows + failures[segment.name]
    blocked_by: dict[str, int] = {}
    for pool in pools.values():
        for scored, _ in pool:
            for gate in scored.gates:
                if gate.blocks:
                    blocked_by[gate.gate_id] = blocked_by.get(gate.gate_id, 0) + 1
    stats = {
        "candidates": sum(len(p) for p in pools.values()) + sum(len(f) for f in failures.values()),
        "blocked": sum(
            1 for pool in pools.values() for scored, _ in pool if any(g.blocks for g in scored.gates)
        ),
        "blocked_by": blocked_by,
        "queue_s": round(queue_s, 4),
        "parse_failures": sum(len(f) for f in failures.values()),
        "seconds": round(time.perf_counter() - started, 3),
        "shortfall": {s: want - len(v) for s, v in variants.items() if len(v) < want},
        "embedder": embedder.name,
    }
    return CampaignDraft(brand=brand.name, goal=brief.goal, variants=variants, rejected=rejected, stats=stats)


def _attempt(
    segment: Segment,
    prompt: RenderedPrompt,
    n: int,
    round_no: int,
    options: GenerationOptions,
    rng: random.Random,
) -> _Attempt:
    sampling = SamplingParams(
        temperature=options.temperature,
        top_p=options.top_p,
        top_k=options.top_k,
        max_tokens=options.max_tokens,
        seed=rng.randrange(2**31),
        repetition_penalty=options.repetition_penalty,
    )
    request = GenerationRequest(
        messages=prompt.messages,
        n=n,
        sampling=sampling,
        json_schema=DRAFT_SCHEMA if options.structured else None,
        timeout_s=options.timeout_s,
    )
    return _Attempt(segment, prompt, request, round_no)


def _lineage(backend: Backend, attempt: _Attempt, result: GenerationResult, index: int) -> Lineage:
    cand = result.candidates[index]
    return Lineage(
        backend=backend.name,
        model_id=backend.model_id,
        checkpoint_sha256=backend.checkpoint_sha256,
        prompt_name=attempt.prompt.name,
        prompt_version=attempt.prompt.version,
        prompt_sha256=attempt.prompt.sha256,
        seed=attempt.request.sampling.seed,
        sampling=attempt.request.sampling.to_dict(),
        tokens_in=result.tokens_in,
        tokens_out=cand.tokens_out,
        ttft_s=result.ttft_s,
        latency_s=result.total_s,
        finish_reason=cand.finish_reason,
        attempts=attempt.round,
        candidate=index,
    )


def _variant_id(segment: str, draft: dict[str, object]) -> str:
    blob = json.dumps([segment, draft], sort_keys=True).encode()
    return "var_" + hashlib.sha256(blob).hexdigest()[:12]
