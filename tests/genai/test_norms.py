"""Fused Gemma RMS norms: the same numbers bit for bit, the same state dict, the same tokens."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from genai.backends.norms import FusedRMSNorm, use_fused_rms_norm  # noqa: E402
from tests.support.tiny_model import single_torch_thread, tiny_model_dir  # noqa: E402


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("shape", [(1, 1, 640), (2, 4, 3, 256)])
def test_the_fused_norm_equals_gemmas_bit_for_bit(dtype: str, shape: tuple[int, ...]) -> None:
    from transformers.models.gemma3.modeling_gemma3 import Gemma3RMSNorm

    torch.manual_seed(0)
    norm = Gemma3RMSNorm(shape[-1], eps=1e-6).to(getattr(torch, dtype))
    with torch.no_grad():
        norm.weight.normal_()
    x = torch.randn(*shape).to(getattr(torch, dtype))
    with torch.inference_mode():
        expected = norm(x)
        got = FusedRMSNorm(norm)(x)
    assert got.dtype == expected.dtype and torch.equal(got, expected)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_a_model_with_fused_norms_keeps_its_state_dict_logits_and_tokens(
    tiny_model: Path, dtype: str
) -> None:
    from transformers import AutoModelForCausalLM

    prompt = torch.tensor([[2, 40, 41, 42, 43, 44], [2, 50, 51, 52, 53, 54]])
    with single_torch_thread(), torch.inference_mode():
        plain = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=getattr(torch, dtype)).eval()
        fused = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=getattr(torch, dtype)).eval()
        before = {k: v.data_ptr() for k, v in fused.state_dict().items()}
        norms = sum(1 for m in fused.modules() if type(m).__name__ == "Gemma3RMSNorm")
        assert norms > 0 and use_fused_rms_norm(fused) == norms
        assert not any(type(m).__name__ == "Gemma3RMSNorm" for m in fused.modules())
        assert {k: v.data_ptr() for k, v in fused.state_dict().items()} == before
        assert torch.equal(fused(prompt).logits, plain(prompt).logits)
        expected = plain.generate(prompt, max_new_tokens=10, do_sample=False)
        got = fused.generate(prompt, max_new_tokens=10, do_sample=False)
    assert got.tolist() == expected.tolist()
