"""The cross-encoder reward model: it learns a planted preference from a tiny BERT base, is written
once, reloads and scores as it did when trained, refuses altered weights, and ranks."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from genai.brief import Brief
from genai.campaign import GateResult
from genai.embed import HashingEmbedder
from genai.errors import InvalidInputError
from genai.reward import MIN_LABELLED
from genai.reward_cross import (
    CrossReward,
    CrossRewardModel,
    pair_text,
    train_cross_reward,
    weights_sha256,
)
from genai.reward_metrics import held_out_figures, held_out_mask
from genai.select import Scored, select_drafts
from tests.support.reward_data import BRAND, BRIEF, planted_draft, planted_feedback
from tests.support.tiny_bert import one_torch_thread, tiny_bert_dir

# A tiny random base learns the planted taste in a few epochs at a rate a real one would not take.
FAST = {"epochs": 6, "batch_size": 16, "learning_rate": 3e-3}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT every model here is fine-tuned from."""
    return tiny_bert_dir(tmp_path_factory)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture(scope="module")
def trained(base: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[CrossRewardModel, Path]:
    """A model trained on 200 drafts of the planted taste, and its folder."""
    with one_torch_thread():
        out = tmp_path_factory.mktemp("cross") / "v1"
        return train_cross_reward(planted_feedback(200, seed=1), base, out, seed=0, **FAST), out


def test_training_learns_the_planted_preference_on_held_out_requests(
    trained: tuple[CrossRewardModel, Path],
) -> None:
    model, out = trained
    metrics = model.metrics
    assert metrics["labelled"] == 200 and metrics["held_out"] >= 30
    assert metrics["trained_on"] == 200 - metrics["held_out"]  # the held-out requests are never trained on
    assert metrics["held_out_pairwise_accuracy"] > 0.75 and metrics["held_out_auc"] > 0.75
    scorer = CrossReward(out, model.sha256, "rm v1")
    rng = random.Random(99)
    asks = scorer.score([planted_draft(rng, True) for _ in range(20)], BRIEF, [])
    tells = scorer.score([planted_draft(rng, False) for _ in range(20)], BRIEF, [])
    assert all(0.0 < p < 1.0 for p in asks + tells)
    # fresh drafts: nearly every question scores above nearly every statement
    assert np.mean([a > t for a in asks for t in tells]) > 0.8


def test_the_folder_reloads_and_scores_the_held_out_drafts_as_the_trained_model_did(
    trained: tuple[CrossRewardModel, Path],
) -> None:
    model, out = trained
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= {p.name for p in out.iterdir()}
    assert model.sha256 == weights_sha256(out) and model.path == str(out)
    examples = planted_feedback(200, seed=1)
    groups = [e.group for e in examples]
    test = held_out_mask(groups, 0.2, 0)
    held = [e for e, t in zip(examples, test, strict=True) if t]
    first = CrossReward(out, model.sha256, "rm v1")
    scores = np.array([first.score([e.draft], e.brief, [])[0] for e in held])
    figures = held_out_figures(
        scores,
        np.array([e.label for e in held]),
        np.array([e.weight for e in held]),
        [e.group for e in held],
    )
    assert figures == {k: model.metrics[k] for k in figures}
    again = CrossReward(out, model.sha256, "rm v1")
    drafts = [e.draft for e in held[:6]]
    assert again.score(drafts, BRIEF, []) == first.score(drafts, BRIEF, [])


def test_the_same_seed_trains_the_same_weights(base: Path, tmp_path: Path) -> None:
    examples = planted_feedback(60, seed=3)
    one = train_cross_reward(examples, base, tmp_path / "a", seed=5, epochs=1, batch_size=16)
    two = train_cross_reward(examples, base, tmp_path / "b", seed=5, epochs=1, batch_size=16)
    other = train_cross_reward(examples, base, tmp_path / "c", seed=6, epochs=1, batch_size=16)
    assert one.sha256 == two.sha256 != other.sha256
    assert one.base_sha256 == weights_sha256(base) and one.base == base.name


def test_altered_or_missing_files_are_refused_naming_the_field(
    trained: tuple[CrossRewardModel, Path], tmp_path: Path
) -> None:
    model, out = trained
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in out.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    weights = bytearray((copy / "model.safetensors").read_bytes())
    weights[-1] ^= 0xFF
    (copy / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(InvalidInputError) as caught:
        CrossReward(copy, model.sha256, "rm v1")
    assert caught.value.field == "sha256"
    (copy / "tokenizer.json").unlink()
    with pytest.raises(InvalidInputError) as caught:
        CrossReward(copy, model.sha256, "rm v1")
    assert caught.value.field == "path" and "tokenizer.json" in str(caught.value)


def test_a_folder_that_exists_is_never_written_over(base: Path, tmp_path: Path) -> None:
    out = tmp_path / "v1"
    out.mkdir()
    (out / "note.txt").write_text("kept")
    with pytest.raises(InvalidInputError) as caught:
        train_cross_reward(planted_feedback(60, seed=4), base, out, epochs=1)
    assert caught.value.field == "path"
    assert [p.name for p in out.iterdir()] == ["note.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["v1"]  # no partial folder left beside it


def test_too_little_or_one_sided_feedback_is_refused_before_any_training(base: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        train_cross_reward(planted_feedback(MIN_LABELLED - 1, seed=4), base, tmp_path / "a")
    assert caught.value.field == "feedback" and f"at least {MIN_LABELLED}" in str(caught.value)
    same = [replace(e, label=1.0) for e in planted_feedback(MIN_LABELLED, seed=5)]
    with pytest.raises(InvalidInputError, match="same verdict"):
        train_cross_reward(same, base, tmp_path / "b")
    assert not any(tmp_path.iterdir())


def test_the_pair_reads_the_brief_with_the_segment_the_draft_was_written_for() -> None:
    brief = Brief(
        goal="Spring tea tasting",
        offer="15% off",
        cta_url="https://t.example/",
        facts=["Saturday at 10"],
        segments=[
            {"name": "loyal", "description": "order often", "traits": {"spend_tier": "high"}},
            {"name": "new", "description": "first order"},
        ],
    )
    assert pair_text(brief, "loyal") == (
        "Spring tea tasting. 15% off. Saturday at 10. Segment: loyal. order often. high spenders"
    )
    assert pair_text(brief, "new").endswith("Segment: new. first order")
    assert pair_text(brief) == "Spring tea tasting. 15% off. Saturday at 10"  # which segment is unknown
    assert pair_text(BRIEF) == "Holiday sale on candles. 20% off all candles. Segment: all"


def test_a_stored_description_reads_back_whole_and_names_what_it_lacks(
    trained: tuple[CrossRewardModel, Path],
) -> None:
    import json

    model, _ = trained
    data = json.loads(json.dumps(model.to_dict()))
    assert data["kind"] == "cross-encoder" and CrossRewardModel.from_dict(data) == model
    assert model.named_weights() == {}
    with pytest.raises(InvalidInputError) as caught:
        CrossRewardModel.from_dict({**data, "sha256": ""})
    assert caught.value.field == "sha256"


PASS = [GateResult("links", "block", True, "passed")]


def test_the_ranking_puts_the_drafts_it_prefers_first(trained: tuple[CrossRewardModel, Path]) -> None:
    model, out = trained
    scorer = CrossReward(out, model.sha256, "rm v4")
    rng = random.Random(7)
    drafts = [planted_draft(rng, question=i % 2 == 1) for i in range(6)]
    pool = [Scored(i, d, PASS) for i, d in enumerate(drafts)]
    kept, _ = select_drafts(pool, BRAND, HashingEmbedder(), 3, brief=BRIEF, reward=scorer, reward_weight=5.0)
    assert all(k.draft.subject.endswith("?") for k in kept)
    assert all(any(r.endswith("(reward model rm v4)") for r in k.reasons or []) for k in kept)
