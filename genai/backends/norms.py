"""RMS norms of the Gemma family as one fused product per call.

Gemma's `RMSNorm` takes about nine tensor operations per call (upcast, square, mean, add, rsqrt, two
multiplies, the ``1 + weight`` and the cast back), and a Gemma 3 decode step calls it 109 times: on a
CPU, where each operation costs its dispatch, that is several milliseconds a token. `FusedRMSNorm`
computes the same thing with `F.rms_norm` (the same fp32 arithmetic, bit for bit) and the
``1 + weight`` precomputed once. Only the backend imports this module, after it has imported torch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["GEMMA_NORMS", "FusedRMSNorm", "use_fused_rms_norm"]

# The norms that compute ``x / rms(x) * (1 + weight)`` in fp32 and cast back (Gemma 1 to 3).
GEMMA_NORMS = frozenset({"GemmaRMSNorm", "Gemma2RMSNorm", "Gemma3RMSNorm"})


class FusedRMSNorm(nn.Module):
    """A Gemma RMS norm in one `F.rms_norm`; shares the original's weight (the state dict is unchanged)."""

    scale: torch.Tensor

    def __init__(self, source: nn.Module) -> None:
        super().__init__()
        weight: nn.Parameter = source.weight  # type: ignore[assignment]
        self.weight = weight
        self.eps: float = float(source.eps)  # type: ignore[arg-type]
        with torch.no_grad():
            # weights do not change while serving; not in the state dict
            self.register_buffer("scale", 1.0 + weight.detach().float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.float(), (x.shape[-1],), self.scale, self.eps).type_as(x)


def use_fused_rms_norm(model: Any) -> int:
    """Replace the model's Gemma RMS norms with `FusedRMSNorm` ones; return how many."""
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child).__name__ in GEMMA_NORMS and isinstance(
                getattr(child, "weight", None), nn.Parameter
            ):
                setattr(parent, name, FusedRMSNorm(child))
                swapped += 1
    return swapped
