"""The grounding, audience-label and brief-rule gates on hand-written good and bad drafts."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from genai.brand import BrandKit, Product
from genai.brief import Brief
from genai.campaign import GateResult
from genai.draft import EmailDraft
from genai.gates import coverage, run_gates, ungrounded

CTA = "https://fernandfig.example/order"


@pytest.fixture
def brand() -> BrandKit:
    return BrandKit(
        name="Fern & Fig Bakery",
        description="A two-oven bakery on Market Row making sourdough and cardamom buns since 2014.",
        website="https://fernandfig.example/",
        address="12 Market Row, Leeds",
        products=[Product(name="Country sourdough", price="£4.50")],
    )


@pytest.fixture
def brief() -> Brief:
    return Brief(
        goal="Half-term bake sale on buns",
        offer="20% off all buns with code BUNS20",
        cta_url=CTA,
        send_date=dt.date(2026, 12, 5),
        facts=["The sale runs Monday to Friday, 8am to 2pm."],
        constraints=["Mention that everything is baked the same morning.", "Do not mention gluten."],
        segments=[{"name": "vip-regulars", "description": "customers who order every week"}],
    )


@pytest.fixture
def good() -> EmailDraft:
    return EmailDraft(
        subject="Warm buns all week, 20% off",
        preheader="Use code BUNS20 for 20% off every bun, Monday to Friday.",
        headline="A week of warm buns",
        body=[
            "Half-term means full kitchens, so the cardamom buns are front and centre at Market Row.",
            "Everything is baked the same morning. We are open 8am to 2pm, and the sourdough is £4.50.",
        ],
        cta_label="Order yours",
        cta_url=CTA,
    )


def gate(results: list[GateResult], gate_id: str) -> GateResult:
    return next(r for r in results if r.gate_id == gate_id)


def test_a_grounded_draft_passes_all_three_gates(good: EmailDraft, brief: Brief, brand: BrandKit) -> None:
    results = run_gates(good, brief, brand)
    for gate_id in ("grounding", "audience_label", "brief_rules"):
        assert gate(results, gate_id).passed, gate(results, gate_id)


@pytest.mark.parametrize(
    ("text", "token"),
    [
        ("The best bakery of 2019, now 20% off.", "2019"),
        ("Take 35% off every bun.", "35%"),
        ("Use code SAVE10 at the till.", "SAVE10"),
        ("Open from 7am on the day.", "7"),
        ("Sale ends Sunday.", "Sunday"),
        ("Come in before Christmas for a bun.", "christmas"),
        ("The offer ends tonight, so be quick.", "tonight"),
        ("Our award-winning buns are back.", "award-winning"),
        ("Every loaf is organic and slow.", "organic"),
        ("Baked fresh in Manchester every morning.", "Manchester"),
        ("We grew 300% last year.", "300%"),
        ("Pick up your buns in January.", "January"),
    ],
)
def test_each_invented_fact_is_named_in_the_evidence(
    text: str, token: str, good: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    draft = replace(good, body=[good.body[0], text])
    result = gate(run_gates(draft, brief, brand), "grounding")
    assert result.blocks
    assert any(token.rstrip("%").lower() in e.lower() for e in result.evidence), result.evidence


@pytest.mark.parametrize(
    "text",
    [
        "Baked since 2014 on Market Row.",  # the brand's year and street
        "Loaves are £4.50 and buns are 20% off.",  # a product price, the brief's offer
        "Open Monday to Friday, 8am to 2pm.",  # the brief's facts
        "The sale starts on Saturday 5 December.",  # the send date
        "Pop into Leeds for a warm bun.",  # the brand's address
        "Take one home in a paper bag.",  # no fact at all
    ],
)
def test_facts_the_brand_or_brief_gives_are_grounded(text: str, brief: Brief, brand: BrandKit) -> None:
    assert ungrounded(text, brief, brand) == []


@pytest.mark.parametrize(
    "text",
    [
        "As one of our high spenders, you get first pick.",
        "You're a medium-spender, so here is a treat.",
        "Our VIP regulars get first pick this week.",
        "This segment gets the news first.",
        "You are in our top spend tier.",
    ],
)
def test_the_segment_label_spoken_to_the_reader_blocks(
    text: str, good: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    draft = replace(good, body=[good.body[0], text])
    assert gate(run_gates(draft, brief, brand), "audience_label").blocks


@pytest.mark.parametrize(
    ("description", "text"),
    [
        (
            "loyal customers who order often and spend the most",
            "You order often and spend the most, so here it is.",
        ),
        ("customers who bought once or rarely", "You bought once or rarely, and we miss you."),
    ],
)
def test_the_segments_description_said_back_with_its_judgement_blocks(
    description: str, text: str, good: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    described = Brief.model_validate(
        brief.model_dump() | {"segments": [{"name": "tier", "description": description}]}
    )
    result = gate(run_gates(replace(good, body=[good.body[0], text]), described, brand), "audience_label")
    assert result.blocks and "describes them" in result.message


def test_the_readers_history_in_plain_words_is_copy_not_a_label(
    good: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    segment = {"name": "easter", "description": "customers who bought hot cross buns last Easter"}
    described = Brief.model_validate(brief.model_dump() | {"segments": [segment]})
    draft = replace(good, body=[good.body[0], "You bought hot cross buns last Easter, so here is a nudge."])
    assert gate(run_gates(draft, described, brand), "audience_label").passed


def test_a_do_not_rule_blocks_the_sentence_that_breaks_it(
    good: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    draft = replace(
        good, body=[good.body[0], "Everything is baked the same morning and the buns contain gluten."]
    )
    result = gate(run_gates(draft, brief, brand), "brief_rules")
    assert result.blocks and "gluten" in result.evidence[0]


def test_a_no_prices_rule_blocks_any_price(good: EmailDraft, brief: Brief, brand: BrandKit) -> None:
    quiet = brief.model_copy(update={"constraints": ["Do not mention prices."]})
    assert gate(run_gates(good, quiet, brand), "brief_rules").blocks  # "the sourdough is £4.50"
    plain = replace(good, body=[good.body[0], "Everything is baked the same morning."])
    assert gate(run_gates(plain, quiet, brand), "brief_rules").passed


def test_a_word_limit_rule_blocks_a_longer_body(good: EmailDraft, brief: Brief, brand: BrandKit) -> None:
    short = brief.model_copy(update={"constraints": ["Keep it under 20 words."]})
    result = gate(run_gates(good, short, brand), "brief_rules")
    assert result.blocks and "words" in result.message


def test_a_mention_rule_that_is_not_covered_warns(good: EmailDraft, brief: Brief, brand: BrandKit) -> None:
    draft = replace(good, body=[good.body[0], "The counter is open 8am to 2pm all week long."])
    result = gate(run_gates(draft, brief, brand), "brief_rules")
    assert not result.passed and result.severity == "warn"
    assert "morning" in result.evidence[0]


def test_coverage_counts_the_goals_and_offers_words(good: EmailDraft, brief: Brief) -> None:
    off_topic = replace(good, subject="Hello", preheader="News.", headline="News", body=["Nothing.", "More."])
    assert coverage(good, brief) > coverage(off_topic, brief)
    assert 0.0 <= coverage(off_topic, brief) <= 1.0


@pytest.mark.parametrize(
    "text",
    [
        "Every candle is poured by hand. cta_label\u201d: \u201cOrder yours before it ends.",
        "cta_labelfarbe: blau: text: Find a candle that suits you.",
        "Every bun is warm. \u0441\u043e\u043e\u0442\u0432\u0435\u0442\u0441\u0442\u0432\u0438\u0435 today.",
        "Reader: loyal customers who order often.",
        "Mention that everything is baked the same morning, and come early.",
    ],
)
def test_the_prompts_scaffolding_written_into_the_copy_blocks(
    text: str, good: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    result = gate(run_gates(replace(good, body=[good.body[0], text]), brief, brand), "prompt_echo")
    assert result.blocks and result.evidence


def test_copy_that_follows_the_prompt_is_not_scaffolding(
    good: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    assert gate(run_gates(good, brief, brand), "prompt_echo").passed


@pytest.mark.parametrize(
    ("text", "claim"),
    [("The sale is closed, so hold tight.", "is closed"), ("The cardamom buns are sold out.", "sold out")],
)
def test_saying_the_sale_or_the_shop_is_over_is_a_claim_the_brief_must_make(
    text: str, claim: str, brief: Brief, brand: BrandKit
) -> None:
    assert ungrounded(text, brief, brand) == [claim]
    assert (
        ungrounded(text, brief.model_copy(update={"facts": [f"The rye loaves {claim} by noon."]}), brand)
        == []
    )
