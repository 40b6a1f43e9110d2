"""The reward model: it learns a planted preference, is stored and read back whole, and ranks."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pytest

from genai.backends.fake import FakeBackend
from genai.brief import Brief
from genai.campaign import GateResult
from genai.draft import EmailDraft
from genai.embed import HashingEmbedder
from genai.errors import InvalidInputError
from genai.pipeline import GenerationOptions, generate_campaign
from genai.reward import MIN_LABELLED, BoundReward, RewardModel, train_reward
from genai.select import Scored, select_drafts
from tests.support.reward_data import BRAND, BRIEF, planted_draft, planted_feedback


def test_training_learns_the_planted_preference_and_reports_held_out_figures() -> None:
    model = train_reward(planted_feedback(300, seed=1), HashingEmbedder())
    metrics = model.metrics
    assert metrics["labelled"] == 300 and metrics["held_out"] >= 40
    assert metrics["held_out_auc"] > 0.75
    assert metrics["held_out_pairwise_accuracy"] > 0.75
    weights = model.named_weights()
    assert weights["subject_question"] == max(weights.values())
    # fresh drafts: the questions score higher
    rng = random.Random(99)
    scorer = BoundReward(model, HashingEmbedder(), "rm v1")
    asks = scorer.score([planted_draft(rng, True) for _ in range(20)], BRIEF, ["Cedar Hearth"])
    tells = scorer.score([planted_draft(rng, False) for _ in range(20)], BRIEF, ["Cedar Hearth"])
    assert np.mean(asks) > np.mean(tells) + 0.3


def test_a_model_is_stored_as_json_and_scores_the_same_read_back() -> None:
    import json

    model = train_reward(planted_feedback(80, seed=2), HashingEmbedder())
    back = RewardModel.from_dict(json.loads(json.dumps(model.to_dict())))
    drafts = [planted_draft(random.Random(3), q) for q in (True, False, True)]
    first = BoundReward(model, HashingEmbedder(), "a").score(drafts, BRIEF, [])
    again = BoundReward(back, HashingEmbedder(), "a").score(drafts, BRIEF, [])
    assert first == pytest.approx(again)
    assert back.metrics == model.metrics


def test_too_little_or_one_sided_feedback_is_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInputError) as caught:
        train_reward(planted_feedback(MIN_LABELLED - 1, seed=4), HashingEmbedder())
    assert caught.value.field == "feedback" and f"at least {MIN_LABELLED}" in str(caught.value)
    same = [replace(e, label=1.0) for e in planted_feedback(MIN_LABELLED, seed=5)]
    with pytest.raises(InvalidInputError, match="same verdict"):
        train_reward(same, HashingEmbedder())


def test_a_model_refuses_an_embedder_it_was_not_trained_with() -> None:
    model = train_reward(planted_feedback(60, seed=6), HashingEmbedder())

    class Other(HashingEmbedder):
        name = "other"

    with pytest.raises(InvalidInputError, match="trained on hashing"):
        BoundReward(model, Other(), "rm v1")


class _Prefers:
    """A reward model that likes the drafts whose subject contains `word`."""

    embedder_name = None

    def __init__(self, word: str, version: str) -> None:
        self.word, self.version = word, version

    def score(
        self, drafts: Sequence[EmailDraft], brief: Brief, products: Sequence[str], vectors: object = None
    ) -> list[float]:
        assert vectors is None  # it named no embedder, so it is given no vectors
        return [1.0 if self.word in d.subject else 0.0 for d in drafts]


PASS = [GateResult("links", "block", True, "passed")]


def test_the_ranking_changes_when_the_reward_model_does() -> None:
    rng = random.Random(7)
    ask, tell = planted_draft(rng, True), planted_draft(rng, False)

    def ranked(reward: _Prefers | None) -> list[int]:
        pool = [Scored(0, ask, PASS), Scored(1, tell, PASS)]
        kept, _ = select_drafts(
            pool, BRAND, HashingEmbedder(), 2, brief=BRIEF, reward=reward, reward_weight=2.0
        )
        return [k.index for k in kept]

    assert ranked(_Prefers("?", "rm v1")) == [0, 1]
    assert ranked(_Prefers("Now", "rm v2")) == [1, 0]
    pool = [Scored(0, ask, PASS)]
    select_drafts(pool, BRAND, HashingEmbedder(), 1, brief=BRIEF, reward=_Prefers("?", "rm v1"))
    assert pool[0].reward == 1.0 and "reward 1.00 (reward model rm v1)" in (pool[0].reasons or [])


class _Counting(HashingEmbedder):
    """Counts the texts it embeds."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.texts.extend(texts)
        return super().encode(texts)


def test_the_ranking_embeds_each_draft_and_the_brief_once_and_scores_as_the_model_alone_does() -> None:
    model = train_reward(planted_feedback(80, seed=9), HashingEmbedder())
    rng = random.Random(3)
    drafts = [planted_draft(rng, i % 2 == 0) for i in range(4)]
    alone = BoundReward(model, HashingEmbedder(), "rm v1").score(drafts, BRIEF, [])
    counting = _Counting()
    pool = [Scored(i, d, PASS) for i, d in enumerate(drafts)]
    select_drafts(pool, BRAND, counting, 4, brief=BRIEF, reward=BoundReward(model, counting, "rm v1"))
    assert sorted(counting.texts.count(d.full_text()) for d in drafts) == [1, 1, 1, 1]
    assert len(counting.texts) == len(drafts) + 2  # the drafts, the brand reference, the brief
    assert [c.reward for c in sorted(pool, key=lambda c: c.index)] == pytest.approx(alone)


def test_generation_names_the_reward_model_in_lineage_and_stats_or_says_why_there_is_none() -> None:
    options = GenerationOptions(seed=1, oversample=2.0)
    with_model = generate_campaign(
        BRAND,
        BRIEF,
        FakeBackend(),
        embedder=HashingEmbedder(),
        options=options,
        reward=_Prefers("o", "rm v3"),
    )
    [variants] = with_model.variants.values()
    assert variants and all(v.lineage.reward_model == "rm v3" for v in variants)
    assert with_model.stats.reward_model == "rm v3" and with_model.stats.reward_note is None
    without = generate_campaign(
        BRAND, BRIEF, FakeBackend(), embedder=HashingEmbedder(), options=options, reward_note="no model yet"
    )
    [variants] = without.variants.values()
    assert all(v.lineage.reward_model is None for v in variants)
    assert without.stats.reward_model is None and without.stats.reward_note == "no model yet"
