"""The bandits' arms: each live (or once used) prompt version, or adapter, with its figures."""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter

from feedback.prompt_arms import prompt_arm_reports
from serving.deps import Reader, RuntimeDep, SessionDep
from serving.routes import COMMON_ERRORS
from serving.schemas import PromptArmOut

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["bandit arms"], responses=COMMON_ERRORS)


@router.get("/prompt-arms")
def list_prompt_arms(key: Reader, session: SessionDep, runtime: RuntimeDep) -> list[PromptArmOut]:
    """The prompt versions live now (`COPYLOOP_PROMPT_ARMS`) and those the workspace used before.

    Each with the generations that chose it, its variants' verdicts, the posterior mean of its
    acceptance rate, its chance of being chosen now, and the inverse-propensity (IPS and SNIPS)
    estimates of its acceptance rate from the logged choices, free of the bandit's own allocation.
    """
    with session.begin():
        reports = prompt_arm_reports(session, key.workspace_id, runtime.settings.prompt_arms)
        return [PromptArmOut(**dataclasses.asdict(r)) for r in reports]


@router.get("/adapter-arms")
def list_adapter_arms(key: Reader, session: SessionDep, runtime: RuntimeDep) -> list[PromptArmOut]:
    """The adapters live now (`COPYLOOP_ADAPTER_ARMS`) and those that wrote the workspace's variants.

    The same figures as the prompt arms: generations that chose it, its variants' verdicts, the
    posterior mean, its chance of being chosen now, and the IPS and SNIPS estimates; `arm` is the
    adapter's name (``none``: the base model).
    """
    with session.begin():
        reports = prompt_arm_reports(session, key.workspace_id, runtime.settings.adapter_arms, kind="adapter")
        return [PromptArmOut(**dataclasses.asdict(r)) for r in reports]
