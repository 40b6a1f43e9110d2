"""Linear layers that decode at memory speed on CPUs.

A decode step multiplies every weight matrix by one row per sequence, so its speed is how fast the
weights stream from memory. PyTorch's `F.linear` falls short of that on CPUs in both dtypes:

- fp32: it hands the product to a BLAS GEMM that reads an ``[out, in]`` weight at about a third of
  the machine's read bandwidth (measured here: 10 GB/s for the 262k x 640 output layer against
  33 GB/s for a plain sum), and with 2 to 16 rows (batched decode) it repacks the whole weight on
  every call (4 GB/s). `DecodeLinear` runs one row as one batched product over row blocks of the
  weight (`torch.bmm`), which spreads the rows over all cores and reaches the bandwidth; 2 to 16
  rows go to oneDNN with a copy of the weight reordered once for that batch size (2 to 3x faster
  than the GEMM at 8 and 16 rows). Prefill (many rows) keeps the GEMM, which is compute-bound there.
- bf16: `PackedLinear` hands the product to oneDNN with the weight reordered once into its blocked
  layout, the way PyTorch's own compiler does for CPU inference: about 1.5x faster than `F.linear`
  at batch 1 and 8 on a CPU with AVX-512 bf16 instructions.

The reordered copies sit beside the plain weights (the state dict, tied embeddings and prefill use
those), so the swapped layers take twice their memory. Every output is contiguous: attention takes
its fast kernel only for contiguous queries (a transposed one sent batched decode to the slow path).

`use_cpu_decode_layers(model)` swaps each `nn.Linear` of a model for the right one of these, sharing
its parameters (tied embeddings stay tied, the state dict is unchanged). Only the backend imports
this module, after it has imported torch.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "MAX_DECODE_ROWS",
    "MIN_BLOCK_ROWS",
    "PACKED_BATCH_HINT",
    "DecodeLinear",
    "PackedLinear",
    "packed_bf16_supported",
    "packed_fp32_supported",
    "row_blocks",
    "shared_linear",
    "use_cpu_decode_layers",
    "use_decode_gemv",
]

LinearT = TypeVar("LinearT", bound=nn.Linear)

# Up to this many rows a product is treated as decode (memory-bound); more is prefill.
MAX_DECODE_ROWS = 16
# Smaller blocks cost more in per-block overhead than they gain in parallelism.
MIN_BLOCK_ROWS = 256


def row_blocks(rows: int, cores: int, min_block_rows: int = MIN_BLOCK_ROWS) -> int:
    """How many equal row blocks to split an ``[rows, in]`` weight into (1: do not split)."""
    for blocks in (64, 32, 16, 8, 4, 2):
        if blocks >= cores and rows % blocks == 0 and rows // blocks >= min_block_rows:
            return blocks
    return 1


# The batch size oneDNN lays fp32 weights out for: decode batches of a few requests' variants.
PACKED_BATCH_HINT = 8


class DecodeLinear(nn.Linear):
    """fp32 `nn.Linear` for decode: one row over weight row blocks, a few rows through oneDNN."""

    blocks: int = 1
    packed: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, inp = self.weight.shape
        rows = x.numel() // inp
        if rows > MAX_DECODE_ROWS or (rows == 1 and self.blocks == 1):
            return F.linear(x, self.weight, self.bias)  # prefill, or one row of a small layer
        if rows == 1:
            column = x.reshape(1, inp).t()  # strides (1, inp): the layout bmm reads at bandwidth
            blocked = self.weight.view(self.blocks, out // self.blocks, inp)
            y = torch.bmm(blocked, column.unsqueeze(0).expand(self.blocks, inp, 1)).view(1, out)
            if self.bias is not None:
                y = y + self.bias
            return y.reshape(*x.shape[:-1], out)
        if self.packed is not None:
            return _onednn_linear(x, self.packed, self.bias, out)
        return F.linear(x, self.weight, self.bias)


class PackedLinear(nn.Linear):
    """`nn.Linear` computed by oneDNN from a copy of the weight reordered into oneDNN's layout."""

    packed: torch.Tensor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _onednn_linear(x, self.packed, self.bias, self.out_features)


