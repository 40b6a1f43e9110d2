"""A memory-bound matrix-vector product for decoding on CPUs.

A decode step multiplies every weight matrix by one row per sequence, so its speed is how fast the
weights stream from memory. PyTorch's `F.linear` hands such a product to a BLAS GEMM that reads an
``[out, in]`` fp32 weight at about half the machine's read bandwidth (measured here: 10 GB/s for the
262k x 640 output layer against 33 GB/s for a plain sum). Splitting the weight into row blocks and
running one batched product over them (`torch.bmm`) spreads the rows over all cores and reaches the
bandwidth. Prefill (many rows) keeps the GEMM, which is compute-bound there.

`use_decode_gemv(model)` swaps each `nn.Linear` of a model for a `DecodeLinear` that shares its
parameters (tied embeddings stay tied, the state dict is unchanged). Only the backend imports this module,
after it has imported torch.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["MAX_DECODE_ROWS", "MIN_BLOCK_ROWS", "DecodeLinear", "row_blocks", "use_decode_gemv"]

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


class DecodeLinear(nn.Linear):
    """`nn.Linear` whose few-row products run as one batched product over weight row blocks."""

    blocks: int = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, inp = self.weight.shape
        rows = x.numel() // inp
        if self.blocks == 1 or rows > MAX_DECODE_ROWS:
            return F.linear(x, self.weight, self.bias)
        columns = x.reshape(rows, inp).t().contiguous()
        blocked = self.weight.view(self.blocks, out // self.blocks, inp)
        y = torch.bmm(blocked, columns.unsqueeze(0).expand(self.blocks, inp, rows))
        y = y.reshape(out, rows).t()
        if self.bias is not None:
            y = y + self.bias
        return y.reshape(*x.shape[:-1], out)


def use_decode_gemv(model: Any, cores: int | None = None, min_block_rows: int = MIN_BLOCK_ROWS) -> int:
    """Replace the model's `nn.Linear` layers with `DecodeLinear` ones; return how many were replaced."""
    cores = cores or torch.get_num_threads()
    swapped = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not nn.Linear or not child.weight.is_contiguous():
                continue
            replacement = DecodeLinear.__new__(DecodeLinear)
            nn.Module.__init__(replacement)
            replacement.in_features, replacement.out_features = child.in_features, child.out_features
            replacement.weight, replacement.bias = child.weight, child.bias
            replacement.blocks = row_blocks(child.out_features, cores, min_block_rows)
            setattr(parent, name, replacement)
            swapped += 1
    return swapped
