"""The LoRA adapters a workspace's generations may name, with their training figures."""

from __future__ import annotations

import dataclasses
from typing import Any

from fastapi import APIRouter

from feedback.models import Brand
from feedback.tenancy import get_in_workspace, get_workspace
from genai.errors import InvalidInputError
from genai.tuning.from_feedback import MIN_APPROVED
from serving.adapter_jobs import AdapterJobs
from serving.adapter_scope import visible_adapters
from serving.cli_tune_brand import approved_corpus
from serving.deps import Analyst, Reader, RuntimeDep, SessionDep
from serving.routes import COMMON_ERRORS, errors
from serving.runtime import Runtime
from serving.schemas import AdapterCreate, AdapterJobOut, AdapterOut

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["adapters"], responses=COMMON_ERRORS)


def _number(training: dict[str, Any], key: str) -> float | None:
    value = training.get(key)
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


@router.get("/adapters")
def list_adapters(key: Reader, runtime: RuntimeDep) -> list[AdapterOut]:
    """The shipped adapters, and those trained here that this workspace may name: the ones trained
    on no one's feedback in particular and its own brands' (`copyloop tune --brand`)."""
    out = []
    for info in visible_adapters(runtime.settings.adapters_dir, key.workspace_id):
        training, scope = info.training, info.scope
        out.append(
            AdapterOut(
                name=info.adapter.name,
                sha256=info.adapter.sha256,
                rank=info.adapter.rank,
                origin=info.origin,
                brand_id=scope.get("brand_id"),
                brand=scope.get("brand"),
                as_of=scope.get("as_of"),
                train_pairs=int(_number(training, "train_pairs") or 0),
                eval_pairs=int(_number(training, "eval_pairs") or 0),
                steps=int(_number(training, "steps") or 0),
                eval_loss_before=_number(training, "eval_loss_before"),
                eval_loss_after=_number(training, "eval_loss_after"),
            )
        )
    return out


def _jobs(runtime: Runtime) -> AdapterJobs:
    if runtime.adapter_jobs is None:
        raise InvalidInputError("this server does not train adapters", field="brand_id")
    return runtime.adapter_jobs


@router.post("/adapters", status_code=202, responses=errors(409))
def train_adapter(
    body: AdapterCreate, key: Analyst, session: SessionDep, runtime: RuntimeDep
) -> AdapterJobOut:
    """Start training the brand's next adapter on its approved drafts (accepted, or edited: the
    marketer's text), continuing from the shipped adapter, in a process of its own; one job at a time
    (409 while one runs). It takes minutes to hours on a CPU: follow it at `/v1/adapters/{name}/job`.
    A brand with fewer than 8 approved drafts is refused (422 naming `brand_id`)."""
    with session.begin():
        brand = get_in_workspace(session, Brand, key.workspace_id, body.brand_id)
        workspace_name = get_workspace(session, key.workspace_id).name
        corpus = approved_corpus(session, key.workspace_id, brand, body.as_of)
        brand_name = brand.name
    corpus.require(MIN_APPROVED, brand_name, "brand_id")
    job = _jobs(runtime).start(
        workspace_id=key.workspace_id,
        workspace_name=workspace_name,
        brand_id=brand.id,
        brand_name=brand_name,
        as_of=body.as_of,
        max_steps=body.max_steps,
    )
    return AdapterJobOut(**dataclasses.asdict(job))


@router.get("/adapters/{name}/job")
def adapter_job(name: str, key: Reader, runtime: RuntimeDep) -> AdapterJobOut:
    """The training job of one of this workspace's adapters."""
    return AdapterJobOut(**dataclasses.asdict(_jobs(runtime).status(key.workspace_id, name)))
