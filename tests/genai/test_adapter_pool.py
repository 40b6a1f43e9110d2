"""Per-request adapters: routing to siblings, the least recently used one closed, lineage per result."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from genai.backends.adapter_pool import AdapterPool
from genai.backends.base import Backend, Candidate, GenerationRequest, GenerationResult
from genai.backends.fake import FakeBackend
from genai.brand import BrandKit
from genai.brief import Brief
from genai.embed import HashingEmbedder
from genai.errors import BackendUnavailableError, InvalidInputError
from genai.pipeline import GenerationOptions, generate_campaign
from genai.tuning.adapters import ADAPTERS_DIR, DEFAULT_ADAPTER, find_adapter, load_adapter


class _Named(Backend):
    """Answers with its own adapter's name, and remembers being closed."""

    name = "named"

    def __init__(self, adapter: str | None) -> None:
        self.adapter_name = adapter
        self.adapter_sha256 = f"sha-{adapter}" if adapter else None
        self.closed = False
        self.calls = 0

    def generate(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult]:
        self.calls += 1
        text = self.adapter_name or "base"
        return [GenerationResult([Candidate(text, 1, "stop")], 1, 0.0, 0.0) for _ in requests]

    def close(self) -> None:
        self.closed = True


def _request(adapter: str | None) -> GenerationRequest:
    return GenerationRequest(messages=[{"role": "user", "content": "hi"}], adapter=adapter)


def test_requests_go_to_the_backend_of_the_adapter_they_name_in_their_order() -> None:
    own = _Named("email-v1")
    made: dict[str, _Named] = {}

    def factory(name: str) -> _Named:
        made[name] = _Named(None if name == "none" else name)
        return made[name]

    pool = AdapterPool(factory, max_loaded=2)
    names = [None, "brand-a", "email-v1", "none", "brand-a"]
    results = pool.generate(own, own.generate, [_request(n) for n in names])
    assert [r.candidates[0].text for r in results] == ["email-v1", "brand-a", "email-v1", "base", "brand-a"]
    assert results[0].adapter is None  # unnamed: the backend's own, as before
    assert [(r.adapter.name, r.adapter.sha256) for r in results[1:] if r.adapter] == [
        ("brand-a", "sha-brand-a"),
        ("email-v1", "sha-email-v1"),
        (None, None),
        ("brand-a", "sha-brand-a"),
    ]
    assert set(made) == {"brand-a", "none"} and made["brand-a"].calls == 1  # one load, one batch


def test_past_the_limit_the_least_recently_used_idle_sibling_is_closed() -> None:
    own = _Named(None)
    made: dict[str, _Named] = {}

    def factory(name: str) -> _Named:
        made[name] = _Named(name)
        return made[name]

    pool = AdapterPool(factory, max_loaded=2)
    for name in ("a", "b", "a", "c"):
        pool.generate(own, own.generate, [_request(name)])
    assert pool.loaded() == ["a", "c"]
    assert made["b"].closed and not made["a"].closed and not made["c"].closed
    pool.close()
    assert made["a"].closed and made["c"].closed and pool.loaded() == []


def test_an_adapter_is_found_by_name_only(tmp_path: Path) -> None:
    assert find_adapter("none") is None
    shipped = find_adapter(DEFAULT_ADAPTER)
    assert shipped is not None and shipped.sha256 == load_adapter(ADAPTERS_DIR / DEFAULT_ADAPTER).sha256
    shutil.copytree(ADAPTERS_DIR / DEFAULT_ADAPTER, tmp_path / "brand-x")
    found = find_adapter("brand-x", [tmp_path])
    assert found is not None and found.name == "brand-x" and found.path == tmp_path / "brand-x"
    for bad in ("../email-v1", "a/b", "", "x" * 65, ".hidden"):
        with pytest.raises(InvalidInputError) as caught:
            find_adapter(bad, [tmp_path])
        assert caught.value.field == "adapter"
    with pytest.raises(InvalidInputError, match="no adapter named 'brand-y'"):
        find_adapter("brand-y", [tmp_path])


def test_each_variant_names_the_adapter_its_request_asked_for(tmp_path: Path) -> None:
    shutil.copytree(ADAPTERS_DIR / DEFAULT_ADAPTER, tmp_path / "brand-x")
    brand = BrandKit(name="Lumen", website="https://lumen.example/", allowed_domains=["lumen.example"])
    brief = Brief.model_validate(
        {
            "goal": "Spring sale",
            "offer": "15% off",
            "cta_url": "https://lumen.example/sale",
            "variants_per_segment": 1,
            "segments": [{"name": "everyone", "description": "all subscribers"}],
        }
    )
    backend = FakeBackend(adapter_dirs=[tmp_path])
    for asked, expected in (("brand-x", "brand-x"), ("none", None), (None, None)):
        backend.requests.clear()
        campaign = generate_campaign(
            brand,
            brief,
            backend,
            embedder=HashingEmbedder(),
            options=GenerationOptions(seed=1, adapter=asked),
        )
        variants = [v for vs in campaign.variants.values() for v in vs]
        assert variants and all(v.lineage.adapter == expected for v in variants)
        assert backend.requests and all(r.adapter == asked for r in backend.requests)
        if expected:
            assert variants[0].lineage.adapter_sha256 == load_adapter(tmp_path / "brand-x").sha256


def test_when_every_slot_is_busy_another_adapter_is_refused_not_loaded() -> None:
    own = _Named(None)
    made: list[str] = []

    def factory(name: str) -> _Named:
        made.append(name)
        return _Named(name)

    pool = AdapterPool(factory, max_loaded=1)
    busy = pool._acquire("a")  # a request for "a" still running
    with pytest.raises(BackendUnavailableError, match="adapter slots is busy"):
        pool.generate(own, own.generate, [_request("b")])
    assert made == ["a"] and pool.loaded() == ["a"]
    pool._release("a")
    assert [r.candidates[0].text for r in pool.generate(own, own.generate, [_request("b")])] == ["b"]
    assert busy.closed and pool.loaded() == ["b"]  # the idle one made room
