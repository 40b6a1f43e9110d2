"""The lean Gemma 3 decoder against transformers' own forward and `generate` on random tiny models."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")

from transformers import (  # noqa: E402
    LlamaConfig,
    LlamaForCausalLM,
    LogitsProcessorList,
    RepetitionPenaltyLogitsProcessor,
)

from genai.backends.base import GenerationRequest, SamplingParams  # noqa: E402
from genai.backends.gemma_decoder import GemmaDecoder, supports  # noqa: E402
from genai.backends.hf import TransformersBackend  # noqa: E402
from tests.support.tiny_model import EOS, PAD, gemma, single_torch_thread, tiny_model_dir  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    with single_torch_thread():
        yield


def prompts() -> tuple[Any, Any]:
    """Three left-padded prompts of 3, 9 and 6 tokens (the window is 4)."""
    lengths = [3, 9, 6]
    ids = torch.full((3, 9), PAD)
    mask = torch.zeros(3, 9, dtype=torch.long)
    gen = torch.Generator().manual_seed(1)
    for row, n in enumerate(lengths):
        ids[row, 9 - n :] = torch.randint(3, 96, (n,), generator=gen)
        mask[row, 9 - n :] = 1
    return ids, mask


def reference_logits(model: Any, ids: Any, mask: Any) -> Any:
    """Transformers' logits at the last position of each row."""
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    with torch.inference_mode():
        return model(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, -1].float()


def test_supports_gemma3_text_models_only() -> None:
    assert supports(gemma())
    assert not supports(gemma(final_logit_softcapping=30.0))
    assert not supports(gemma(attn_logit_softcapping=50.0))
    llama = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=32, hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2
        )
    )
    assert not supports(llama)
    with pytest.raises(ValueError, match="LlamaForCausalLM"):
        GemmaDecoder(llama)


def test_fused_projections_share_the_models_parameters() -> None:
    model = gemma()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    decoder = GemmaDecoder(model)
    after = model.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)
    attn = model.model.layers[0].self_attn
    fused = decoder.layers[0].qkv.weight
    start, end = fused.data_ptr(), fused.data_ptr() + fused.numel() * fused.element_size()
    for proj in (attn.q_proj, attn.k_proj, attn.v_proj):
        assert start <= proj.weight.data_ptr() < end, "a projection kept a copy of its weight"


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_the_prefill_gives_transformers_logits(dtype: str) -> None:
    model = gemma().to(getattr(torch, dtype))
    ids, mask = prompts()
    expected = reference_logits(model, ids, mask)
    decoder = GemmaDecoder(model)
    from genai.backends.gemma_decoder import KVCache

    cache = KVCache(3, 3, 2, 9, 8, model.lm_head.weight)
    cache.valid[:] = mask.bool()
    decoder.rope_tables(9)
    positions = (mask.cumsum(-1) - 1).masked_fill(mask == 0, 1)
    with torch.inference_mode():
        got = decoder.forward(ids, positions, cache, 0).float()
    tolerance = 1e-4 if dtype == "float32" else 0.1
    assert torch.isfinite(got).all()
    assert torch.allclose(got, expected, atol=tolerance, rtol=0), (got - expected).abs().max()


def test_each_decode_step_gives_the_logits_of_a_full_forward() -> None:
    model = gemma()
    ids, mask = prompts()
    decoder = GemmaDecoder(model)
    seen: list[Any] = []

    def record(input_ids: Any, scores: Any) -> Any:
        seen.append((input_ids.clone(), scores.clone()))
        return scores

    rows = torch.arange(3)
    out = decoder.generate(
        ids, mask, rows, max_new_tokens=8, eos_token_id=[EOS], pad_token_id=PAD, logits_processor=record
    )
    assert out.shape == (3, 17) and len(seen) == 8
    for input_ids, scores in seen:
        grown = torch.cat([mask, torch.ones(3, input_ids.shape[1] - 9, dtype=torch.long)], dim=1)
        expected = reference_logits(model, input_ids, grown)
        assert torch.allclose(scores, expected, atol=1e-4, rtol=0), (scores - expected).abs().max()


def transformers_generate(model: Any, ids: Any, mask: Any, rows: Any, **options: Any) -> Any:
    with torch.inference_mode():
        return model.generate(
            input_ids=ids.index_select(0, rows),
            attention_mask=mask.index_select(0, rows),
            do_sample=False,
            eos_token_id=[EOS],
            pad_token_id=PAD,
            **options,
        )


