"""`copyloop learn reward`: trains the workspace's next reward model on what the store knows."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from feedback.db import make_engine, session_factory, upgrade
from feedback.ingest import ingest_feedback
from feedback.models import utcnow
from genai.embed import HashingEmbedder
from serving.cli import cli
from tests.support.feedback import seed_judged_workspace
from tests.support.tiny_bert import one_torch_thread, tiny_bert_dir


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A SQLite store with workspace 'acme': 60 variants, two thirds accepted, the rest rejected."""
    monkeypatch.setattr("genai.embed.default_embedder", HashingEmbedder)  # no model to load here
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    workspace, ids = seed_judged_workspace(factory, 60)
    at = utcnow() - dt.timedelta(hours=1)
    events = [
        {"variant_id": v, "kind": "accept" if i % 3 else "reject", "idempotency_key": v, "event_time": at}
        for i, v in enumerate(ids)
    ]
    assert not ingest_feedback(factory, workspace, events).rejected
    engine.dispose()
    return url


def test_learn_reward_trains_and_prints_the_model(database: str) -> None:
    result = CliRunner().invoke(cli, ["learn", "reward", "--workspace", "acme", "--database", database])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["version"] == 1 and out["label"] == f"{out['id']} v1" and out["kind"] == "logistic"
    assert out["metrics"]["labelled"] == 60 and "subject_question" in out["named_weights"]
    again = CliRunner().invoke(cli, ["learn", "reward", "--workspace", "acme", "--database", database])
    assert json.loads(again.stdout)["version"] == 2


def test_learn_reward_as_of_before_the_feedback_refuses_naming_the_field(database: str) -> None:
    result = CliRunner().invoke(
        cli, ["learn", "reward", "--workspace", "acme", "--database", database, "--as-of", "2020-01-01"]
    )
    assert result.exit_code == 2
    assert "feedback" in result.output and "0 labelled drafts" in result.output


def test_learn_reward_for_an_unknown_workspace_fails_clearly(database: str) -> None:
    result = CliRunner().invoke(cli, ["learn", "reward", "--workspace", "nope", "--database", database])
    assert result.exit_code == 2 and "nope" in result.output


def test_learn_reward_kind_cross_encoder_writes_its_folder_under_the_data_directory(
    database: str, tmp_path: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COPYLOOP_REWARD_BASE_MODEL", str(tiny_bert_dir(tmp_path_factory)))
    with one_torch_thread():
        result = CliRunner().invoke(
            cli, ["learn", "reward", "--workspace", "acme", "--database", database, "--kind", "cross-encoder"]
        )
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["kind"] == "cross-encoder" and out["named_weights"] == {}
    assert out["metrics"]["labelled"] == 60
    # the conftest points the data directory at the test's own folder
    [folder] = (tmp_path / "data" / "reward_models").glob(f"*/v1-{out['id']}")
    assert (folder / "model.safetensors").is_file()


def test_learn_reward_refuses_an_unknown_kind_naming_the_option(database: str) -> None:
    result = CliRunner().invoke(
        cli, ["learn", "reward", "--workspace", "acme", "--database", database, "--kind", "forest"]
    )
    assert result.exit_code == 2 and "--kind" in result.output and "forest" in result.output
