"""The tuning corpus, LoRA training on a tiny model, and adapters in the backends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from genai.backends.base import GenerationRequest, SamplingParams
from genai.backends.guided import plan_schema
from genai.backends.hf import TransformersBackend
from genai.backends.vllm_command import vllm_serve_args
from genai.draft import draft_schema
from genai.errors import InvalidInputError
from genai.tuning.adapters import load_adapter, resolve_adapter
from genai.tuning.corpus import Example, check, load_corpus, split
from genai.tuning.train import TuneOptions, target_text, tune
from tests.support.tiny_model import single_torch_thread, tiny_model_dir


@pytest.fixture(scope="module")
def corpus() -> list[Example]:
    return load_corpus()


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    with single_torch_thread():
        yield


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory)


def test_the_shipped_corpus_passes_every_check(corpus: list[Example]) -> None:
    problems = {ex.source: check(ex) for ex in corpus}
    assert {k: v for k, v in problems.items() if v} == {}


def test_the_corpus_is_large_varied_and_split_by_business(corpus: list[Example]) -> None:
    train, held_out = split(corpus)
    assert len(corpus) >= 400
    assert len({e.business for e in corpus}) >= 60
    assert len(held_out) >= 30
    assert {e.business for e in train}.isdisjoint({e.business for e in held_out})
    assert {e.occasion for e in corpus} >= {"launch", "sale", "reminder", "winback", "event", "newsletter"}
    assert sum(1 for e in corpus if not e.brief.offer) >= len(corpus) // 5  # no-offer e-mails too


def test_split_refuses_a_business_in_both_splits(corpus: list[Example]) -> None:
    first = corpus[0]
    with pytest.raises(InvalidInputError) as info:
        split([first, replace(first, split="eval")])
    assert first.business in str(info.value)


def test_check_names_an_invented_fact_in_a_training_email(corpus: list[Example]) -> None:
    ex = corpus[0]
    bad = replace(
        ex, draft=replace(ex.draft, body=[ex.draft.body[0], "Voted the best shop of 2019, we hear."])
    )
    problems = check(bad)
    assert any("grounding" in p and "2019" in p for p in problems), problems


def test_a_training_target_is_the_json_the_guided_decoder_spells(corpus: list[Example]) -> None:
    ex = corpus[0]
    quoted = replace(ex, draft=replace(ex.draft, headline='The "best" buns'))
    text = target_text(quoted)
    data = json.loads(text)
    assert list(data) == list(plan_keys())
    assert '\\"' not in text and data["headline"] == "The \u201dbest\u201d buns"


def plan_keys() -> list[str]:
    plan_schema(draft_schema())  # the plan accepts the schema the targets follow
    return list(draft_schema()["properties"])


def test_tune_lowers_the_held_out_loss_and_writes_an_adapter_that_loads(
    tiny_model: Path, corpus: list[Example], tmp_path: Path
) -> None:
    few = corpus[:6]
    options = TuneOptions(
        rank=4,
        alpha=8,
        max_steps=8,
        epochs=4,
        grad_accum=2,
        learning_rate=5e-3,
        warmup_steps=1,
        seed=3,
        max_tokens=4096,
    )
    out = tmp_path / "adapter"
    report = tune(tiny_model, few, few[:3], out, name="tiny-test", options=options)
    assert report.steps == 8 and len(report.train_loss) == 8
    assert report.eval_loss_before is not None and report.eval_loss_after is not None
    assert report.eval_loss_after < report.eval_loss_before
    saved = json.loads((out / "training.json").read_text())
    assert saved["adapter"] == "tiny-test" and saved["businesses"]["train"]
    config = json.loads((out / "adapter_config.json").read_text())
    assert str(tmp_path) not in config["base_model_name_or_path"]  # no local path in a shipped file
    adapter = load_adapter(out)
    backend = TransformersBackend(model=tiny_model, adapter=out, device="cpu", dtype="float32", timeout_s=60)
    try:
        assert backend.adapter_name == "adapter" and backend.adapter_sha256 == adapter.sha256
    finally:
        backend.close()
    plain = TransformersBackend(
        model=tiny_model, device="cpu", dtype="float32", timeout_s=60, adapter_dirs=[tmp_path]
    )
    try:
        assert plain.adapter_name is None  # the shipped adapter is for the embedded model only
        # a request that names the adapter is written by a sibling loaded with it merged
        plain.check_adapter("adapter")
        with pytest.raises(InvalidInputError):
            plain.check_adapter("no-such-adapter")
        ask = [{"role": "user", "content": "Write a subject line."}]
        sampling = SamplingParams(max_tokens=4, temperature=0.0, seed=1)
        own, named = plain.generate(
            [
                GenerationRequest(messages=ask, sampling=sampling),
                GenerationRequest(messages=ask, sampling=sampling, adapter="adapter"),
            ]
        )
        assert own.adapter is None and named.adapter is not None
        assert (named.adapter.name, named.adapter.sha256) == ("adapter", adapter.sha256)
        assert plain.adapters.loaded() == ["adapter"] and named.candidates[0].tokens_out > 0
    finally:
        plain.close()
    assert plain.adapters.loaded() == []


def test_the_same_seed_trains_the_same_adapter(
    tiny_model: Path, corpus: list[Example], tmp_path: Path
) -> None:
    options = TuneOptions(rank=2, alpha=4, max_steps=2, grad_accum=1, warmup_steps=1, seed=5, max_tokens=4096)
    a = tune(tiny_model, corpus[:2], [], tmp_path / "a", options=options)
    b = tune(tiny_model, corpus[:2], [], tmp_path / "b", options=options)
    assert a.train_loss == b.train_loss
    assert load_adapter(tmp_path / "a").sha256 == load_adapter(tmp_path / "b").sha256


def test_training_can_continue_from_an_adapter_and_records_which(
    tiny_model: Path, corpus: list[Example], tmp_path: Path
) -> None:
    options = TuneOptions(
        rank=2,
        alpha=4,
        max_steps=3,
        grad_accum=1,
        warmup_steps=1,
        seed=5,
        max_tokens=4096,
        learning_rate=5e-3,
    )
    first = tune(tiny_model, corpus[:2], corpus[:2], tmp_path / "first", options=options)
    start = load_adapter(tmp_path / "first")
    # the rank asked for is ignored: the weights continue in the first adapter's shape
    more = replace(options, rank=4, alpha=8)
    second = tune(tiny_model, corpus[:2], corpus[:2], tmp_path / "second", options=more, start_from=start)
    assert second.started_from == {"name": "first", "sha256": start.sha256}
    assert second.eval_loss_before == first.eval_loss_after  # it starts where the first one ended
    assert load_adapter(tmp_path / "second").rank == 2
    assert load_adapter(tmp_path / "second").sha256 != start.sha256


def test_bad_tuning_options_name_the_field() -> None:
    with pytest.raises(InvalidInputError) as info:
        TuneOptions(epochs=0)
    assert info.value.field == "epochs"


def test_adapters_resolve_by_name_folder_or_none(tmp_path: Path) -> None:
    assert resolve_adapter("none") is None
    with pytest.raises(InvalidInputError) as info:
        resolve_adapter(str(tmp_path / "missing"))
    assert info.value.field == "adapter"
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError):
        resolve_adapter(str(tmp_path / "empty"))


def test_vllm_serves_an_adapter_as_a_model_of_its_own_name(tmp_path: Path) -> None:
    args = vllm_serve_args(
        tmp_path / "ckpt", lora_modules={"email-v1": tmp_path / "email-v1"}, max_lora_rank=8
    )
    assert "--enable-lora" in args
    assert args[args.index("--lora-modules") + 1] == f"email-v1={tmp_path / 'email-v1'}"
    assert args[args.index("--max-lora-rank") + 1] == "8"
    assert "--enable-lora" not in vllm_serve_args(tmp_path / "ckpt")
