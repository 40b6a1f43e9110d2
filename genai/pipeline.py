"""From a brand and a brief to ranked, gated email variants for every segment."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from genai.backends.base import AdapterUsed, Backend, GenerationRequest, GenerationResult, SamplingParams
from genai.brand import BrandKit
from genai.brief import Brief, Segment
from genai.campaign import CampaignDraft, GenerationStats, Lineage, Variant
from genai.draft import draft_schema
from genai.embed import Embedder, default_embedder
from genai.errors import ParseError
from genai.gates import run_gates
from genai.parse import parse_draft
from genai.prompts import PromptTemplate, RenderedPrompt, cta_labels_for, load_prompt
from genai.render import render_html, render_text
from genai.reward import RewardScorer
from genai.select import Scored, select_drafts
from genai.trim import trim_draft

__all__ = ["GenerationOptions", "Listener", "SegmentDone", "SegmentProgress", "generate_campaign"]

Progress = Callable[[str, int], None]  # (message, candidates finished so far)


@dataclass(frozen=True)
class GenerationOptions:
    """How hard the pipeline tries: oversampling, retries and sampling."""

    oversample: float = 1.5  # candidates per requested variant in the first round
    max_rounds: int = 3  # first round plus retries with fresh seeds
    # low: the tuned small model writes its best close to its most likely words (at 0.7 it wrote
    # subjects such as "A candle in a jar, in a jar"); variants differ through oversampling, fresh
    # seeds and the rule that no two variants of a segment share a subject
    temperature: float = 0.3
    top_p: float = 0.9
    top_k: int = 40
    max_tokens: int = 320
    # 1.0: a penalty also counts the prompt, and pushes the model away from the brand's own words
    repetition_penalty: float = 1.0
    seed: int | None = None
    dup_threshold: float = 0.92
    timeout_s: float | None = None
    structured: bool = True  # ask the backend for JSON-schema-constrained output
    reward_weight: float = 1.0  # weight of the reward model's chance of acceptance in the ranking
    adapter: str | None = None  # the LoRA adapter to write with, by name; None: the backend's own


@dataclass
class _Attempt:
    segment: Segment
    prompt: RenderedPrompt
    request: GenerationRequest
    round: int


@dataclass(frozen=True)
class SegmentProgress:
    """A segment's run finished a round: candidates parsed so far for that segment."""

    segment: str
    message: str
    candidates: int


@dataclass(frozen=True)
class SegmentDone:
    """A segment's variants, ready."""

    segment: str
    variants: list[Variant]


Listener = Callable[[SegmentProgress | SegmentDone], None]


@dataclass
class _SegmentRun:
    variants: list[Variant]
    rejected: list[dict[str, object]]
    candidates: int
    blocked: int
    blocked_by: dict[str, int]
    queue_s: float
    parse_failures: int
    seconds: float
    shortfall: int
    shortfall_reason: str | None
    warned: int  # variants returned with a gate warning, for want of clean ones
    warned_reason: str | None


