"""The lean decoder's C kernels: built and cached per machine, and the same arithmetic as PyTorch's."""

from __future__ import annotations

import logging
import platform
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from genai.backends import native  # noqa: E402
from genai.backends.base import GenerationRequest, SamplingParams  # noqa: E402
from genai.backends.gemma_decoder import GemmaDecoder, KVCache  # noqa: E402
from genai.backends.hf import TransformersBackend  # noqa: E402
from genai.backends.norms import FusedRMSNorm  # noqa: E402
from genai.errors import InvalidInputError  # noqa: E402
from tests.support.tiny_model import (  # noqa: E402
    gemma,
    single_torch_thread,
    tiny_model_dir,
)

pytestmark = pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler to build the kernels")

BF16_ULP = 2.0**-7  # relative spacing of bf16 values


@pytest.fixture(scope="module")
def kernels(tmp_path_factory: pytest.TempPathFactory) -> native.DecodeStepKernels:
    built = native.load_decode_step(tmp_path_factory.mktemp("kernels"))
    assert built is not None, "the kernels did not build with this machine's C compiler"
    return built


@pytest.fixture(scope="module")
def portable_kernels(tmp_path_factory: pytest.TempPathFactory) -> native.DecodeStepKernels:
    """The kernels built without AVX512-BF16 instructions: the products' portable C path."""
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("the portable path is what this CPU builds anyway")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(native, "FLAGS", (*native.FLAGS, "-mno-avx512bf16"))
        built = native.load_decode_step.__wrapped__(tmp_path_factory.mktemp("portable"))  # type: ignore[attr-defined]
    assert built is not None
    return built


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    with single_torch_thread():
        yield


def gemma_norm(size: int, seed: int) -> FusedRMSNorm:
    from transformers.models.gemma3.modeling_gemma3 import Gemma3RMSNorm

    torch.manual_seed(seed)
    norm = Gemma3RMSNorm(size, eps=1e-6)
    with torch.no_grad():
        norm.weight.normal_(0.0, 0.5)
    return FusedRMSNorm(norm)


def assert_bf16_close(got: Any, expected: Any, *, exact_share: float = 0.97) -> None:
    """Equal up to a last-bit difference, and bit-equal almost everywhere (fp32 sum order aside)."""
    got, expected = got.float(), expected.float()
    assert torch.isfinite(got).all()
    gap = (got - expected).abs()
    assert (gap <= 2 * BF16_ULP * expected.abs() + 1e-6).all(), gap.max()
    assert (gap == 0).float().mean() >= exact_share


@pytest.mark.parametrize("size", [640, 37])
def test_rms_norm_matches_the_fused_norm(kernels: native.DecodeStepKernels, size: int) -> None:
    norm = gemma_norm(size, 0)
    x = (torch.randn(1, 1, size) * 3).to(torch.bfloat16)
    out = torch.empty_like(x)
    kernels.rms_norm(x, norm.scale, out, norm.eps)
    assert_bf16_close(out, norm.forward(x))


def teacher_forced(decoder: GemmaDecoder, prompt: Any, steps: Any) -> tuple[list[Any], KVCache]:
    """Logits of each one-token step after `prompt`, fed `steps` whatever the model predicts."""
    length = prompt.shape[1] + steps.shape[1]
    decoder.rope_tables(length)
    cache = KVCache(
        len(decoder.layers), 1, decoder.kv_heads, length, decoder.head_dim, decoder.lm_head.weight
    )
    cache.valid[:] = True
    logits = []
    with torch.inference_mode():
        decoder.forward(prompt, torch.arange(prompt.shape[1])[None], cache, 0)
        for i in range(steps.shape[1]):
            slot = prompt.shape[1] + i
            logits.append(decoder.forward(steps[:, i : i + 1], torch.tensor([[slot]]), cache, slot).float())
    return logits, cache


class Counting:
    """The kernels, counting the layer steps they run."""

    def __init__(self, inner: native.DecodeStepKernels) -> None:
        self.inner = inner
        self.layer_steps = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def layer_step(self, *args: Any, **kwargs: Any) -> None:
        self.layer_steps += 1
        self.inner.layer_step(*args, **kwargs)


