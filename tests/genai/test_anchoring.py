"""Anchoring: every sentence of the copy hangs on something the brand kit or the brief gives."""

from __future__ import annotations

import datetime as dt

import pytest

from genai.brand import BrandKit, Product
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.gates import run_gates
from genai.gates.anchoring import Anchors, clauses
from genai.trim import trim_draft

CTA = "https://wickandwillow.example/holiday"


@pytest.fixture
def brand() -> BrandKit:
    return BrandKit(
        name="Wick & Willow",
        tagline="Hand-poured soy candles for slow evenings",
        description="Small-batch soy candles. Warm, cozy scents for slow evenings at home: refillable tins.",
        products=[Product("Hearth & Cedar", "28.00 USD")],
    )


@pytest.fixture
def brief() -> Brief:
    return Brief(
        goal="Holiday sale on hand-poured candles",
        offer="20% off all candles",
        cta_url=CTA,
        send_date=dt.date(2026, 12, 5),
        facts=["The sale runs until Sunday 13 December", "Every candle burns for about 50 hours"],
        constraints=["Mention that every candle is hand-poured in small batches."],
        segments=[{"name": "everyone"}],
    )


@pytest.mark.parametrize(
    "sentence",
    [
        "Every candle is hand-poured in small batches.",  # the brief's rule, in its words
        "Every candle burns for about 50 hours.",  # a fact (grounding checks it)
        "Hearth & Cedar smells of a fire in the next room.",  # a product by name
        "A cozy scent for a slow evening.",  # the description, one word skipped on its side
        "Questions about a gift?",  # a short question asserts nothing
    ],
)
def test_a_sentence_that_hangs_on_the_brand_or_the_brief_is_anchored(
    sentence: str, brief: Brief, brand: BrandKit
) -> None:
    assert Anchors(brief, brand).why_loose(sentence) is None


@pytest.mark.parametrize(
    ("sentence", "why"),
    [
        ("That's a lot of candles, so you can watch the lights burn down to the floor.", "says nothing"),
        ("The bottles are often too small to keep all of them.", "says nothing"),
        ("Did you know that a candle can keep a whole house warm all winter?", "says nothing"),
        ("It's a good idea to mention that every candle is hand-poured.", "speaks of the brief"),
        ("As the brief says, the sale is on.", "speaks of the brief"),
    ],
)
def test_a_sentence_that_hangs_on_nothing_given_is_loose(
    sentence: str, why: str, brief: Brief, brand: BrandKit
) -> None:
    loose = Anchors(brief, brand).why_loose(sentence)
    assert loose is not None and loose.startswith(why)


def test_clauses_split_where_a_sentence_joins_on_a_second_thought() -> None:
    sentence = "Every candle burns for 50 hours, and the tins refill; so it goes: slowly."
    assert clauses(sentence) == [
        (0, "Every candle burns for 50 hours"),
        (31, "the tins refill"),
        (52, "so it goes"),
        (64, "slowly."),
    ]
    assert clauses("Warm, cozy scents: cotton wicks, no paraffin.") == [
        (0, "Warm, cozy scents"),
        (17, "cotton wicks, no paraffin."),
    ]


def _draft(*body: str, headline: str = "Hand-poured for the holidays") -> EmailDraft:
    return EmailDraft(
        subject="Holiday candles, 20% off",
        preheader="20% off all candles. The sale runs until Sunday 13 December.",
        headline=headline,
        body=list(body),
        cta_label="Shop the sale",
        cta_url=CTA,
    )


def test_trimming_drops_loose_sentences_and_cuts_loose_or_repeated_clauses(
    brief: Brief, brand: BrandKit
) -> None:
    draft = _draft(
        "Every candle is hand-poured in small batches. Every candle burns for about 50 hours, "
        "and every one is hand-poured in small batches.",
        "Every candle is 20% off until Sunday 13 December, and every one is 20% off until Christmas. "
        "It comes in a refillable tin, and the bottles are often too small to keep all of them.",
        "It's a good idea to mention that every candle is hand-poured. "
        "That's a lot of candles, so you can watch the lights burn down to the floor.",
    )
    trimmed, notes = trim_draft(draft, brief, brand)
    assert trimmed.body == [
        "Every candle is hand-poured in small batches. Every candle burns for about 50 hours.",
        "Every candle is 20% off until Sunday 13 December. It comes in a refillable tin.",
    ]
    assert any("cut back before a clause that says again what was said" in n for n in notes)
    assert any("cut back before a clause that repeats a fact already stated" in n for n in notes)
    assert any("cut back before a clause that says nothing the brand kit" in n for n in notes)
    assert any(
        n.startswith("\"It's a good idea") and "speaks of the brief's instructions" in n for n in notes
    )
    results = {r.gate_id: r for r in run_gates(trimmed, brief, brand)}
    assert results["anchoring"].passed and results["body_length"].passed


