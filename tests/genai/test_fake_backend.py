"""The fake backend without queued outputs: seeded drafts, written from the prompt, that pass the gates."""

from __future__ import annotations

import json
from typing import Any

import pytest

from genai.backends.base import GenerationRequest, SamplingParams
from genai.backends.fake import FakeBackend
from genai.brand import BrandKit, extract_brand
from genai.brief import Brief, load_brief
from genai.draft import CTA_LABELS, draft_schema
from genai.embed import HashingEmbedder
from genai.errors import BackendError
from genai.gates import run_gates
from genai.parse import parse_draft
from genai.pipeline import GenerationOptions, generate_campaign
from genai.prompts import cta_labels_for, load_prompt
from tests.support.paths import REPO

SAMPLES = REPO / "genai" / "samples"


@pytest.fixture(scope="module")
def kit() -> BrandKit:
    return extract_brand((SAMPLES / "wick-and-willow.html").read_bytes(), "https://wickandwillow.example/")


def brief(**changes: Any) -> Brief:
    base = load_brief(SAMPLES / "holiday-brief.yaml").model_dump(mode="json")
    return load_brief({**base, **changes})


def request_for(kit: BrandKit, the_brief: Brief, seed: int, n: int = 4) -> GenerationRequest:
    prompt = load_prompt().render(kit, the_brief, the_brief.segments[0])
    return GenerationRequest(
        messages=prompt.messages,
        n=n,
        sampling=SamplingParams(seed=seed),
        json_schema=draft_schema(cta_labels_for(the_brief)),
    )


def texts(backend: FakeBackend, request: GenerationRequest) -> list[str]:
    return [c.text for c in backend.generate([request])[0].candidates]


def test_queued_outputs_still_come_first(kit: BrandKit) -> None:
    backend = FakeBackend(["queued"])
    out = texts(backend, request_for(kit, brief(), seed=1, n=2))
    assert out[0] == "queued" and json.loads(out[1])["subject"]


def test_without_writing_an_empty_queue_is_a_backend_error(kit: BrandKit) -> None:
    with pytest.raises(BackendError, match="no output queued"):
        FakeBackend(write=False).generate([request_for(kit, brief(), seed=1)])


def test_the_same_seed_writes_the_same_drafts_and_candidates_differ(kit: BrandKit) -> None:
    request = request_for(kit, brief(), seed=3, n=8)
    first, again = texts(FakeBackend(), request), texts(FakeBackend(), request)
    assert first == again
    assert len({json.loads(t)["subject"] for t in first}) == 8
    assert texts(FakeBackend(), request_for(kit, brief(), seed=4, n=8)) != first


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"offer": "", "goal": "Launch of our new autumn scents, a long goal that goes on and on for a while"},
        {"goal": "Spring open evening", "offer": "", "cta_label": "Save your spot"},
        {"offer": "$10 off your first order", "constraints": ["Do not mention prices"]},
    ],
)
def test_written_drafts_use_the_brief_and_pass_every_blocking_gate(kit: BrandKit, changes: Any) -> None:
    the_brief = brief(**changes)
    for seed in range(3):
        for text in texts(FakeBackend(), request_for(kit, the_brief, seed, n=8)):
            draft = parse_draft(text, the_brief.cta_url)
            assert draft.cta_label in cta_labels_for(the_brief) and draft.cta_label in CTA_LABELS
            assert (
                "Wick & Willow" in draft.full_text()
                or the_brief.goal[:12].lower() in draft.full_text().lower()
            )
            failed = [g for g in run_gates(draft, the_brief, kit) if not g.passed]
            assert [(g.gate_id, g.evidence) for g in failed if g.severity == "block"] == []
            if the_brief.offer and not the_brief.constraints:
                assert the_brief.offer in draft.full_text()


def test_a_mention_rule_is_followed_not_copied(kit: BrandKit) -> None:
    the_brief = brief()  # "Mention that every candle is hand-poured in small batches."
    for text in texts(FakeBackend(), request_for(kit, the_brief, seed=0, n=8)):
        body = " ".join(json.loads(text)["body"])
        assert "Every candle is hand-poured in small batches." in body
        assert "Mention" not in body


def test_the_pipeline_gets_every_variant_clean_from_the_fake_backend(kit: BrandKit) -> None:
    the_brief = brief(variants_per_segment=8)
    campaign = generate_campaign(
        kit, the_brief, FakeBackend(), embedder=HashingEmbedder(), options=GenerationOptions(seed=11)
    )
    assert {seg: len(vs) for seg, vs in campaign.variants.items()} == {s.name: 8 for s in the_brief.segments}
    assert campaign.stats.blocked == 0 and campaign.stats.warned == {}