@pytest.mark.parametrize(
    "head_dim, heads, kv_heads, threads, build",
    [(8, 4, 2, 1, "native"), (48, 4, 1, 3, "native"), (40, 2, 2, 2, "native"), (40, 4, 2, 2, "portable")],
)
def test_a_bf16_decode_step_through_the_kernels_matches_pytorch(
    request: pytest.FixtureRequest, head_dim: int, heads: int, kv_heads: int, threads: int, build: str
) -> None:
    kernels = request.getfixturevalue("kernels" if build == "native" else "portable_kernels")
    # sliding window 4 and 9 prompt tokens: the masks cut the sliding layers' view
    model = gemma(head_dim=head_dim, num_attention_heads=heads, num_key_value_heads=kv_heads)
    model = model.to(torch.bfloat16)
    decoder = GemmaDecoder(model, kernels)
    assert decoder.kernels is kernels
    decoder.threads = threads  # the products and the attention split over this many
    gen = torch.Generator().manual_seed(3)
    prompt, steps = torch.randint(3, 96, (1, 9), generator=gen), torch.randint(3, 96, (1, 6), generator=gen)

    counting = Counting(kernels)
    decoder.kernels = counting  # type: ignore[assignment]
    got, got_cache = teacher_forced(decoder, prompt, steps)
    decoder.kernels = None
    expected, expected_cache = teacher_forced(decoder, prompt, steps)

    assert counting.layer_steps == 6 * len(decoder.layers)
    for a, b in zip(got, expected, strict=True):
        assert torch.allclose(a, b, atol=0.05, rtol=0), (a - b).abs().max()
        assert int(a.argmax()) == int(b.argmax())
    # the new keys and values went to their slots (differences of a rounding carry to later layers)
    for layer in range(len(decoder.layers)):
        for cached in ("keys", "values"):
            a, b = getattr(got_cache, cached)[layer].float(), getattr(expected_cache, cached)[layer].float()
            assert a[:, :, 9:].abs().sum() > 0
            assert torch.allclose(a, b, atol=0.05, rtol=0), (a - b).abs().max()


def test_the_kernels_serve_bf16_cpu_decoders_only(kernels: native.DecodeStepKernels) -> None:
    assert GemmaDecoder(gemma(), kernels).kernels is None  # fp32 keeps PyTorch's operations
    assert GemmaDecoder(gemma().to(torch.bfloat16), kernels).kernels is kernels


def test_a_build_is_cached_under_a_key_of_source_compiler_and_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = native.build(tmp_path)
    stamp = first.stat().st_mtime_ns
    assert native.build(tmp_path) == first and first.stat().st_mtime_ns == stamp  # not rebuilt

    changed = tmp_path / "decode_step.c"
    changed.write_text(native.SOURCE.read_text() + "\n/* changed */\n")
    monkeypatch.setattr(native, "SOURCE", changed)
    assert native.build(tmp_path) != first


def test_without_a_compiler_the_decoder_keeps_pytorch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(native.KernelBuildError, match="no C compiler"):
        native.build(tmp_path)
    with caplog.at_level(logging.WARNING, logger="genai.backends.native"):
        assert native.load_decode_step.__wrapped__(tmp_path) is None
    assert "without its C kernels" in caplog.text


def test_a_failed_compile_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = tmp_path / "decode_step.c"
    broken.write_text("int copyloop_rms_norm(void) { return undefined_name; }\n")
    monkeypatch.setattr(native, "SOURCE", broken)
    with pytest.raises(native.KernelBuildError, match="undefined_name"):
        native.build(tmp_path)
    assert not list((tmp_path / "kernels").glob("*.so"))  # nothing half-written is left to load


# -- through the backend -----------------------------------------------------------------------


def load(path: Path, dtype: str, native_kernels: bool | None) -> TransformersBackend:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        return TransformersBackend(
            model=path, device="cpu", dtype=dtype, timeout_s=60, native_kernels=native_kernels
        )


def test_the_backend_gives_the_same_greedy_text_with_or_without_the_kernels(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    path = tiny_model_dir(tmp_path_factory)
    with_kernels, without = load(path, "bfloat16", True), load(path, "bfloat16", False)
    sampling = SamplingParams(temperature=0.0, max_tokens=10)
    request = GenerationRequest([{"role": "user", "content": "Candles for winter"}], n=1, sampling=sampling)
    try:
        assert with_kernels.decoder.kernels is not None and without.decoder.kernels is None
        got = with_kernels._run_batch([request])[0]
        expected = without._run_batch([request])[0]
    finally:
        with_kernels.close()
        without.close()
    assert got.candidates[0].tokens_out == 10
    assert got.candidates[0].text == expected.candidates[0].text


def test_asking_for_the_kernels_outside_bf16_on_the_cpu_names_the_setting(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with pytest.raises(InvalidInputError) as info:
        load(tiny_model_dir(tmp_path_factory), "float32", True)
    assert info.value.field == "native_kernels"
