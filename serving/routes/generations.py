"""Generations: a brief in, a stored campaign draft out (or streamed); variants as JSON, HTML or text.

The pipeline runs on worker threads (at most ``max_concurrent_generations`` at once), never on the
event loop, so feedback and outcome calls keep answering while the model works. The variants are
stored in one transaction once every segment is done; a failure or a timeout stores nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response, StreamingResponse

from feedback.catalog import (
    create_campaign,
    lineage_of,
    list_generation_requests,
    rendered_variant,
    save_campaign,
    variants_of,
)
from feedback.models import Brand, GenerationRequestRow, VariantRow
from feedback.prompt_arms import ArmChoice, choose_arm
from feedback.rewards import StoredRewardModel, cross_encoder_dir, latest_reward_model
from feedback.tenancy import get_in_workspace
from genai.brand import BrandKit
from genai.campaign import CampaignDraft, Variant
from genai.errors import CopyloopError, GenerationTimeoutError
from genai.pipeline import GenerationOptions, Listener, SegmentDone, SegmentProgress, generate_campaign
from genai.prompts import load_prompt
from genai.reward import MIN_LABELLED, BoundReward, RewardScorer
from genai.reward_cache import RewardCache
from genai.reward_cross import CrossReward, CrossRewardModel
from serving.adapter_scope import check_visible, is_visible
from serving.deps import Marketer, Reader, RuntimeDep, SessionDep
from serving.errors import domain_error, error_envelope, error_status
from serving.routes import COMMON_ERRORS, Limit, Offset, errors
from serving.runtime import Runtime
from serving.schemas import (
    DraftOut,
    DraftVariantOut,
    GateOut,
    GenerationCreate,
    GenerationOut,
    GenerationSummaryOut,
    LineageOut,
    VariantOut,
)

__all__ = ["generation_out", "router", "variant_out"]

router = APIRouter(prefix="/v1", tags=["generations"], responses=COMMON_ERRORS)

# A comment line this often keeps proxies from closing a quiet event stream.
KEEPALIVE_S = 15.0

_STREAM_DOC = (
    "With `Accept: text/event-stream` the answer is a stream of server-sent events: `progress` "
    "(a segment finished a round), `variant` (a variant ready, before it is stored), `done` (the "
    "stored generation, as the JSON answer has it) or `error` (the error envelope and its status)."
)


def variant_out(variant: VariantRow) -> VariantOut:
    """A stored variant as the API shows it."""
    base = f"/v1/variants/{variant.id}"
    return VariantOut(
        id=variant.id,
        generation_id=variant.generation_request_id,
        pipeline_id=variant.pipeline_id,
        segment=variant.segment_name,
        rank=variant.rank,
        score=variant.score,
        reasons=list(variant.reasons),
        gates=[GateOut(**gate) for gate in variant.gate_results],
        draft=DraftOut(**variant.draft),
        lineage=LineageOut(**dataclasses.asdict(lineage_of(variant))),
        created_at=variant.created_at,
        links={"self": base, "html": f"{base}/html", "text": f"{base}/text", "feedback": f"{base}/feedback"},
    )


def generation_out(request: GenerationRequestRow, variants: list[VariantRow]) -> GenerationOut:
    """A stored generation with its variants grouped by segment (in the brief's order)."""
    order = [s.get("name") for s in request.brief.get("segments", []) if isinstance(s, dict)]
    grouped: dict[str, list[VariantOut]] = {str(name): [] for name in order}
    for variant in variants:
        grouped.setdefault(variant.segment_name, []).append(variant_out(variant))
    return GenerationOut(
        id=request.id,
        status=request.status,
        brand_id=request.brand_id,
        campaign_id=request.campaign_id,
        brief=request.brief,
        stats=request.stats,
        created_at=request.created_at,
        variants=grouped,
    )


def _draft_variant(variant: Variant) -> DraftVariantOut:
    return DraftVariantOut(
        pipeline_id=variant.id,
        segment=variant.segment,
        rank=variant.rank,
        score=variant.score,
        reasons=list(variant.reasons),
        gates=[GateOut(**dataclasses.asdict(g)) for g in variant.gates],
        draft=DraftOut(**variant.draft.to_dict()),
        lineage=LineageOut(**dataclasses.asdict(variant.lineage)),
    )


def _brand_kit(runtime: Runtime, workspace_id: str, brand_id: str) -> BrandKit:
    with runtime.sessions() as session, session.begin():
        brand = get_in_workspace(session, Brand, workspace_id, brand_id)
        return BrandKit.from_dict(brand.kit)


# cross-encoders this process has loaded, by model id: the few newest workspaces' models
_CROSS_REWARDS: RewardCache[CrossReward] = RewardCache(size=4)


def _reward(runtime: Runtime, workspace_id: str) -> tuple[RewardScorer | None, str | None]:
    """The workspace's newest reward model, ready to score, or why the ranking goes without."""
    if runtime.settings.reward_weight == 0:
        return None, "the reward model's weight is set to 0"
    with runtime.sessions() as session, session.begin():
        stored = latest_reward_model(session, workspace_id)
    if stored is None:
        return None, (
            f"the workspace has no reward model yet: one is trained (POST /v1/reward-models) "
            f"from at least {MIN_LABELLED} drafts marketers accepted, edited or rejected"
        )
    if isinstance(stored.model, CrossRewardModel):
        return _cross_reward(runtime, stored, stored.model)
    embedder = runtime.require_embedder()
    if embedder.name != stored.model.embedder:
        return (
            None,
            f"reward model {stored.label} was trained on {stored.model.embedder}, not {embedder.name}",
        )
    return BoundReward(stored.model, embedder, stored.label), None


def _cross_reward(
    runtime: Runtime, stored: StoredRewardModel, model: CrossRewardModel
) -> tuple[RewardScorer | None, str | None]:
    """A stored cross-encoder, loaded once per process; a missing or altered one is left out, saying why."""
    try:
        folder = cross_encoder_dir(runtime.settings.data_dir, model)
        scorer = _CROSS_REWARDS.get(
            stored.id, lambda: CrossReward(folder, model.sha256, stored.label, max_length=model.max_length)
        )
    except CopyloopError as exc:
        return None, f"reward model {stored.label} could not be loaded, the ranking goes without it: {exc}"
    return scorer, None


def _prompt_arm(runtime: Runtime, workspace_id: str) -> ArmChoice | None:
    """The prompt version this generation uses when several are live, chosen by the bandit."""
    arms = runtime.settings.prompt_arms
    if not arms:
        return None
    with runtime.sessions() as session, session.begin():
        return choose_arm(session, workspace_id, arms)


def _adapter_arm(runtime: Runtime, workspace_id: str) -> ArmChoice | None:
    """The adapter this generation uses when several are live, chosen by the bandit."""
    settings = runtime.settings
    # never another workspace's brand adapter, whatever the operator made live
    arms = [a for a in settings.adapter_arms if is_visible(settings.adapters_dir, workspace_id, a)]
    if not arms:
        return None
    with runtime.sessions() as session, session.begin():
        return choose_arm(session, workspace_id, arms, kind="adapter")


def _save(
    runtime: Runtime, workspace_id: str, body: GenerationCreate, campaign: CampaignDraft
) -> GenerationOut:
    with runtime.sessions() as session, session.begin():
        campaign_id = None
        if body.campaign_name:
            campaign_id = create_campaign(session, workspace_id, body.campaign_name, body.brand_id).id
        request = save_campaign(
            session, workspace_id, body.brief, campaign, body.brand_id, campaign_id=campaign_id
        )
        return generation_out(request, variants_of(session, workspace_id, request.id))


async def _generate(
    runtime: Runtime,
    workspace_id: str,
    body: GenerationCreate,
    listener: Listener | None = None,
) -> GenerationOut:
    """Run the pipeline on worker threads within the deadline, then store the result."""
    backend = runtime.require_backend()
    kit = await anyio.to_thread.run_sync(_brand_kit, runtime, workspace_id, body.brand_id)
    # an adapter the request names wins; else, with several live, the bandit picks one
    adapter_arm = (
        None
        if body.adapter is not None
        else await anyio.to_thread.run_sync(_adapter_arm, runtime, workspace_id)
    )
    adapter = body.adapter if adapter_arm is None else adapter_arm.arm
    if body.adapter is not None:
        # another workspace's brand adapter is answered as if it did not exist
        check_visible(runtime.settings.adapters_dir, workspace_id, body.adapter)
    if adapter is not None:
        # an adapter the backend cannot write with is refused (422, field adapter) before any work
        await anyio.to_thread.run_sync(backend.check_adapter, adapter)
    settings = runtime.settings
    options = GenerationOptions(
        seed=body.options.seed,
        temperature=body.options.temperature,
        top_p=body.options.top_p,
        timeout_s=settings.generation_timeout_s,
        reward_weight=settings.reward_weight,
        adapter=adapter,
    )

    def work() -> CampaignDraft:
        embedder = runtime.require_embedder()
        reward, reward_note = _reward(runtime, workspace_id)
        arm = _prompt_arm(runtime, workspace_id)
        campaign = generate_campaign(
            kit,
            body.brief,
            backend,
            prompt=load_prompt(version=arm.arm) if arm else None,
            embedder=embedder,
            options=options,
            listener=listener,
            reward=reward,
            reward_note=reward_note,
        )
        stats = campaign.stats
        if arm is not None:
            stats = dataclasses.replace(stats, prompt_arm=arm.to_dict())
        if adapter_arm is not None:
            stats = dataclasses.replace(stats, adapter_arm=adapter_arm.to_dict())
        return dataclasses.replace(campaign, stats=stats)

    metrics = runtime.metrics
    try:
        with anyio.fail_after(settings.generation_timeout_s):
            campaign = await anyio.to_thread.run_sync(
                work, abandon_on_cancel=True, limiter=runtime.generation_slots
            )
    except TimeoutError:
        metrics.generations.labels(status="timeout").inc()
        raise GenerationTimeoutError(
            f"the generation did not finish within {settings.generation_timeout_s:g} s", field="brief"
        ) from None
    except CopyloopError as exc:
        metrics.generations.labels(status="timeout" if error_status(exc) == 504 else "failed").inc()
        raise
    for gate_id, count in campaign.stats.blocked_by.items():
        metrics.gate_blocks.labels(gate_id=gate_id).inc(count)
    stored = await anyio.to_thread.run_sync(_save, runtime, workspace_id, body, campaign)
    metrics.generations.labels(status="completed").inc()
    return stored


def _sse(event: str, data: str | dict[str, Any]) -> str:
    """One server-sent event; `data` is JSON text or a JSON-ready dict."""
    payload = data if isinstance(data, str) else json.dumps(data, default=str)
    return f"event: {event}\ndata: {payload}\n\n"


async def _event_stream(runtime: Runtime, workspace_id: str, body: GenerationCreate) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[str, str]] = asyncio.Queue()

    def listener(event: SegmentProgress | SegmentDone) -> None:
        # Called on the pipeline's worker threads; the queue belongs to the event loop.
        if isinstance(event, SegmentProgress):
            item = ("progress", json.dumps(dataclasses.asdict(event)))
            loop.call_soon_threadsafe(queue.put_nowait, item)
            return
        for variant in event.variants:
            loop.call_soon_threadsafe(
                queue.put_nowait, ("variant", _draft_variant(variant).model_dump_json())
            )

    task = asyncio.create_task(_generate(runtime, workspace_id, body, listener))
    try:
        yield _sse("started", {"segments": [s.name for s in body.brief.segments]})
        while True:
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait(
                {getter, task}, timeout=KEEPALIVE_S, return_when=asyncio.FIRST_COMPLETED
            )
            if getter in done:
                yield _sse(*getter.result())
                continue
            getter.cancel()
            if not done:
                yield ": keep-alive\n\n"
                continue
            await asyncio.sleep(0)  # let the last call_soon_threadsafe callbacks run
            while not queue.empty():
                yield _sse(*queue.get_nowait())
            error = task.exception()
            if error is None:
                yield _sse("done", task.result().model_dump_json())
            elif isinstance(error, CopyloopError):
                status, envelope, _ = domain_error(error)
                yield _sse("error", {**envelope, "status": status})
            else:
                envelope = error_envelope("internal_error", "the generation failed")
                yield _sse("error", {**envelope, "status": 500})
            return
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


