"""The decode matrix-vector product: same numbers as `F.linear`, same model, same greedy output."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from genai.backends.gemv import (  # noqa: E402
    MAX_DECODE_ROWS,
    DecodeLinear,
    PackedLinear,
    packed_bf16_supported,
    packed_fp32_supported,
    row_blocks,
    use_cpu_decode_layers,
    use_decode_gemv,
)
from tests.support.tiny_model import single_torch_thread, tiny_model_dir  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


needs_onednn = pytest.mark.skipif(not packed_fp32_supported(), reason="this PyTorch build has no oneDNN")


def _decode_linear(
    weight: torch.Tensor, bias: torch.Tensor | None, blocks: int, packed: bool = False
) -> DecodeLinear:
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(bias)
    holder = nn.Sequential(layer)
    assert use_decode_gemv(holder, cores=2, min_block_rows=4, packed=packed) == 1
    swapped = holder[0]
    assert isinstance(swapped, DecodeLinear) and swapped.blocks == blocks
    assert (swapped.packed is not None) == packed
    return swapped


@pytest.mark.parametrize("packed", [False, pytest.param(True, marks=needs_onednn)])
@pytest.mark.parametrize("rows", [1, 3, MAX_DECODE_ROWS, MAX_DECODE_ROWS + 1, 40])
@pytest.mark.parametrize("with_bias", [False, True])
@pytest.mark.parametrize("out_features", [64, 3])  # 16 blocks of 4 rows; too small to split
def test_the_decode_product_equals_f_linear(
    rows: int, with_bias: bool, packed: bool, out_features: int
) -> None:
    torch.manual_seed(rows)
    weight = torch.randn(out_features, 24)
    bias = torch.randn(out_features) if with_bias else None
    layer = _decode_linear(weight, bias, blocks=16 if out_features == 64 else 1, packed=packed)
    x = torch.randn(2, rows, 24)[:1]  # a non-contiguous batch slice, as a cache step hands over
    with torch.no_grad():
        got = layer(x)
    assert got.shape == (1, rows, out_features)
    # attention takes its fast kernel only for contiguous inputs
    assert got.is_contiguous()
    torch.testing.assert_close(got, F.linear(x, weight, bias), rtol=1e-4, atol=1e-4)


@needs_onednn
def test_few_rows_go_through_the_reordered_copy_and_one_row_through_row_blocks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import genai.backends.gemv as gemv

    layer = _decode_linear(torch.randn(64, 24), None, blocks=16, packed=True)
    calls: list[int] = []
    real = gemv._onednn_linear

    def spy(x: torch.Tensor, *args: object) -> torch.Tensor:
        calls.append(x.numel() // 24)
        return real(x, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(gemv, "_onednn_linear", spy)
    with torch.no_grad():
        for rows in (1, 2, MAX_DECODE_ROWS, MAX_DECODE_ROWS + 1):
            layer(torch.randn(rows, 24))
    assert calls == [2, MAX_DECODE_ROWS]


def test_row_blocks_split_evenly_into_at_least_one_block_per_core() -> None:
    assert row_blocks(262_144, cores=2) == 64  # the output layer: 64 blocks of 4096 rows
    assert row_blocks(2048, cores=2) == 8  # blocks keep at least 256 rows
    assert row_blocks(640, cores=2) == 2
    assert row_blocks(256, cores=2) == 1  # too small to split
    assert row_blocks(1000, cores=16) == 1  # 1000 rows do not split into 16 blocks of 256
    assert row_blocks(4096, cores=16) == 16


def test_swapping_keeps_parameters_shared_and_tied_weights_tied() -> None:
    embed = nn.Embedding(512, 32)
    head = nn.Linear(32, 512, bias=False)
    head.weight = embed.weight
    model = nn.ModuleDict({"embed": embed, "head": head, "proj": nn.Linear(32, 32)})
    before = {name: p.data_ptr() for name, p in model.state_dict(keep_vars=True).items()}
    assert use_decode_gemv(model, cores=2, min_block_rows=8) == 2
    assert isinstance(model["head"], DecodeLinear) and model["head"].blocks == 64
    assert model["head"].weight is model["embed"].weight
    after = {name: p.data_ptr() for name, p in model.state_dict(keep_vars=True).items()}
    assert after == before


def test_a_swapped_model_decodes_the_same_tokens(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM

    prompt = torch.tensor([[2, 40, 41, 42, 43, 44]])
    with single_torch_thread(), torch.inference_mode():
        plain = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32).eval()
        expected = plain.generate(prompt, max_new_tokens=12, do_sample=False)
        swapped = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32).eval()
        assert use_decode_gemv(swapped, cores=2, min_block_rows=8) > 0
        blocked = [m for m in swapped.modules() if isinstance(m, DecodeLinear) and m.blocks > 1]
        assert blocked, "the tiny model's larger layers are split"
        got = swapped.generate(prompt, max_new_tokens=12, do_sample=False)
    assert got.tolist() == expected.tolist()


def test_a_swapped_model_decodes_a_batch_the_same(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM

    # three rows: decode steps of 3 rows take the reordered copy where oneDNN is available
    prompt = torch.tensor([[2, 40, 41, 42, 43, 44], [2, 50, 51, 52, 53, 54], [2, 60, 61, 62, 63, 64]])
    with single_torch_thread(), torch.inference_mode():
        plain = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32).eval()
        expected = plain.generate(prompt, max_new_tokens=12, do_sample=False)
        swapped = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32).eval()
        assert use_decode_gemv(swapped, cores=2, min_block_rows=8) > 0
        got = swapped.generate(prompt, max_new_tokens=12, do_sample=False)
    assert got.tolist() == expected.tolist()


needs_onednn_bf16 = pytest.mark.skipif(
    not packed_bf16_supported(), reason="this CPU or PyTorch build has no oneDNN bf16 linear"
)


@needs_onednn_bf16
@pytest.mark.parametrize("rows", [1, 3, 40])
@pytest.mark.parametrize("with_bias", [False, True])
def test_the_packed_bf16_product_equals_f_linear(rows: int, with_bias: bool) -> None:
    torch.manual_seed(rows)
    layer = nn.Linear(48, 96, bias=with_bias).to(torch.bfloat16)
    holder = nn.Sequential(layer)
    assert use_cpu_decode_layers(holder) == 1
    packed = holder[0]
    assert isinstance(packed, PackedLinear) and packed.weight is layer.weight
    x = torch.randn(2, rows, 48).to(torch.bfloat16)
    with torch.no_grad():
        got = packed(x)
        expected = F.linear(x, layer.weight, layer.bias)
    assert got.shape == (2, rows, 96)
    torch.testing.assert_close(got.float(), expected.float(), rtol=2e-2, atol=2e-2)


@pytest.mark.parametrize(
    ("dtype", "kind"), [("float32", "DecodeLinear"), ("bfloat16", "PackedLinear"), ("float16", None)]
)
def test_each_dtype_gets_its_own_decode_layer(dtype: str, kind: str | None) -> None:
    model = nn.Sequential(nn.Linear(32, 64)).to(getattr(torch, dtype))
    swapped = use_cpu_decode_layers(model)
    if kind == "PackedLinear" and not packed_bf16_supported():
        kind = None
    assert swapped == (0 if kind is None else 1)
    assert type(model[0]).__name__ == (kind or "Linear")


@needs_onednn_bf16
def test_a_packed_bf16_model_gives_the_same_logits(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM

    prompt = torch.tensor([[2, 40, 41, 42, 43, 44]])
    with single_torch_thread(), torch.inference_mode():
        plain = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.bfloat16).eval()
        packed = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.bfloat16).eval()
        assert use_cpu_decode_layers(packed) > 0
        expected = plain(prompt).logits.float()
        got = packed(prompt).logits.float()
    torch.testing.assert_close(got, expected, rtol=3e-2, atol=3e-2)
