"""The two kinds of reward model in the store: which one a training makes, where a cross-encoder's
files go, and how a stored model of either kind (or of none, stored before kinds) reads back."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from feedback.ingest import ingest_feedback
from feedback.models import RewardModelRow, utcnow
from feedback.rewards import (
    CrossEncoderTraining,
    choose_kind,
    cross_encoder_dir,
    get_reward_model,
    latest_reward_model,
    list_reward_models,
    train_reward_model,
)
from genai.embed import HashingEmbedder
from genai.errors import InvalidInputError
from genai.reward import RewardModel, train_reward
from genai.reward_cross import CrossRewardModel, weights_sha256
from tests.support.feedback import seed_judged_workspace
from tests.support.reward_data import planted_feedback
from tests.support.tiny_bert import one_torch_thread, tiny_bert_dir


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny BERT the cross-encoders here start from."""
    return tiny_bert_dir(tmp_path_factory)


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


@pytest.fixture
def cross(base: Path, tmp_path: Path) -> CrossEncoderTraining:
    """Cross-encoders written under the test's own data directory, one short epoch each."""
    return CrossEncoderTraining(root=tmp_path / "data", base=base, epochs=1, batch_size=32)


def _judge(factory: sessionmaker[Session], ws: str, ids: list[str], tag: str) -> None:
    at = utcnow() - dt.timedelta(hours=1)
    events = [
        {
            "variant_id": v,
            "kind": "accept" if i % 2 else "reject",
            "idempotency_key": f"{tag}{v}",
            "event_time": at,
        }
        for i, v in enumerate(ids)
    ]
    assert not ingest_feedback(factory, ws, events).rejected


def test_auto_trains_the_logistic_model_below_the_threshold_and_the_cross_encoder_from_it(
    factory: sessionmaker[Session], cross: CrossEncoderTraining, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("feedback.rewards.CROSS_ENCODER_MIN", 100)
    ws, ids = seed_judged_workspace(factory, 120)
    _judge(factory, ws, ids[:60], "a")
    with factory() as session, session.begin():
        first = train_reward_model(session, ws, HashingEmbedder(), cross=cross)
    assert first.kind == "logistic" and isinstance(first.model, RewardModel)
    assert first.manifest["kind"] == "logistic" and first.manifest["kind_asked"] == "auto"
    assert not (cross.root / "reward_models").exists()
    _judge(factory, ws, ids[60:], "b")
    with factory() as session, session.begin():
        second = train_reward_model(session, ws, HashingEmbedder(), cross=cross)
    assert second.kind == "cross-encoder" and isinstance(second.model, CrossRewardModel)
    model = second.model
    assert model.path == f"reward_models/{ws}/v2-{second.id}"  # relative to the data directory
    folder = cross_encoder_dir(cross.root, model)
    assert folder.is_dir() and model.sha256 == weights_sha256(folder)
    # one generation request: no request to hold out, so it learned from all of them, as logistic does
    assert second.metrics["labelled"] == 120 and second.metrics["trained_on"] == 120
    assert second.manifest["kind"] == "cross-encoder" and second.manifest["base"] == cross.base.name
    assert second.manifest["cross_encoder_min"] == 100
    with factory() as session:
        assert latest_reward_model(session, ws) == second
        assert [m.kind for m in list_reward_models(session, ws)] == ["cross-encoder", "logistic"]
        row = session.get(RewardModelRow, second.id)
        assert row is not None and row.model["kind"] == "cross-encoder" and row.model["path"] == model.path
    # a caller that cannot store a cross-encoder gets the logistic model from auto
    with factory() as session, session.begin():
        third = train_reward_model(session, ws, HashingEmbedder())
    assert third.kind == "logistic" and third.version == 3


def test_a_kind_asked_for_is_trained_whatever_the_count(
    factory: sessionmaker[Session], cross: CrossEncoderTraining, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("feedback.rewards.CROSS_ENCODER_MIN", 50)
    ws, ids = seed_judged_workspace(factory, 60)
    _judge(factory, ws, ids, "a")
    with factory() as session, session.begin():
        logistic = train_reward_model(session, ws, HashingEmbedder(), kind="logistic", cross=cross)
        encoder = train_reward_model(session, ws, HashingEmbedder(), kind="cross-encoder", cross=cross)
    assert logistic.kind == "logistic" and encoder.kind == "cross-encoder"
    with factory() as session, session.begin(), pytest.raises(InvalidInputError) as caught:
        train_reward_model(session, ws, HashingEmbedder(), kind="cross-encoder")
    assert caught.value.field == "kind"
    with factory() as session, session.begin(), pytest.raises(InvalidInputError) as caught:
        train_reward_model(session, ws, HashingEmbedder(), kind="forest", cross=cross)
    assert caught.value.field == "kind" and "cross-encoder" in str(caught.value)


def test_a_cross_encoder_still_needs_enough_feedback_and_leaves_no_files_without_it(
    factory: sessionmaker[Session], cross: CrossEncoderTraining
) -> None:
    ws, ids = seed_judged_workspace(factory, 10)
    _judge(factory, ws, ids, "a")
    with factory() as session, session.begin(), pytest.raises(InvalidInputError) as caught:
        train_reward_model(session, ws, HashingEmbedder(), kind="cross-encoder", cross=cross)
    assert caught.value.field == "feedback" and "10 labelled drafts" in str(caught.value)
    assert not cross.root.exists() or not any(cross.root.rglob("*.safetensors"))
    with factory() as session:
        assert list_reward_models(session, ws) == []


def test_a_model_stored_before_kinds_reads_back_as_logistic(factory: sessionmaker[Session]) -> None:
    ws, _ = seed_judged_workspace(factory, 2)
    model = train_reward(planted_feedback(60, seed=1), HashingEmbedder())
    old = {k: v for k, v in model.to_dict().items() if k != "kind"}
    with factory() as session, session.begin():
        row = RewardModelRow(workspace_id=ws, version=1, trained_until=utcnow(), model=old)
        session.add(row)
        session.flush()
        model_id = row.id
    with factory() as session:
        stored = get_reward_model(session, ws, model_id)
    assert stored.kind == "logistic" and stored.model == model


def test_the_choice_of_kind_and_the_folders_a_stored_path_may_name(tmp_path: Path) -> None:
    assert choose_kind("auto", 4999) == "logistic" and choose_kind("auto", 5000) == "cross-encoder"
    assert choose_kind("auto", 50000, cross_possible=False) == "logistic"
    assert choose_kind("cross-encoder", 60) == "cross-encoder" and choose_kind("logistic", 5000) == "logistic"
    model = CrossRewardModel(
        path="reward_models/w/v1-x",
        sha256="0" * 64,
        base="b",
        base_sha256="",
        max_length=256,
        epochs=1,
        batch_size=16,
        learning_rate=3e-5,
        seed=0,
    )
    assert cross_encoder_dir(tmp_path, model) == tmp_path / "reward_models" / "w" / "v1-x"
    for bad in ("../elsewhere", "/etc", ""):
        with pytest.raises(InvalidInputError) as caught:
            cross_encoder_dir(tmp_path, CrossRewardModel(**{**model.__dict__, "path": bad}))
        assert caught.value.field == "path"