def _onednn_linear(
    x: torch.Tensor, packed: torch.Tensor, bias: torch.Tensor | None, out: int
) -> torch.Tensor:
    rows = x.reshape(-1, x.shape[-1])
    y: torch.Tensor = torch.ops.mkldnn._linear_pointwise(rows, packed, bias, "none", [], "")
    return y.reshape(*x.shape[:-1], out)


def packed_fp32_supported() -> bool:
    """Whether this PyTorch build runs oneDNN linear layers from reordered weights."""
    mkldnn = torch.ops.mkldnn
    return (
        torch.backends.mkldnn.is_available()  # type: ignore[no-untyped-call]
        and hasattr(mkldnn, "_linear_pointwise")
        and hasattr(mkldnn, "_reorder_linear_weight")
    )


def packed_bf16_supported() -> bool:
    """Whether this PyTorch build and CPU run oneDNN's bf16 linear layers."""
    return packed_fp32_supported() and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def use_cpu_decode_layers(model: Any) -> int:
    """Swap the linear layers of a CPU model for the decode-speed ones of its dtype; return how many."""
    dtype = next(model.parameters()).dtype
    if dtype == torch.float32:
        return use_decode_gemv(model)
    if dtype == torch.bfloat16 and packed_bf16_supported():
        return use_packed_linear(model)
    return 0


def use_packed_linear(model: Any) -> int:
    """Replace the model's bf16 `nn.Linear` layers with `PackedLinear` ones; return how many."""

    def packed(child: nn.Linear) -> nn.Linear | None:
        if child.weight.dtype != torch.bfloat16:
            return None
        return shared_linear(PackedLinear, child)

    swapped = _swap_linear_layers(model, packed)
    # batch-size hint 1: the layout for decode steps, where the time goes
    _reorder(swapped, 1)
    return len(swapped)


def use_decode_gemv(
    model: Any, cores: int | None = None, min_block_rows: int = MIN_BLOCK_ROWS, packed: bool | None = None
) -> int:
    """Replace the model's `nn.Linear` layers with `DecodeLinear` ones; return how many were replaced.

    `packed` (default: where oneDNN is available) also keeps the reordered copy for 2 to 16 rows.
    """
    threads = cores or torch.get_num_threads()

    def blocked(child: nn.Linear) -> nn.Linear | None:
        if not child.weight.is_contiguous() or child.weight.dtype != torch.float32:
            return None
        replacement = shared_linear(DecodeLinear, child)
        replacement.blocks = row_blocks(child.out_features, threads, min_block_rows)
        return replacement

    swapped = _swap_linear_layers(model, blocked)
    if packed_fp32_supported() if packed is None else packed:
        _reorder(swapped, PACKED_BATCH_HINT)
    return len(swapped)


def _reorder(layers: list[nn.Linear], batch_hint: int) -> None:
    """Give each layer a copy of its weight in oneDNN's layout for that batch size, on every core.

    A reorder is mostly page faults of the new copy on one core; several at once take half the time.
    """

    def one(layer: nn.Linear) -> None:
        with torch.no_grad():
            packed = torch.ops.mkldnn._reorder_linear_weight(layer.weight.detach(), batch_hint)
        layer.packed = packed

    with ThreadPoolExecutor(max_workers=max(1, torch.get_num_threads())) as pool:
        list(pool.map(one, layers))


def _swap_linear_layers(model: Any, make: Callable[[nn.Linear], nn.Linear | None]) -> list[nn.Linear]:
    """Put `make(layer)` in place of each plain `nn.Linear` it returns a layer for; return those."""
    swapped: list[nn.Linear] = []
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not nn.Linear:
                continue
            replacement = make(child)
            if replacement is not None:
                setattr(parent, name, replacement)
                swapped.append(replacement)
    return swapped


def shared_linear(kind: type[LinearT], child: nn.Linear) -> LinearT:
    """A `kind` layer that holds `child`'s own parameters (no copy)."""
    replacement = nn.Linear.__new__(kind)
    nn.Module.__init__(replacement)
    replacement.in_features, replacement.out_features = child.in_features, child.out_features
    replacement.weight, replacement.bias = child.weight, child.bias
    return replacement