def test_a_body_too_thin_to_trim_is_kept_whole_and_the_gates_warn_of_it(
    brief: Brief, brand: BrandKit
) -> None:
    draft = _draft(
        "Every candle is hand-poured in small batches. The tins are too small to keep them all.",
        headline="20% off all candles",
    )
    trimmed, notes = trim_draft(draft, brief, brand)
    assert trimmed.body == draft.body and not any("too small" in n for n in notes)
    results = {r.gate_id: r for r in run_gates(trimmed, brief, brand)}
    assert results["anchoring"].severity == "warn" and not results["anchoring"].passed
    assert results["anchoring"].evidence == ["body[0]: The tins are too small to keep them all."]
    assert not results["body_length"].passed and results["body_length"].severity == "warn"


def test_the_gate_blocks_the_brief_spoken_to_the_reader(brief: Brief, brand: BrandKit) -> None:
    draft = _draft(
        "Every candle is hand-poured in small batches, and every candle burns for about 50 hours.",
        "Remember to mention that the sale runs until Sunday 13 December.",
    )
    result = {r.gate_id: r for r in run_gates(draft, brief, brand)}["anchoring"]
    assert result.blocks and result.evidence == [
        "body[1]: Remember to mention that the sale runs until Sunday 13 December."
    ]


def _winback() -> Brief:
    return Brief(
        goal="Win back customers who have not ordered in over 18 months",
        offer="A free woven cushion cover with any rug ordered before Tuesday 30 June",
        cta_url=CTA,
        facts=["Free UK delivery on every rug", "Hearth rugs are 90 x 150 cm"],
        segments=[{"name": "lapsed"}],
    )


def test_a_goal_written_as_the_marketers_task_is_never_said_to_the_reader() -> None:
    weaver = BrandKit(name="Tarn House Weaving", tagline="Rugs woven by hand in Sedbergh")
    draft = EmailDraft(
        subject="A cushion cover for your hall",
        preheader="Win back customers who have not ordered in over 18 months.",
        headline="Win back customers who have not ordered",
        body=[
            "Any rug ordered before Tuesday 30 June comes with a free woven cushion cover. "
            "Hearth rugs are 90 x 150 cm.",
            "Free UK delivery on every rug, woven by hand in Sedbergh.",
        ],
        cta_label="Order yours",
        cta_url=CTA,
    )
    gate = {r.gate_id: r for r in run_gates(draft, _winback(), weaver)}["anchoring"]
    assert gate.blocks and gate.evidence == [
        "preheader: Win back customers who have not ordered in over 18 months."
    ]
    trimmed, notes = trim_draft(draft, _winback(), weaver)
    # the offer is too long for a headline and the goal is a task: the tagline heads the e-mail
    assert trimmed.headline == "Rugs woven by hand in Sedbergh"
    assert "Win back" not in trimmed.preheader and "18 months" not in trimmed.preheader
    assert any("speaks of the brief's instructions: written from the brief" in n for n in notes)
    # a goal a reader could be told still heads an e-mail
    sale = _winback().model_copy(update={"goal": "Summer rug sale", "offer": ""})
    assert trim_draft(draft, sale, weaver)[0].headline == "Summer rug sale"


def test_something_free_must_be_what_the_brief_gives_free(brand: BrandKit) -> None:
    draft = EmailDraft(
        subject="A cushion cover for your hall",
        preheader="A free woven cushion cover with any rug ordered before Tuesday 30 June.",
        headline="A cushion cover with your rug",
        body=[
            "Any rug ordered before Tuesday 30 June is free, and it comes with a cushion cover. "
            "Hearth rugs are 90 x 150 cm, woven in small batches.",
            "Each rug comes with a free cushion cover, and your rug is delivered free in the UK. "
            "Feel free to find a free evening to visit.",
        ],
        cta_label="Order yours",
        cta_url=CTA,
    )
    gate = {r.gate_id: r for r in run_gates(draft, _winback(), brand)}["offer_consistency"]
    assert gate.blocks and gate.evidence == ["body[0]: Any rug ordered before Tuesday 30 June is free"]
    trimmed, notes = trim_draft(draft, _winback(), brand)
    assert not trimmed.body[0].startswith("Any rug")
    assert any("promises something free that the brief does not offer" in n for n in notes)
