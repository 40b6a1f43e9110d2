"""Gemma 3 text models' forward pass in a few operations a layer, over a preallocated KV cache.

On a CPU a decode step of a small model is two things: streaming the weights through the linear
layers, and dispatching every other tensor operation, each of which costs its fixed overhead
whatever its size. Transformers' generic forward takes about 1,500 operations a step for Gemma 3
270M (mask building, rotary tables, cache bookkeeping, output records) and its attention kernel is
made for long queries (about 0.8 ms a layer for a one-token query): together that is as much time
as the weights take. `GemmaDecoder` runs the same arithmetic over the model's own weights with:

- query, key and value projections fused into one product, and gate and up into another (the
  model's parameters become views of the fused weights: no extra memory, the state dict unchanged);
- the rotary tables computed once per generation, by the model's own rotary module, and indexed;
- a KV cache of fixed size per batch, written in place, and per-step masks shared by all layers;
- one-token attention as two small matrix products (the query scaled in its norm's weight).

Linear layers get the CPU decode kernels of `genai.backends.gemv`; in bf16, a step of one sequence
runs the work between them in the C kernels of `genai.backends.native` when it is given them.
`generate` mirrors what `transformers`' greedy `generate` does with logits processors (the
backend's sampler draws the token inside a processor), stop tokens and padding, so the backend can
use either. Only the backend imports this module, after it has imported torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from torch import nn

from genai.backends.gemv import shared_linear, use_cpu_decode_layers
from genai.backends.norms import FusedRMSNorm

if TYPE_CHECKING:
    from genai.backends.native import DecodeStepKernels, NativeLayer

__all__ = ["GemmaDecoder", "KVCache", "supports"]


def supports(model: Any) -> bool:
    """Whether `model` is a Gemma 3 text model whose forward `GemmaDecoder` reproduces."""
    if type(model).__name__ != "Gemma3ForCausalLM":
        return False
    cfg = model.config
    return (
        getattr(cfg, "attn_logit_softcapping", None) is None
        and getattr(cfg, "final_logit_softcapping", None) is None
        and not getattr(cfg, "use_bidirectional_attention", False)
        and getattr(cfg, "hidden_activation", None) == "gelu_pytorch_tanh"
        and not getattr(cfg, "attention_bias", False)
    )


@dataclass
class _Layer:
    input_norm: FusedRMSNorm
    post_attention_norm: FusedRMSNorm
    pre_feedforward_norm: FusedRMSNorm
    post_feedforward_norm: FusedRMSNorm
    qk_norm: _HeadNorms
    qkv: nn.Linear
    o: nn.Linear
    gate_up: nn.Linear
    down: nn.Linear
    kind: str  # "sliding_attention" or "full_attention"


class _HeadNorms:
    """The query and key norms of a layer in one go: each head's vector normed, then its own scale."""

    def __init__(
        self, q_norm: nn.Module, k_norm: nn.Module, heads: int, kv_heads: int, q_factor: float
    ) -> None:
        q_scale = (1.0 + q_norm.weight.detach().float()) * q_factor  # type: ignore[operator]
        k_scale = 1.0 + k_norm.weight.detach().float()  # type: ignore[operator]
        self.scale = torch.cat([q_scale.expand(heads, -1), k_scale.expand(kv_heads, -1)]).contiguous()
        self.eps = float(q_norm.eps)  # type: ignore[arg-type]
        if float(k_norm.eps) != self.eps:  # type: ignore[arg-type]
            raise ValueError("query and key norms with different eps")

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return (F.rms_norm(x.float(), (x.shape[-1],), None, self.eps) * self.scale).type_as(x)


class KVCache:
    """Keys and values of every layer for `rows` sequences of up to `length` slots, and which are real."""

    def __init__(self, layers: int, rows: int, kv_heads: int, length: int, head_dim: int, like: torch.Tensor):
        shape = (rows, kv_heads, length, head_dim)
        self.keys = [torch.zeros(shape, dtype=like.dtype, device=like.device) for _ in range(layers)]
        self.values = [torch.zeros(shape, dtype=like.dtype, device=like.device) for _ in range(layers)]
        self.valid = torch.zeros(rows, length, dtype=torch.bool, device=like.device)

    @property
    def length(self) -> int:
        return int(self.valid.shape[1])

    def select(self, rows: torch.Tensor) -> KVCache:
        """A cache holding `rows` of this one (a prompt's cache copied to each of its candidates)."""
        out = KVCache.__new__(KVCache)
        out.keys = [k.index_select(0, rows) for k in self.keys]
        out.values = [v.index_select(0, rows) for v in self.values]
        out.valid = self.valid.index_select(0, rows)
        return out


