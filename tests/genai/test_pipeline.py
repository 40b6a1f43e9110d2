"""The pipeline with a scripted fake backend: retries, gating, de-duplication, ranking and lineage."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import pytest

from genai.backends.base import GenerationRequest
from genai.backends.fake import FakeBackend
from genai.brand import BrandKit
from genai.brief import Brief, Segment
from genai.campaign import CampaignDraft
from genai.draft import EmailDraft, draft_schema
from genai.embed import HashingEmbedder
from genai.gates import blocking, run_gates
from genai.pipeline import GenerationOptions, generate_campaign
from genai.prompts import cta_labels_for, load_prompt
from tests.support.scripted import (
    CTA,
    GOOD,
    Script,
    audience,
)


@pytest.fixture
def brand() -> BrandKit:
    return BrandKit(
        name="Lumen Candles",
        tagline="Hand-poured soy candles",
        description="Small-batch candles poured by hand for slow, cosy evenings.",
        voice=["warm", "calm"],
        website="https://lumencandles.example",
        allowed_domains=["lumencandles.example"],
    )


@pytest.fixture
def brief() -> Brief:
    return Brief(
        goal="Holiday sale on hand-poured candles",
        offer="20% off all candles",
        cta_url=CTA,
        segments=[
            Segment(name="loyal", description="order often"),
            Segment(name="new", description="first order"),
        ],
        variants_per_segment=2,
    )


def run(
    brand: BrandKit, brief: Brief, script: Callable[[GenerationRequest, int], str], **options: Any
) -> tuple[CampaignDraft, FakeBackend]:
    backend = FakeBackend(responder=script)
    options.setdefault("seed", 5)
    campaign = generate_campaign(
        brand, brief, backend, embedder=HashingEmbedder(), options=GenerationOptions(**options)
    )
    return campaign, backend


def seeds_by_segment(backend: FakeBackend) -> dict[str, list[int | None]]:
    out: dict[str, list[int | None]] = defaultdict(list)
    for request in backend.requests:
        out[audience(request)].append(request.sampling.seed)
    return out


def test_the_scripted_good_drafts_pass_every_blocking_gate(brand: BrandKit, brief: Brief) -> None:
    for data in GOOD:
        draft = EmailDraft(**data, cta_url=CTA)
        assert blocking(run_gates(draft, brief, brand)) == [], data["subject"]


def test_each_segment_gets_variants_per_segment_ranked_by_score(brand: BrandKit, brief: Brief) -> None:
    campaign, backend = run(brand, brief, Script())
    assert set(campaign.variants) == {"loyal", "new"}
    for segment, variants in campaign.variants.items():
        assert len(variants) == brief.variants_per_segment
        assert [v.rank for v in variants] == [1, 2]
        scores = [v.score for v in variants]
        assert scores == sorted(scores, reverse=True)
        assert all(v.segment == segment for v in variants)
        assert len({v.id for v in variants}) == len(variants)
    assert campaign.stats.shortfall == {}
    assert len(backend.requests) == 2  # one round was enough
    assert [r.n for r in backend.requests] == [3, 3]  # oversampled 1.5 times


def test_variants_carry_full_lineage_and_rendered_html_and_text(brand: BrandKit, brief: Brief) -> None:
    campaign, backend = run(brand, brief, Script(), temperature=0.7, max_tokens=300)
    template = load_prompt()
    request_seeds = {r.sampling.seed for r in backend.requests}
    for variant in campaign.variants["loyal"]:
        lin = variant.lineage
        assert (lin.backend, lin.model_id, lin.checkpoint_sha256) == ("fake", "fake-model", None)
        assert (lin.prompt_name, lin.prompt_version, lin.prompt_sha256) == (
            template.name,
            template.version,
            template.sha256,
        )
        assert lin.seed in request_seeds
        assert lin.sampling["seed"] == lin.seed
        assert lin.sampling["temperature"] == 0.7 and lin.sampling["max_tokens"] == 300
        source = json.dumps(next(g for g in GOOD if g["subject"] == variant.draft.subject))
        assert lin.tokens_out == len(source.split())  # the fake counts words
        assert lin.tokens_in == sum(len(m["content"].split()) for m in backend.requests[0].messages)
        assert lin.latency_s == 0.0 and lin.ttft_s == 0.0 and lin.finish_reason == "stop"
        assert lin.attempts == 1
        assert variant.draft.cta_url == CTA
        assert variant.draft.headline in variant.html and CTA in variant.html
        assert variant.draft.body[0] in " ".join(variant.text.split())
        assert all(g.passed or g.severity == "warn" for g in variant.gates)


def test_each_variant_names_the_candidate_of_its_request_it_came_from(brand: BrandKit, brief: Brief) -> None:
    script = Script(loyal=["bad", "good", "good"])  # the first candidate of the first round fails
    made_by: dict[str, int] = {}

    def responder(request: GenerationRequest, index: int) -> str:
        text = script(request, index)
        if text.startswith("{") and text.endswith("}"):
            made_by[json.loads(text)["subject"]] = index
        return text

    campaign, _ = run(brand, brief, responder)
    loyal = campaign.variants["loyal"]
    assert [v.lineage.candidate for v in loyal] == [made_by[v.draft.subject] for v in loyal]
    assert 0 not in {v.lineage.candidate for v in loyal}  # candidate 0 was the malformed one


def test_malformed_output_is_retried_in_a_later_round_with_a_new_seed(brand: BrandKit, brief: Brief) -> None:
    campaign, backend = run(brand, brief, Script(loyal=["bad", "bad", "bad"]))
    seeds = seeds_by_segment(backend)
    assert len(seeds["loyal"]) == 2 and len(seeds["new"]) == 1
    assert seeds["loyal"][0] != seeds["loyal"][1]
    assert [v.lineage.attempts for v in campaign.variants["loyal"]] == [2, 2]
    assert [v.lineage.seed for v in campaign.variants["loyal"]] == [seeds["loyal"][1]] * 2
    failures = [r for r in campaign.rejected["loyal"] if "error" in r]
    assert len(failures) == 3 and {f["round"] for f in failures} == {1}
    assert campaign.stats.parse_failures == 3 and campaign.stats.shortfall == {}


def test_the_pipeline_gives_up_after_max_rounds_and_reports_the_shortfall(
    brand: BrandKit, brief: Brief
) -> None:
    campaign, backend = run(brand, brief, Script(new=["bad"] * 50), max_rounds=3)
    assert len(campaign.variants["loyal"]) == 2
    assert campaign.variants["new"] == []
    assert campaign.stats.shortfall == {"new": 2}
    seeds = seeds_by_segment(backend)
    assert len(seeds["new"]) == 3 and len(set(seeds["new"])) == 3
    failures = [r for r in campaign.rejected["new"] if "error" in r]
    assert {f["round"] for f in failures} == {1, 2, 3}
    assert all("output" in f["error"] for f in failures)
    assert failures[0]["output"].startswith('{"subject"')


def test_blocked_drafts_never_become_variants(brand: BrandKit, brief: Brief) -> None:
    campaign, _ = run(brand, brief, Script(loyal=["blocked", "good", "blocked", "blocked", "good"]))
    shown = [v.draft.full_text() for vs in campaign.variants.values() for v in vs]
    assert not any("prizes-now" in text for text in shown)
    assert len(campaign.variants["loyal"]) == 2
    blocked_rejects = [r for r in campaign.rejected["loyal"] if (r.get("reason") or "").startswith("blocked")]
    assert blocked_rejects and all("links" in r["gates"] for r in blocked_rejects)
    # the counts the monitoring job reads as the gate block rate
    assert campaign.stats.blocked == len(blocked_rejects)
    assert campaign.stats.blocked_by["links"] == len(blocked_rejects)


def test_near_duplicates_are_dropped(brand: BrandKit, brief: Brief) -> None:
    campaign, _ = run(brand, brief, Script(loyal=["good", "dup", "dup", "dup", "good"]))
    subjects = [v.draft.subject for v in campaign.variants["loyal"]]
    assert len(subjects) == 2 and len(set(subjects)) == 2
    dropped = [r for r in campaign.rejected["loyal"] if (r.get("reason") or "").startswith("near-duplicate")]
    assert len(dropped) >= 2


def test_the_same_seed_option_gives_the_same_request_seeds(brand: BrandKit, brief: Brief) -> None:
    _, first = run(brand, brief, Script(loyal=["bad"] * 3), seed=99)
    _, again = run(brand, brief, Script(loyal=["bad"] * 3), seed=99)
    assert seeds_by_segment(first) == seeds_by_segment(again)


@pytest.mark.parametrize("structured", [True, False])
def test_requests_ask_for_the_draft_schema_only_when_structured(
    brand: BrandKit, brief: Brief, structured: bool
) -> None:
    _, backend = run(brand, brief, Script(), structured=structured, timeout_s=12.0)
    for request in backend.requests:
        expected = draft_schema(cta_labels_for(brief))
        assert request.json_schema == (expected if structured else None)
        if structured:
            assert "Shop the sale" in expected["properties"]["cta_label"]["enum"]
        assert request.timeout_s == 12.0
        assert request.messages[0]["role"] == "system"


def test_progress_reports_each_segment_round(brand: BrandKit, brief: Brief) -> None:
    seen: list[tuple[str, int]] = []
    generate_campaign(
        brand,
        brief,
        FakeBackend(responder=Script()),
        embedder=HashingEmbedder(),
        options=GenerationOptions(seed=1),
        progress=lambda message, done: seen.append((message, done)),
    )
    # segments run side by side, so either may report first; the count is over all segments
    assert sorted(message for message, _ in seen) == ["segment loyal: round 1", "segment new: round 1"]
    assert [done for _, done in seen] == [3, 6]


def test_drafts_with_a_warning_are_retried_for_clean_ones(brand: BrandKit, brief: Brief) -> None:
    campaign, backend = run(brand, brief, Script(loyal=["warned"] * 3))
    loyal = campaign.variants["loyal"]
    assert len(loyal) == 2 and all(all(g.passed for g in v.gates) for v in loyal)
    assert len(seeds_by_segment(backend)["loyal"]) == 2  # the warned round, then a clean retry
    assert campaign.stats.warned == {}


def test_variants_returned_with_warnings_for_want_of_clean_ones_are_said_to_be(
    brand: BrandKit, brief: Brief
) -> None:
    campaign, _ = run(brand, brief, Script(loyal=["warned"] * 20), max_rounds=2)
    loyal = campaign.variants["loyal"]
    assert len(loyal) == 2 and all(any(not g.passed for g in v.gates) for v in loyal)
    assert campaign.stats.warned == {"loyal": 2} and campaign.stats.shortfall == {}
    assert "spam_phrases" in campaign.stats.warned_reasons["loyal"]
    assert "new" not in campaign.stats.warned
