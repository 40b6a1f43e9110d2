"""Reward models: train a workspace's scorer of drafts from its feedback, list and read them."""

from __future__ import annotations

from fastapi import APIRouter

from feedback.rewards import StoredRewardModel, get_reward_model, list_reward_models, train_reward_model
from serving.deps import Analyst, Reader, RuntimeDep, SessionDep
from serving.routes import COMMON_ERRORS
from serving.schemas import RewardModelCreate, RewardModelOut

__all__ = ["reward_model_out", "router"]

router = APIRouter(prefix="/v1", tags=["reward models"], responses=COMMON_ERRORS)


def reward_model_out(stored: StoredRewardModel) -> RewardModelOut:
    """The API's view of a stored reward model."""
    return RewardModelOut(
        id=stored.id,
        version=stored.version,
        label=stored.label,
        kind=stored.kind,
        trained_until=stored.trained_until,
        created_at=stored.created_at,
        metrics=stored.metrics,
        manifest=stored.manifest,
        named_weights=stored.model.named_weights(),
    )


@router.post("/reward-models", status_code=201)
def create_reward_model(
    body: RewardModelCreate, key: Analyst, session: SessionDep, runtime: RuntimeDep
) -> RewardModelOut:
    """Train the workspace's next reward model on the feedback known at `as_of`.

    Labels: a variant's latest accept (1), reject (0) or edit (1, half weight); else, once sent to
    30 contacts, its clicks and conversions per send against the workspace's median. Needs at least
    50 labelled drafts with both verdicts (422 naming `feedback` otherwise). `kind`: `logistic`,
    `cross-encoder` (fine-tuned on the brief and the draft; minutes on a CPU) or `auto`, the
    cross-encoder from 5,000 labelled drafts on. Generation ranks with the newest model from then on
    and names it in each variant's lineage.
    """
    embedder = runtime.require_embedder()
    cross = runtime.settings.cross_encoder_training()
    with session.begin():
        stored = train_reward_model(
            session,
            key.workspace_id,
            embedder,
            as_of=body.as_of,
            seed=body.seed,
            kind=body.kind,
            cross=cross,
        )
        return reward_model_out(stored)


@router.get("/reward-models")
def list_models(key: Reader, session: SessionDep) -> list[RewardModelOut]:
    """The workspace's reward models, newest first."""
    with session.begin():
        return [reward_model_out(s) for s in list_reward_models(session, key.workspace_id)]


@router.get("/reward-models/{reward_model_id}")
def get_model(reward_model_id: str, key: Reader, session: SessionDep) -> RewardModelOut:
    """One of the workspace's reward models."""
    with session.begin():
        return reward_model_out(get_reward_model(session, key.workspace_id, reward_model_id))