class GemmaDecoder:
    """The forward pass and greedy-with-processors generation of a `Gemma3ForCausalLM`, lean."""

    def __init__(self, model: Any, kernels: DecodeStepKernels | None = None) -> None:
        if not supports(model):
            raise ValueError(f"{type(model).__name__} is not a Gemma 3 text model this decoder runs")
        cfg = model.config
        inner = model.model
        self.config = cfg
        self.heads = int(cfg.num_attention_heads)
        self.kv_heads = int(cfg.num_key_value_heads)
        self.head_dim = int(cfg.head_dim)
        self.window = int(cfg.sliding_window or 0)
        self.embed = inner.embed_tokens
        self.rotary = inner.rotary_emb
        self.final_norm = FusedRMSNorm(inner.norm)
        scaling = float(cfg.query_pre_attn_scalar) ** -0.5
        self.layers: list[_Layer] = []
        for i, layer in enumerate(inner.layers):
            attn, mlp = layer.self_attn, layer.mlp
            self.layers.append(
                _Layer(
                    input_norm=FusedRMSNorm(layer.input_layernorm),
                    post_attention_norm=FusedRMSNorm(layer.post_attention_layernorm),
                    pre_feedforward_norm=FusedRMSNorm(layer.pre_feedforward_layernorm),
                    post_feedforward_norm=FusedRMSNorm(layer.post_feedforward_layernorm),
                    # the attention scale rides on the query norm's weight: one product less a layer
                    qk_norm=_HeadNorms(attn.q_norm, attn.k_norm, self.heads, self.kv_heads, scaling),
                    qkv=_fuse([attn.q_proj, attn.k_proj, attn.v_proj]),
                    o=shared_linear(nn.Linear, attn.o_proj),
                    gate_up=_fuse([mlp.gate_proj, mlp.up_proj]),
                    down=shared_linear(nn.Linear, mlp.down_proj),
                    kind=str(cfg.layer_types[i]),
                )
            )
        self.lm_head = shared_linear(nn.Linear, model.lm_head)
        self.kinds = sorted({layer.kind for layer in self.layers})
        self.device = model.lm_head.weight.device
        self.dtype = model.lm_head.weight.dtype
        if self.device.type == "cpu":
            holder = nn.ModuleList()
            for layer in self.layers:
                holder.extend([layer.qkv, layer.o, layer.gate_up, layer.down])
            holder.append(self.lm_head)
            use_cpu_decode_layers(holder)
            swapped = iter(holder)
            for layer in self.layers:
                layer.qkv, layer.o, layer.gate_up, layer.down = (next(swapped) for _ in range(4))  # type: ignore[assignment]
            self.lm_head = next(swapped)  # type: ignore[assignment]
        self._rope: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        # the C kernels do bf16 one-token steps on a CPU; other steps keep PyTorch's operations
        usable = self.device.type == "cpu" and self.dtype == torch.bfloat16
        self.kernels = kernels if usable else None
        self.threads = torch.get_num_threads()
        self._native_layers = [self._native_layer(layer) for layer in self.layers] if self.kernels else []

    def _native_layer(self, layer: _Layer) -> NativeLayer:
        from genai.backends.native import DecodeStepKernels

        norms = {
            "input": layer.input_norm,
            "post_attention": layer.post_attention_norm,
            "pre_feedforward": layer.pre_feedforward_norm,
            "post_feedforward": layer.post_feedforward_norm,
        }
        return DecodeStepKernels.layer(
            {
                "qkv": layer.qkv.weight,
                "o": layer.o.weight,
                "gate_up": layer.gate_up.weight,
                "down": layer.down.weight,
            },
            {name: (norm.scale, norm.eps) for name, norm in norms.items()},
            (layer.qk_norm.scale, layer.qk_norm.eps),
            self.heads,
            self.kv_heads,
        )

    # -- the forward pass --------------------------------------------------------------

    def rope_tables(self, length: int) -> None:
        """cos and sign-folded sin of positions 0..length-1 per layer kind, from the model's rotary module."""
        have = next(iter(self._rope.values()))[0].shape[0] if self._rope else 0
        if have >= length:
            return
        positions = torch.arange(length, device=self.device)[None]
        probe = torch.zeros(1, dtype=self.dtype, device=self.device)
        half = self.head_dim // 2
        for kind in self.kinds:
            cos, sin = self.rotary(probe, positions, kind)
            # rotate_half(x) * sin == roll(x, half) * [-sin1, sin2]: one roll instead of two slices and a cat
            signed = torch.cat([-sin[0, :, :half], sin[0, :, half:]], dim=-1)
            self._rope[kind] = (cos[0].contiguous(), signed.contiguous())

    def forward(self, ids: torch.Tensor, positions: torch.Tensor, cache: KVCache, start: int) -> torch.Tensor:
        """Logits `[rows, vocab]` after the last of `ids` (`[rows, steps]`, written from slot `start`)."""
        rows, steps = ids.shape
        if self.kernels is not None and rows == 1 and steps == 1:
            return self._step_native(self.kernels, ids, positions, cache, start)
        end = start + steps
        heads, kv, d = self.heads, self.kv_heads, self.head_dim
        h = self.embed(ids)
        rope = {
            kind: (cos[positions].unsqueeze(2), sin[positions].unsqueeze(2))
            for kind, (cos, sin) in self._rope.items()
        }
        masks = self._masks(cache, start, steps)
        for i, layer in enumerate(self.layers):
            x = layer.input_norm.forward(h)
            qkv = layer.qkv(x).view(rows, steps, heads + 2 * kv, d)
            cos, sin = rope[layer.kind]
            qk = _rotate(layer.qk_norm(qkv[:, :, : heads + kv]), cos, sin)
            q, k = qk[:, :, :heads], qk[:, :, heads:]
            keys, values = cache.keys[i], cache.values[i]
            keys[:, :, start:end] = k.transpose(1, 2)
            values[:, :, start:end] = qkv[:, :, heads + kv :].transpose(1, 2)
            attended = self._attend(q, keys[:, :, :end], values[:, :, :end], masks[layer.kind])
            h = h + layer.post_attention_norm.forward(layer.o(attended))
            x = layer.pre_feedforward_norm.forward(h)
            gate, up = layer.gate_up(x).chunk(2, dim=-1)
            h = h + layer.post_feedforward_norm.forward(layer.down(F.gelu(gate, approximate="tanh") * up))
        last = self.final_norm.forward(h[:, -1:])
        logits: torch.Tensor = self.lm_head(last)
        return logits[:, -1]

    def _step_native(
        self,
        kernels: DecodeStepKernels,
        ids: torch.Tensor,
        positions: torch.Tensor,
        cache: KVCache,
        start: int,
    ) -> torch.Tensor:
        """`forward` for one token of one sequence, each layer one C call."""
        h = self.embed(ids).reshape(-1).clone()
        position = int(positions.reshape(-1)[0])
        masks = self._masks(cache, start, 1)
        rope = {kind: (cos[position], sin[position]) for kind, (cos, sin) in self._rope.items()}
        for i, (layer, native) in enumerate(zip(self.layers, self._native_layers, strict=True)):
            cos, sin = rope[layer.kind]
            kernels.layer_step(
                native, h, cos, sin, cache.keys[i], cache.values[i], start, masks[layer.kind], self.threads
            )
        x = torch.empty_like(h)
        kernels.rms_norm(h, self.final_norm.scale, x, self.final_norm.eps)
        logits: torch.Tensor = self.lm_head(x.view(1, -1))
        return logits.view(1, -1)

    def _attend(
        self, q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor, mask: torch.Tensor
    ) -> torch.Tensor:
        rows, steps = q.shape[0], q.shape[1]
        if steps == 1 and rows * self.kv_heads == 1:
            # one sequence, one key head: 2-D products, the fastest kernels for these small shapes
            scores = F.linear(q.reshape(self.heads, self.head_dim), keys[0, 0]) + mask.view(1, -1)
            weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(values.dtype)
            return torch.mm(weights, values[0, 0]).view(1, 1, self.heads * self.head_dim)
        if steps == 1:
            # one query a sequence: two small products, grouped heads read their shared key head as is
            grouped = q.view(rows, self.kv_heads, self.heads // self.kv_heads, self.head_dim)
            scores = torch.matmul(grouped, keys.transpose(-1, -2)) + mask
            weights = torch.softmax(scores, dim=-1, dtype=torch.float32).to(values.dtype)
            return torch.matmul(weights, values).view(rows, 1, self.heads * self.head_dim)
        out = F.scaled_dot_product_attention(
            q.transpose(1, 2), keys, values, attn_mask=mask, scale=1.0, enable_gqa=True
        )
        return out.transpose(1, 2).reshape(rows, steps, self.heads * self.head_dim)

    def _masks(self, cache: KVCache, start: int, steps: int) -> dict[str, torch.Tensor]:
        """Which cache slots each query may see, per layer kind: additive for one query, boolean for more.

        A slot is seen when it holds a real token, is not after the query, and (sliding layers) lies
        within the window counted in slots, as transformers counts it. A padding query sees itself, so
        that no row of the attention is empty (its output is never used).
        """
        end = start + steps
        slots = torch.arange(end, device=self.device)
        query = torch.arange(start, end, device=self.device)[:, None]
        causal = slots[None, :] <= query
        own = slots[None, :] == query
        real = cache.valid[:, None, None, :end]
        masks: dict[str, torch.Tensor] = {}
        for kind in self.kinds:
            allowed = causal
            if kind == "sliding_attention" and self.window:
                allowed = allowed & (slots[None, :] > query - self.window)
            seen = (real & allowed) | own
            if steps == 1:
                zero = torch.zeros((), dtype=self.dtype, device=self.device)
                masks[kind] = torch.where(seen, zero, torch.finfo(self.dtype).min)
            else:
                masks[kind] = seen
        return masks

    # -- generation --------------------------------------------------------------------

    @torch.inference_mode()
    def generate(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        rows_index: torch.Tensor,
        *,
        max_new_tokens: int,
        eos_token_id: Sequence[int],
        pad_token_id: int,
        logits_processor: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
        on_first_token: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """Prompts and their continuations, ``[rows, prompt + new]``, as transformers' greedy `generate`.

        `input_ids` holds each distinct prompt once (left padded); `rows_index` gives each output
        row's prompt. Every prompt is run through the model once and its cache copied to its rows.
        The processors see the ids so far and fp32 scores; the highest score is the token. A row
        that produced a stop token continues with padding; generation ends when all have stopped.
        """
        prompts, length = input_ids.shape
        rows = int(rows_index.shape[0])
        total = length + max_new_tokens
        self.rope_tables(total)
        positions = (attention_mask.long().cumsum(-1) - 1).masked_fill(attention_mask == 0, 1)
        cache = KVCache(len(self.layers), prompts, self.kv_heads, total, self.head_dim, self.lm_head.weight)
        cache.valid[:, :length] = attention_mask.bool()
        logits = self.forward(input_ids, positions, cache, 0)
        if prompts != rows or bool((rows_index != torch.arange(rows, device=rows_index.device)).any()):
            cache = cache.select(rows_index)
            logits = logits.index_select(0, rows_index)
        cache.valid[:, length:] = True  # every generated slot is real, padding after a stop too
        ids = torch.full((rows, total), pad_token_id, dtype=torch.long, device=self.device)
        ids[:, :length] = input_ids.index_select(0, rows_index)
        position = positions.index_select(0, rows_index)[:, -1:]
        stops = torch.tensor(list(eos_token_id), device=self.device)
        unfinished = torch.ones(rows, dtype=torch.bool, device=self.device)
        end = length
        for step in range(max_new_tokens):
            scores = logits_processor(ids[:, :end], logits.float())
            token = torch.where(unfinished, scores.argmax(dim=-1), pad_token_id)
            ids[:, end] = token
            end += 1
            if step == 0 and on_first_token is not None:
                on_first_token()
            unfinished &= ~torch.isin(token, stops)
            if step == max_new_tokens - 1 or not bool(unfinished.any()):
                break
            position = position + 1
            logits = self.forward(token[:, None], position, cache, end - 1)
        return ids[:, :end]


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    return x * cos + x.roll(x.shape[-1] // 2, dims=-1) * sin


def _fuse(layers: list[nn.Linear]) -> nn.Linear:
    """One `nn.Linear` computing `layers` side by side; their weights become views into its weight."""
    with torch.no_grad():
        weight = torch.cat([layer.weight.detach() for layer in layers], dim=0)
        fused = nn.Linear.__new__(nn.Linear)
        nn.Module.__init__(fused)
        fused.in_features, fused.out_features = layers[0].in_features, int(weight.shape[0])
        fused.weight = nn.Parameter(weight, requires_grad=False)
        fused.bias = None  # type: ignore[assignment]
        offset = 0
        for layer in layers:
            rows = layer.out_features
            layer.weight.data = weight[offset : offset + rows]
            offset += rows
    return fused
