"""The transformers backend on a tiny random Gemma 3: candidates, token accounting, batching, deadlines."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from genai.backends import get_backend
from genai.backends.base import GenerationRequest, SamplingParams
from genai.backends.hf import TransformersBackend
from genai.errors import GenerationTimeoutError, InvalidInputError
from tests.support.tiny_model import single_torch_thread, tiny_model_dir

SCHEMA = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "minLength": 2, "maxLength": 10},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 6}, "minItems": 2},
    },
}


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    with single_torch_thread():
        yield


def load(path: Path, **options: Any) -> TransformersBackend:
    """The tiny model on the CPU, loaded with the hub switched off."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        options.setdefault("dtype", "float32")
        return TransformersBackend(model=path, device="cpu", timeout_s=60, **options)


@pytest.fixture(scope="module", params=[True, False], ids=["lean-decoder", "transformers-generate"])
def backend(tiny_model: Path, request: pytest.FixtureRequest) -> Iterator[TransformersBackend]:
    """The backend with each of its decode paths: the lean Gemma decoder and transformers' generate."""
    b = load(tiny_model, lean_decode=request.param)
    assert (b.decoder is not None) is request.param
    yield b
    b.close()


class GenerateSpy:
    """Wraps the decode path's generate (the lean decoder's or the model's); keeps the ids of each call."""

    def __init__(self, backend: TransformersBackend) -> None:
        self.owner = backend.decoder if backend.decoder is not None else backend.model
        self.real = self.owner.generate
        self.calls: list[list[list[int]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self.real(*args, **kwargs)
        prompt_len = (args[0] if args else kwargs["input_ids"]).shape[1]
        self.calls.append(out[:, prompt_len:].tolist())
        return out


@pytest.fixture
def spy(backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch) -> GenerateSpy:
    s = GenerateSpy(backend)
    monkeypatch.setattr(s.owner, "generate", s)
    return s


def ask(text: str, n: int = 1, max_tokens: int = 5, **options: Any) -> GenerationRequest:
    messages = [{"role": "system", "content": "Write short copy."}, {"role": "user", "content": text}]
    return GenerationRequest(messages, n=n, sampling=SamplingParams(max_tokens=max_tokens, seed=7), **options)


def prompt_tokens(backend: TransformersBackend, request: GenerationRequest) -> int:
    text = backend.tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
    return len(backend.tokenizer(text, add_special_tokens=False)["input_ids"])


def test_a_folder_that_does_not_exist_is_rejected_naming_the_model_field(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as info:
        TransformersBackend(model=tmp_path / "missing", device="cpu")
    assert info.value.field == "model"


def test_the_registry_builds_the_transformers_backend_from_a_folder(tiny_model: Path) -> None:
    with pytest.MonkeyPatch.context() as env:
        env.setenv("HF_HUB_OFFLINE", "1")
        b = get_backend("transformers", model=tiny_model, device="cpu", dtype="float32")
    try:
        assert isinstance(b, TransformersBackend)
        assert b.generate_unbatched([ask("hello", max_tokens=2)])[0].candidates[0].tokens_out == 2
    finally:
        b.close()


def test_loads_a_local_checkpoint_with_its_identity(backend: TransformersBackend, tiny_model: Path) -> None:
    assert backend.name == "transformers"
    assert backend.model_id == str(tiny_model)
    assert backend.checkpoint_sha256 is not None and len(backend.checkpoint_sha256) == 64
    assert backend.ready()


def test_each_request_gets_n_candidates_that_run_to_max_tokens(backend: TransformersBackend) -> None:
    requests = [ask("Holiday candles", n=2), ask("A much longer request about autumn bike tune-ups", n=3)]
    results = backend.generate(requests)
    assert [len(r.candidates) for r in results] == [2, 3]
    for request, result in zip(requests, results, strict=True):
        # The tiny model never samples a stop token on its own, so every candidate hits max_tokens.
        assert [(c.tokens_out, c.finish_reason) for c in result.candidates] == [(5, "length")] * request.n
        assert all(c.text for c in result.candidates)
        assert result.tokens_in == prompt_tokens(backend, request)
        assert result.tokens_out == 5 * request.n
    assert results[0].tokens_in < results[1].tokens_in  # padding is not counted


def test_requests_batched_together_each_keep_their_own_max_tokens(tiny_model: Path) -> None:
    # The batch closes once it holds both candidates, so the two requests always share it.
    b = load(tiny_model, max_batch=2, batch_wait_s=10)
    try:
        results = b.generate([ask("short", max_tokens=3), ask("long", max_tokens=8)])
        assert b.batcher.stats.batches == 1 and b.batcher.stats.last_batch_size == 2
    finally:
        b.close()
    assert [c.tokens_out for c in results[0].candidates] == [3]
    assert [c.tokens_out for c in results[1].candidates] == [8]
    assert all(c.finish_reason == "length" for r in results for c in r.candidates)


def test_a_candidate_that_stops_counts_the_stop_token(backend: TransformersBackend, spy: GenerateSpy) -> None:
    eos = backend.tokenizer.eos_token_id
    [result] = backend.generate([ask("tags please", n=3, json_schema=SCHEMA)])
    [generated] = spy.calls
    for cand, ids in zip(result.candidates, generated, strict=True):
        assert cand.finish_reason == "stop"
        assert cand.tokens_out == ids.index(eos) + 1
        assert cand.text == backend.tokenizer.decode(ids[: ids.index(eos)], skip_special_tokens=True)


def test_time_to_first_token_is_set_and_within_the_total(backend: TransformersBackend) -> None:
    [result] = backend.generate([ask("timing")])
    assert result.ttft_s is not None
    assert 0 < result.ttft_s <= result.total_s
    assert result.queue_s >= 0


def test_the_same_seed_gives_the_same_candidates(backend: TransformersBackend) -> None:
    first = backend.generate([ask("seeded", n=2)])[0]
    again = backend.generate([ask("seeded", n=2)])[0]
    assert [c.text for c in first.candidates] == [c.text for c in again.candidates]


def test_concurrent_callers_share_one_model_generate(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # max_batch equals the candidates the four callers ask for, so the batch closes when they are all in.
    b = load(tiny_model, max_batch=8, batch_wait_s=10)
    try:
        spy = GenerateSpy(b)
        monkeypatch.setattr(spy.owner, "generate", spy)
        barrier = threading.Barrier(4)
        counts: dict[int, list[int]] = {}

        def call(i: int) -> None:
            barrier.wait()
            counts[i] = [
                c.tokens_out for c in b.generate([ask(f"caller {i}", n=2, max_tokens=4)])[0].candidates
            ]

        threads = [threading.Thread(target=call, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert counts == {i: [4, 4] for i in range(4)}
        assert b.batcher.stats.batches == 1 and b.batcher.stats.last_batch_size == 4
        assert len(spy.calls) == 1 and len(spy.calls[0]) == 8
    finally:
        b.close()


def test_a_request_past_its_deadline_times_out_and_the_next_one_is_served(
    backend: TransformersBackend,
) -> None:
    with pytest.raises(GenerationTimeoutError):
        backend.generate([ask("no time", timeout_s=0.0001)])
    [result] = backend.generate([ask("plenty of time", n=2)])
    assert [c.tokens_out for c in result.candidates] == [5, 5]


def test_generate_unbatched_returns_the_same_shapes(backend: TransformersBackend) -> None:
    requests = [ask("one", n=1), ask("two", n=2, max_tokens=3)]
    results = backend.generate_unbatched(requests)
    assert [len(r.candidates) for r in results] == [1, 2]
    assert [c.tokens_out for c in results[1].candidates] == [3, 3]
    assert [r.tokens_in for r in results] == [prompt_tokens(backend, r) for r in requests]
    assert all(r.ttft_s is not None and r.ttft_s <= r.total_s for r in results)


def decode_linears(backend: TransformersBackend) -> list[Any]:
    """The linear layers a decode step runs: the lean decoder's fused ones, or the model's own."""
    import torch

    if backend.decoder is None:
        return [m for m in backend.model.modules() if isinstance(m, torch.nn.Linear)]
    d = backend.decoder
    return [layer for each in d.layers for layer in (each.qkv, each.o, each.gate_up, each.down)] + [d.lm_head]


def test_a_gemma_model_on_the_cpu_decodes_with_the_lean_decoder_by_default(tiny_model: Path) -> None:
    b = load(tiny_model)
    try:
        assert b.decoder is not None
    finally:
        b.close()


def test_fp32_on_the_cpu_decodes_through_the_blocked_product(backend: TransformersBackend) -> None:
    from genai.backends.gemv import DecodeLinear

    linears = decode_linears(backend)
    assert linears and all(isinstance(m, DecodeLinear) for m in linears)


@pytest.mark.parametrize("lean", [True, False], ids=["lean-decoder", "transformers-generate"])
def test_bf16_on_the_cpu_uses_onednn_packed_layers_where_supported(tiny_model: Path, lean: bool) -> None:
    from genai.backends.gemv import PackedLinear, packed_bf16_supported

    half = load(tiny_model, dtype="bfloat16", lean_decode=lean)
    try:
        linears = decode_linears(half)
        packed = [m for m in linears if isinstance(m, PackedLinear)]
        assert linears and len(packed) == (len(linears) if packed_bf16_supported() else 0)
        assert half.generate_unbatched([ask("hello", max_tokens=3)])[0].candidates[0].tokens_out == 3
    finally:
        half.close()


def test_candidates_of_one_prompt_share_its_prefill_and_decode_as_if_alone(
    backend: TransformersBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def greedy(text: str, n: int) -> GenerationRequest:
        messages = [{"role": "user", "content": text}]
        return GenerationRequest(messages, n=n, sampling=SamplingParams(temperature=0.0, max_tokens=6))

    prefills: list[tuple[int, ...]] = []
    if backend.decoder is not None:
        # the lean decoder's prefill is its forward pass over more than one position
        real_forward = backend.decoder.forward

        def forward(ids: Any, positions: Any, cache: Any, start: int) -> Any:
            if ids.shape[1] > 1:
                prefills.append(tuple(ids.shape))
            return real_forward(ids, positions, cache, start)

        monkeypatch.setattr(backend.decoder, "forward", forward)
    else:
        real = backend._shared_prefill

        def spy(input_ids: Any, attention_mask: Any, rows_index: Any) -> Any:
            prefills.append(tuple(input_ids.shape))
            return real(input_ids, attention_mask, rows_index)

        monkeypatch.setattr(backend, "_shared_prefill", spy)
    short, long = greedy("Candles", 3), greedy("Warm candles for the long cold winter nights", 2)
    together = backend._run_batch([short, long, greedy("Candles", 1)])
    assert len(prefills) == 1 and prefills[0][0] == 2  # two distinct prompts, six candidates
    alone = [
        backend._run_batch([greedy(text, 1)])[0].candidates[0].text
        for text in ("Candles", long.messages[0]["content"])
    ]
    assert [c.text for c in together[0].candidates] == [alone[0]] * 3
    assert [c.text for c in together[1].candidates] == [alone[1]] * 2
    assert together[2].candidates[0].text == alone[0]
    # transformers' generate runs a lone candidate's prompt itself; the lean decoder always prefills
    assert len(prefills) == (3 if backend.decoder is not None else 1)
    assert together[1].tokens_in > together[0].tokens_in == together[2].tokens_in


def test_the_shared_prefill_computes_logits_for_the_last_position_only(backend: TransformersBackend) -> None:
    head_rows: list[tuple[int, ...]] = []
    if backend.decoder is not None:
        head = backend.decoder.lm_head
        hook = head.register_forward_hook(lambda _m, args, _out: head_rows.append(tuple(args[0].shape[:-1])))
        try:
            text = "Warm candles for the long cold winter nights"
            backend._run_batch([GenerationRequest([{"role": "user", "content": text}], n=3)])
        finally:
            hook.remove()
        assert head_rows[0] == (1, 1), "the prompt's other positions need no output-layer product"
        assert head_rows[1] == (3, 1), "then one row per candidate"
        return
    head = backend.model.get_output_embeddings()
    hook = head.register_forward_hook(lambda _m, args, _out: head_rows.append(tuple(args[0].shape[:-1])))
    try:
        messages = [{"role": "user", "content": "Warm candles for the long cold winter nights"}]
        prompt = backend.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        enc = backend.tokenizer([prompt], return_tensors="pt", add_special_tokens=False)
        backend._shared_prefill(enc["input_ids"], enc["attention_mask"], backend._torch.tensor([0, 0, 0]))
        assert enc["input_ids"].shape[1] > 2
        assert head_rows == [(1, 1)], "the prompt's other positions need no output-layer product"
    finally:
        hook.remove()


def test_a_seeded_request_draws_the_same_candidates_whatever_it_is_batched_with(
    backend: TransformersBackend,
) -> None:
    def sampled(text: str, seed: int) -> GenerationRequest:
        sampling = SamplingParams(temperature=1.0, top_p=0.95, max_tokens=6, seed=seed)
        return GenerationRequest([{"role": "user", "content": text}], n=2, sampling=sampling)

    alone = backend._run_batch([sampled("Candles for winter", 7)])[0]
    crowded = backend._run_batch(
        [sampled("Tea for spring", 9), sampled("Candles for winter", 7), sampled("Bikes", 3)]
    )
    assert [c.text for c in crowded[1].candidates] == [c.text for c in alone.candidates]
    assert alone.candidates[0].text != alone.candidates[1].text  # each candidate has its own draws
    other_seed = backend._run_batch([sampled("Candles for winter", 8)])[0]
    assert [c.text for c in other_seed.candidates] != [c.text for c in alone.candidates]


def test_each_candidate_carries_the_models_own_mean_log_likelihood_of_its_tokens(
    backend: TransformersBackend, spy: GenerateSpy
) -> None:
    import torch

    request = ask("Holiday candles", n=2, max_tokens=4)
    [result] = backend.generate([request])
    [generated] = spy.calls
    text = backend.tokenizer.apply_chat_template(request.messages, tokenize=False, add_generation_prompt=True)
    prompt = backend.tokenizer(text, add_special_tokens=False)["input_ids"]
    for cand, ids in zip(result.candidates, generated, strict=True):
        # score the written tokens again with one plain forward pass: the same log-likelihood
        full = torch.tensor([prompt + ids])
        with torch.inference_mode():
            logits = backend.model(input_ids=full).logits[0, len(prompt) - 1 : -1].float()
        expected = torch.log_softmax(logits, dim=-1).gather(-1, torch.tensor(ids)[:, None]).mean()
        assert cand.mean_logprob is not None and cand.mean_logprob < 0
        assert cand.mean_logprob == pytest.approx(float(expected), abs=1e-3)
