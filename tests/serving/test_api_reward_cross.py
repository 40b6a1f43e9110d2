"""Cross-encoder reward models through a real server: asked for by kind, ranking generations, and
left out, with the reason in the stats, when their files are gone or altered."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.live_server import LiveServer, api_settings, create_brand, create_generation
from tests.support.reward_api import judged_workspace
from tests.support.tiny_bert import one_torch_thread, tiny_bert_dir


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The API with cross-encoders fine-tuned from a tiny BERT."""
    folder = tmp_path_factory.mktemp("api")
    settings = api_settings(
        f"sqlite:///{folder / 'api.db'}", folder / "data", reward_base_model=tiny_bert_dir(tmp_path_factory)
    )
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with one_torch_thread():
        yield


def _folder(server: LiveServer, model: dict[str, Any]) -> Path:
    [folder] = (server.settings.data_dir / "reward_models").glob(f"*/v{model['version']}-{model['id']}")
    return folder


def test_an_analyst_trains_a_cross_encoder_and_generation_ranks_with_it(server: LiveServer) -> None:
    tenant = server.tenant()
    with server.client(tenant) as admin:
        brand = create_brand(admin)
        ids = judged_workspace(admin, brand)
    with server.client(tenant, role="marketer") as marketer:
        assert marketer.post("/v1/reward-models", json={"kind": "cross-encoder"}).status_code == 403
    with server.client(tenant, role="analyst") as analyst:
        created = analyst.post("/v1/reward-models", json={"kind": "cross-encoder", "seed": 1})
        assert created.status_code == 201, created.text
        model: dict[str, Any] = created.json()
        assert model["kind"] == "cross-encoder" and model["named_weights"] == {}
        assert model["manifest"]["kind"] == model["manifest"]["kind_asked"] == "cross-encoder"
        assert model["metrics"]["labelled"] == len(ids) and model["metrics"]["held_out"] > 0
        assert model["metrics"]["held_out_pairwise_accuracy"] is not None
        assert analyst.get(f"/v1/reward-models/{model['id']}").json() == model
    assert (_folder(server, model) / "model.safetensors").is_file()
    with server.client(tenant, role="marketer") as marketer:
        after = create_generation(marketer, brand)
    assert after["stats"]["reward_model"] == model["label"] and after["stats"]["reward_note"] is None
    variants = [v for vs in after["variants"].values() for v in vs]
    assert variants and all(v["lineage"]["reward_model"] == model["label"] for v in variants)
    assert all(any(r.endswith(f"(reward model {model['label']})") for r in v["reasons"]) for v in variants)
    with server.client(server.tenant()) as stranger:
        # another workspace neither sees the model nor ranks with it
        assert stranger.get(f"/v1/reward-models/{model['id']}").status_code == 404
        assert create_generation(stranger, create_brand(stranger))["stats"]["reward_model"] is None


@pytest.mark.parametrize("kind", ["forest", "", 3])
def test_an_unknown_kind_is_refused_naming_the_field(server: LiveServer, kind: object) -> None:
    with server.client(server.tenant()) as api:
        response = api.post("/v1/reward-models", json={"kind": kind})
        assert response.status_code == 422 and response.json()["error"]["field"] == "kind"
        assert api.get("/v1/reward-models").json() == []


def test_a_model_whose_files_are_altered_or_gone_is_left_out_and_the_stats_say_why(
    server: LiveServer,
) -> None:
    with server.client(server.tenant()) as api:
        brand = create_brand(api)
        judged_workspace(api, brand)
        first = api.post("/v1/reward-models", json={"kind": "cross-encoder"}).json()
        weights = _folder(server, first) / "model.safetensors"
        data = bytearray(weights.read_bytes())
        data[-1] ^= 0xFF
        weights.write_bytes(bytes(data))
        altered = create_generation(api, brand)
        assert altered["stats"]["reward_model"] is None
        note = altered["stats"]["reward_note"]
        assert first["label"] in note and "could not be loaded" in note and "sha256" in note
        assert all(v["lineage"]["reward_model"] is None for vs in altered["variants"].values() for v in vs)
        second = api.post("/v1/reward-models", json={"kind": "cross-encoder"}).json()
        assert second["version"] == 2
        for path in _folder(server, second).iterdir():
            path.unlink()
        gone = create_generation(api, brand)
        assert gone["stats"]["reward_model"] is None
        assert second["label"] in gone["stats"]["reward_note"] and "lacks" in gone["stats"]["reward_note"]