@router.post(
    "/generations",
    status_code=201,
    response_model=GenerationOut,
    description="Generate variants for every segment of the brief and store them. " + _STREAM_DOC,
    responses={
        **errors(502, 504),
        200: {
            "description": "The event stream (with Accept: text/event-stream).",
            "content": {"text/event-stream": {}},
        },
    },
)
async def create_generation(
    body: GenerationCreate, request: Request, key: Marketer, runtime: RuntimeDep
) -> GenerationOut | Response:
    """Generate, gate, rank and store e-mail variants for each segment of a brief."""
    runtime.require_backend()
    if "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(
            _event_stream(runtime, key.workspace_id, body),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )
    return await _generate(runtime, key.workspace_id, body)


@router.get("/generations")
def list_generations(
    key: Reader, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> list[GenerationSummaryOut]:
    """The workspace's generations, newest first."""
    with session.begin():
        rows = list_generation_requests(session, key.workspace_id, limit, offset)
        return [
            GenerationSummaryOut(
                id=r.id,
                status=r.status,
                brand_id=r.brand_id,
                campaign_id=r.campaign_id,
                created_at=r.created_at,
                goal=r.brief.get("goal") if isinstance(r.brief.get("goal"), str) else None,
                variant_count=count,
            )
            for r, count in rows
        ]


@router.get("/generations/{generation_id}")
def get_generation(generation_id: str, key: Reader, session: SessionDep) -> GenerationOut:
    """One generation with its variants per segment, gates, scores and lineage."""
    with session.begin():
        request = get_in_workspace(session, GenerationRequestRow, key.workspace_id, generation_id)
        return generation_out(request, variants_of(session, key.workspace_id, generation_id))


@router.get("/variants/{variant_id}", tags=["variants"])
def get_variant(variant_id: str, key: Reader, session: SessionDep) -> VariantOut:
    """One variant as JSON: draft, gates, score, reasons and lineage."""
    with session.begin():
        return variant_out(get_in_workspace(session, VariantRow, key.workspace_id, variant_id))


# The HTML is model-written e-mail: a sandbox keeps it from running script on the API's origin.
_HTML_HEADERS = {"Content-Security-Policy": "sandbox", "X-Content-Type-Options": "nosniff"}


# The error answers stay JSON, so the routes keep the JSON response class and declare their text body.
@router.get(
    "/variants/{variant_id}/html",
    tags=["variants"],
    response_model=None,
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}}, "description": "The e-mail."}},
)
def get_variant_html(variant_id: str, key: Reader, session: SessionDep) -> HTMLResponse:
    """The variant rendered as responsive e-mail HTML."""
    with session.begin():
        html = rendered_variant(session, key.workspace_id, variant_id, "html")
    return HTMLResponse(html, headers=_HTML_HEADERS)


@router.get(
    "/variants/{variant_id}/text",
    tags=["variants"],
    response_model=None,
    responses={
        200: {"content": {"text/plain": {"schema": {"type": "string"}}}, "description": "The e-mail."}
    },
)
def get_variant_text(variant_id: str, key: Reader, session: SessionDep) -> PlainTextResponse:
    """The variant as the plain-text part of the e-mail."""
    with session.begin():
        text = rendered_variant(session, key.workspace_id, variant_id, "text")
    return PlainTextResponse(text, headers={"X-Content-Type-Options": "nosniff"})
