"""Ranking: clean drafts first, then voice, brief coverage and fluency."""

from __future__ import annotations

from dataclasses import replace

from genai.brand import BrandKit
from genai.brief import Brief
from genai.campaign import GateResult
from genai.draft import EmailDraft
from genai.embed import HashingEmbedder
from genai.select import Scored, select_drafts

BRAND = BrandKit(name="Lumen Candles", description="Hand-poured soy candles for slow evenings.")
BRIEF = Brief(
    goal="Holiday sale on candles",
    offer="20% off all candles",
    cta_url="https://l.example/",
    segments=[{"name": "all"}],
)
DRAFT = EmailDraft(
    subject="Holiday candles, 20% off",
    preheader="Hand-poured soy candles for slow evenings, now 20% off.",
    headline="Holiday light",
    body=["Our holiday candles are poured by hand.", "Take 20% off all candles this week."],
    cta_label="Shop the sale",
    cta_url="https://l.example/",
)
PASS = [GateResult("links", "block", True, "passed")]
WARN = [GateResult("preheader_length", "warn", False, "too long")]


def scored(i: int, draft: EmailDraft, gates: list[GateResult], fluency: float | None = None) -> Scored:
    return Scored(index=i, draft=draft, gates=gates, fluency=fluency)


def test_a_draft_with_a_warning_never_outranks_a_clean_one() -> None:
    on_brief = scored(0, DRAFT, WARN)
    off_brief = scored(
        1, replace(DRAFT, subject="Hello", headline="News", body=["Some news.", "More news."]), PASS
    )
    kept, _ = select_drafts([on_brief, off_brief], BRAND, HashingEmbedder(), 2, brief=BRIEF)
    assert [k.index for k in kept] == [1, 0]
    assert on_brief.score > off_brief.score - 0.1  # the better score still ranks second


def test_brief_coverage_and_fluency_raise_the_score() -> None:
    vague = replace(DRAFT, subject="A note from us", body=["We have news to share.", "Come and see us soon."])
    kept, _ = select_drafts(
        [scored(0, vague, PASS), scored(1, DRAFT, PASS)], BRAND, HashingEmbedder(), 2, brief=BRIEF
    )
    assert kept[0].index == 1 and any(r.startswith("brief coverage") for r in kept[0].reasons or [])
    fluent, halting = scored(0, DRAFT, PASS, fluency=-0.2), scored(1, DRAFT, PASS, fluency=-3.0)
    select_drafts([fluent, halting], BRAND, HashingEmbedder(), 2, 1.01, brief=BRIEF)
    assert fluent.score > halting.score
    assert "fluency -0.20" in (fluent.reasons or [])


def test_two_variants_never_share_a_subject_however_different_their_bodies() -> None:
    first = scored(0, DRAFT, PASS)
    same = scored(
        1,
        replace(
            DRAFT,
            subject="20% off: holiday candles",
            body=["Every wick is cotton and every jar is glass.", "Light one on the longest night."],
        ),
        PASS,
    )
    other = scored(2, replace(DRAFT, subject="Slow evenings, poured by hand"), PASS)
    kept, dropped = select_drafts([first, same, other], BRAND, HashingEmbedder(), 2, 1.01, brief=BRIEF)
    assert {k.index for k in kept} == {0, 2} or {k.index for k in kept} == {1, 2}
    loser = next(d for d in dropped if d.index in (0, 1))
    assert loser.dropped is not None and "subject of candidate" in loser.dropped
