"""The LoRA adapters a workspace's generations may name, with their training figures."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from serving.adapter_scope import visible_adapters
from serving.deps import Reader, RuntimeDep
from serving.routes import COMMON_ERRORS
from serving.schemas import AdapterOut

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