def test_generate_matches_transformers_with_shared_prompts_and_a_penalty() -> None:
    model = gemma()
    ids, mask = prompts()
    rows = torch.tensor([0, 0, 1, 2, 2, 2])
    expected = transformers_generate(model, ids, mask, rows, max_new_tokens=10, repetition_penalty=1.4)
    decoder = GemmaDecoder(model)
    padding = (mask.index_select(0, rows) != 0).int().argmax(dim=1)
    penalty = LogitsProcessorList([RepetitionPenaltyLogitsProcessor(1.4, prompt_ignore_length=padding)])
    got = decoder.generate(
        ids, mask, rows, max_new_tokens=10, eos_token_id=[EOS], pad_token_id=PAD, logits_processor=penalty
    )
    assert torch.equal(got, expected)


def test_a_row_that_stops_is_padded_and_generation_ends_when_all_have() -> None:
    model = gemma()
    ids, mask = prompts()
    rows = torch.arange(3)
    steps = {"n": 0}

    def stop_row_1_then_all(input_ids: Any, scores: Any) -> Any:
        steps["n"] += 1
        forced = scores.clone()
        if steps["n"] == 2:
            forced[1] = -1e9
            forced[1, EOS] = 0.0
        if steps["n"] == 4:
            forced[:] = -1e9
            forced[:, EOS] = 0.0
        return forced

    firsts: list[int] = []
    got = GemmaDecoder(model).generate(
        ids,
        mask,
        rows,
        max_new_tokens=10,
        eos_token_id=[EOS],
        pad_token_id=PAD,
        logits_processor=stop_row_1_then_all,
        on_first_token=lambda: firsts.append(steps["n"]),
    )
    new = got[:, 9:].tolist()
    assert len(new[0]) == 4, "generation ends at the step where the last row stops"
    assert new[1][1] == EOS and new[1][2:] == [PAD, PAD]
    assert new[0][3] == EOS and new[2][3] == EOS
    assert firsts == [1]


def test_left_padding_never_reaches_a_real_row() -> None:
    model = gemma()
    ids, mask = prompts()
    decoder = GemmaDecoder(model)
    together = decoder.generate(
        ids,
        mask,
        torch.arange(3),
        max_new_tokens=6,
        eos_token_id=[EOS],
        pad_token_id=PAD,
        logits_processor=_keep,
    )
    for row in range(3):
        n = int(mask[row].sum())
        alone = decoder.generate(
            ids[row : row + 1, 9 - n :],
            mask[row : row + 1, 9 - n :],
            torch.tensor([0]),
            max_new_tokens=6,
            eos_token_id=[EOS],
            pad_token_id=PAD,
            logits_processor=_keep,
        )
        assert together[row, 9:].tolist() == alone[0, n:].tolist()


def _keep(input_ids: Any, scores: Any) -> Any:
    return scores


# -- the backend with and without the lean decoder ------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


def load(path: Path, lean: bool) -> TransformersBackend:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        return TransformersBackend(model=path, device="cpu", dtype="float32", timeout_s=60, lean_decode=lean)


SCHEMA = {"type": "object", "properties": {"title": {"type": "string", "maxLength": 12}}}


@pytest.mark.parametrize(
    "sampling, schema",
    [
        (SamplingParams(temperature=0.0, max_tokens=8), None),
        (SamplingParams(temperature=0.9, top_p=0.9, max_tokens=8, seed=5), None),
        (SamplingParams(temperature=0.0, max_tokens=8, repetition_penalty=1.3), None),
        (SamplingParams(temperature=0.7, max_tokens=8, seed=2), SCHEMA),
    ],
    ids=["greedy", "sampled", "penalty", "schema"],
)
def test_the_backend_gives_the_same_candidates_with_either_decoder(
    tiny_model: Path, sampling: SamplingParams, schema: dict[str, Any] | None
) -> None:
    def ask(text: str, n: int) -> GenerationRequest:
        return GenerationRequest(
            [{"role": "user", "content": text}], n=n, sampling=sampling, json_schema=schema
        )

    requests = [ask("Candles for winter", 2), ask("Tea", 1), ask("A long note about bike tune-ups", 3)]
    lean, generic = load(tiny_model, True), load(tiny_model, False)
    try:
        assert lean.decoder is not None and generic.decoder is None
        got = lean._run_batch(requests)
        expected = generic._run_batch(requests)
    finally:
        lean.close()
        generic.close()
    for a, b in zip(got, expected, strict=True):
        assert [(c.text, c.tokens_out, c.finish_reason) for c in a.candidates] == [
            (c.text, c.tokens_out, c.finish_reason) for c in b.candidates
        ]
        assert a.tokens_in == b.tokens_in


def test_the_lean_decoder_is_refused_off_the_cpu(tiny_model: Path) -> None:
    from genai.errors import InvalidInputError

    with pytest.raises(InvalidInputError) as info:
        TransformersBackend(model=tiny_model, device="cuda", dtype="float32", lean_decode=True)
    assert info.value.field == "lean_decode"