def generate_campaign(
    brand: BrandKit,
    brief: Brief,
    backend: Backend,
    *,
    prompt: PromptTemplate | None = None,
    embedder: Embedder | None = None,
    options: GenerationOptions | None = None,
    progress: Progress | None = None,
    listener: Listener | None = None,
    reward: RewardScorer | None = None,
    reward_note: str | None = None,
) -> CampaignDraft:
    """Generate, gate, de-duplicate and rank variants for each segment of the brief.

    Every segment runs on its own worker thread with its own seed (the run's seed plus the
    segment's index) and its own few-shot offset, so a segment's variants are known as soon as
    it is done; the backend merges the concurrent requests into shared batches. `listener` hears
    each round and each finished segment; `progress` hears each round, with the candidates
    parsed so far over all segments. `reward`, a workspace's reward model, takes part in the
    ranking with `options.reward_weight`; `reward_note` says why there is none, for the stats.
    """
    options = options or GenerationOptions()
    prompt = prompt or load_prompt()
    embedder = embedder or default_embedder()
    base_seed = options.seed if options.seed is not None else random.SystemRandom().randrange(2**31)
    started = time.perf_counter()
    lock = threading.Lock()
    finished: dict[str, int] = {}

    def one(index: int, segment: Segment) -> _SegmentRun:
        def said(message: str, done: int) -> None:
            with lock:  # reported under the lock, so the running total never goes back
                finished[segment.name] = done
                if progress:
                    progress(message, sum(finished.values()))
            if listener:
                listener(SegmentProgress(segment.name, message, done))

        run = _run_segment(
            brand, brief, segment, index, backend, prompt, embedder, options, base_seed + index, said, reward
        )
        if listener:
            listener(SegmentDone(segment.name, run.variants))
        return run

    segments = list(brief.segments)
    if len(segments) == 1:
        runs = [one(0, segments[0])]
    else:
        with ThreadPoolExecutor(max_workers=len(segments), thread_name_prefix="copyloop-segment") as pool:
            futures = [pool.submit(one, i, seg) for i, seg in enumerate(segments)]
            done, pending = wait(futures, return_when=FIRST_EXCEPTION)
            for future in pending:
                future.cancel()
            for future in futures:
                error = future.exception() if future in done else None
                if error is not None:
                    raise error
            runs = [f.result() for f in futures]
    by_name = dict(zip((s.name for s in segments), runs, strict=True))
    blocked_by: dict[str, int] = {}
    for run in runs:
        for gate_id, count in run.blocked_by.items():
            blocked_by[gate_id] = blocked_by.get(gate_id, 0) + count
    stats = GenerationStats(
        candidates=sum(r.candidates for r in runs),
        blocked=sum(r.blocked for r in runs),
        blocked_by=blocked_by,
        queue_s=round(max((r.queue_s for r in runs), default=0.0), 4),
        parse_failures=sum(r.parse_failures for r in runs),
        seconds=round(time.perf_counter() - started, 3),
        shortfall={name: r.shortfall for name, r in by_name.items() if r.shortfall},
        shortfall_reasons={name: r.shortfall_reason for name, r in by_name.items() if r.shortfall_reason},
        warned={name: r.warned for name, r in by_name.items() if r.warned},
        warned_reasons={name: r.warned_reason for name, r in by_name.items() if r.warned_reason},
        embedder=embedder.name,
        seed=base_seed,
        reward_model=reward.version if reward is not None else None,
        reward_note=None if reward is not None else reward_note,
    )
    return CampaignDraft(
        brand=brand.name,
        goal=brief.goal,
        variants={name: r.variants for name, r in by_name.items()},
        rejected={name: r.rejected for name, r in by_name.items()},
        stats=stats,
    )


def _run_segment(
    brand: BrandKit,
    brief: Brief,
    segment: Segment,
    index: int,
    backend: Backend,
    prompt: PromptTemplate,
    embedder: Embedder,
    options: GenerationOptions,
    seed: int,
    progress: Progress,
    reward: RewardScorer | None = None,
) -> _SegmentRun:
    """One segment's rounds: generate, parse, gate, select; retry what is missing with fresh seeds."""
    rng = random.Random(seed)
    want = brief.variants_per_segment
    started = time.perf_counter()
    pool: list[tuple[Scored, Lineage]] = []
    failures: list[dict[str, object]] = []
    labels = cta_labels_for(brief)
    rendered = prompt.render(brand, brief, segment, offset=index, cta_labels=labels)
    schema = draft_schema(labels) if options.structured else None
    queue_s = 0.0
    selected: list[Scored] = []
    dropped: list[Scored] = []
    for round_no in range(1, options.max_rounds + 1):
        # a retry is for clean drafts: a variant with a warning is a stand-in, not a result
        missing = want - sum(1 for s in selected if not s.warned)
        if missing <= 0:
            break
        n = max(missing, round(missing * options.oversample)) if round_no == 1 else missing + 1
        attempt = _attempt(segment, rendered, n, round_no, options, rng, schema)
        [result] = backend.generate([attempt.request])
        queue_s = max(queue_s, result.queue_s)
        for cand_index, cand in enumerate(result.candidates):
            lineage = _lineage(backend, attempt, result, cand_index)
            try:
                draft = parse_draft(cand.text, brief.cta_url)
            except ParseError as exc:
                failures.append({"round": round_no, "error": str(exc), "output": cand.text[:500]})
                continue
            draft, trimmed = trim_draft(draft, brief, brand)
            gates = run_gates(draft, brief, brand)
            scored = Scored(len(pool), draft, gates, fluency=cand.mean_logprob, trimmed=trimmed)
            pool.append((scored, lineage))
        progress(f"segment {segment.name}: round {round_no}", len(pool))
        for scored, _ in pool:
            scored.dropped = None
        selected, dropped = select_drafts(
            [s for s, _ in pool],
            brand,
            embedder,
            want,
            options.dup_threshold,
            brief,
            reward=reward,
            reward_weight=options.reward_weight,
        )
    lineages = {id(s): lin for s, lin in pool}
    variants = [
        Variant(
            id=_variant_id(segment.name, scored.draft.to_dict()),
            segment=segment.name,
            rank=rank,
            draft=scored.draft,
            score=scored.score,
            reasons=scored.reasons or [],
            gates=scored.gates,
            lineage=dataclasses.replace(
                lineages[id(scored)],
                reward_model=reward.version if scored.reward is not None and reward else None,
            ),
            html=render_html(scored.draft, brand, lang=brief.language),
            text=render_text(scored.draft, brand),
        )
        for rank, scored in enumerate(selected, start=1)
    ]
    rejected: list[dict[str, object]] = [
        {
            "reason": s.dropped,
            "subject": s.draft.subject,
            "gates": [g.gate_id for g in s.gates if not g.passed],
        }
        for s in dropped
    ]
    blocked_by: dict[str, int] = {}
    for scored, _ in pool:
        for gate in scored.gates:
            if gate.blocks:
                blocked_by[gate.gate_id] = blocked_by.get(gate.gate_id, 0) + 1
    shortfall = want - len(variants)
    reason = None
    if shortfall:
        top = ", ".join(f"{g} ({n})" for g, n in sorted(blocked_by.items(), key=lambda kv: -kv[1])[:3])
        reason = (
            f"only {len(variants)} of {want} variants passed the gates after {options.max_rounds} rounds"
            + (f"; most blocked by {top}" if top else "")
            + (f"; {len(failures)} outputs could not be parsed" if failures else "")
        )
    warned = [s for s in selected if s.warned]
    warned_reason = None
    if warned:
        warning_ids = sorted({g.gate_id for s in warned for g in s.gates if not g.passed})
        warned_reason = (
            f"{len(warned)} of {len(variants)} variants carry gate warnings ({', '.join(warning_ids)}): "
            f"too few drafts were clean after {options.max_rounds} rounds; review them before sending"
        )
    return _SegmentRun(
        variants=variants,
        rejected=rejected + failures,
        candidates=len(pool) + len(failures),
        blocked=sum(1 for scored, _ in pool if any(g.blocks for g in scored.gates)),
        blocked_by=blocked_by,
        queue_s=queue_s,
        parse_failures=len(failures),
        seconds=round(time.perf_counter() - started, 3),
        shortfall=shortfall,
        shortfall_reason=reason,
        warned=len(warned),
        warned_reason=warned_reason,
    )


def _attempt(
    segment: Segment,
    prompt: RenderedPrompt,
    n: int,
    round_no: int,
    options: GenerationOptions,
    rng: random.Random,
    schema: dict[str, object] | None,
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
        json_schema=schema,
        timeout_s=options.timeout_s,
        adapter=options.adapter,
    )
    return _Attempt(segment, prompt, request, round_no)


def _lineage(backend: Backend, attempt: _Attempt, result: GenerationResult, index: int) -> Lineage:
    cand = result.candidates[index]
    adapter = result.adapter or AdapterUsed(backend.adapter_name, backend.adapter_sha256)
    return Lineage(
        backend=backend.name,
        model_id=backend.model_id,
        checkpoint_sha256=backend.checkpoint_sha256,
        adapter=adapter.name,
        adapter_sha256=adapter.sha256,
        prompt_name=attempt.prompt.name,
        prompt_version=attempt.prompt.version,
        prompt_sha256=attempt.prompt.sha256,
        seed=attempt.request.sampling.seed,
        sampling=attempt.request.sampling.to_dict(),
        tokens_in=result.tokens_in,
        tokens_out=cand.tokens_out,
        ttft_s=result.ttft_s,
        latency_s=result.total_s,
        time_per_output_token_s=result.time_per_output_token(),
        finish_reason=cand.finish_reason,
        attempts=attempt.round,
        candidate=index,
    )


def _variant_id(segment: str, draft: dict[str, object]) -> str:
    blob = json.dumps([segment, draft], sort_keys=True).encode()
    return "var_" + hashlib.sha256(blob).hexdigest()[:12]
