"""The fact-binding gate and the trimming of body sentences it cannot stand behind."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from genai.brand import BrandKit, Product
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.gates import run_gates
from genai.gates.binding import fact_tokens, unbound
from genai.trim import compose_preheader, trim_draft
from genai.tuning.corpus import load_corpus

CTA = "https://wickandwillow.example/collections/holiday"


@pytest.fixture
def brand() -> BrandKit:
    return BrandKit(
        name="Wick & Willow",
        description="Hand-poured soy candles from a two-person studio.",
        products=[Product("Fir & Ember candle", "28.00 USD"), Product("Cedar Smoke candle", "26.00 USD")],
    )


@pytest.fixture
def brief() -> Brief:
    return Brief(
        goal="Holiday sale on hand-poured candles",
        offer="20% off all candles",
        cta_url=CTA,
        send_date=dt.date(2026, 12, 5),
        facts=[
            "The sale runs until Sunday 13 December",
            "Orders placed by Friday 18 December arrive before Christmas",
            "Every candle burns for about 50 hours",
        ],
        segments=[{"name": "everyone"}],
    )


@pytest.mark.parametrize(
    ("sentence", "unbound_facts"),
    [
        # the delivery cut-off said of the sale
        ("The sale runs from Friday 18 December.", ["18 December."]),
        # the sale ends on the 13th, not at the end of the month
        ("The sale runs through the end of December.", ["December (without its day)"]),
        ("Our candles are 20% off all December.", ["December (without its day)"]),
        # a percentage is not a number of dollars
        ("The 20% discount is worth 20 bucks.", ["20 bucks"]),
        ("Take 20 off any candle.", ["20"]),
        # the right day with the wrong weekday
        ("The sale runs until Friday 13 December.", ["Friday 13 december"]),
        # the offer tied to the delivery cut-off: the sale ends on the 13th
        (
            "Order by Friday 18 December and every candle is 20% off.",
            ["18 December (a date the brief gives for something other than the offer)"],
        ),
    ],
)
def test_a_fact_said_of_the_wrong_thing_is_unbound(
    sentence: str, unbound_facts: list[str], brief: Brief, brand: BrandKit
) -> None:
    assert unbound(sentence, brief, brand) == unbound_facts


@pytest.mark.parametrize(
    "sentence",
    [
        "The sale runs until Sunday 13 December.",
        "Take 20% off every candle until Sunday 13 December.",
        "Shop by Sunday 13 December to save 20%.",
        "Order by Friday 18 December and it arrives before Christmas.",
        "Every candle burns for about 50 hours.",
        "The Fir & Ember candle is 28.00 USD.",
        "Our 20% off holiday sale ends on Sunday.",
        "December evenings are made for candlelight.",
        "Light one on a quiet Tuesday.",  # a weekday no source dates
        # the offer and the delivery cut-off, each in its own clause
        "Every candle is 20% off until Sunday 13 December, and orders placed by Friday 18 December "
        "arrive before Christmas.",
    ],
)
def test_a_fact_said_of_what_its_source_says_it_of_is_bound(
    sentence: str, brief: Brief, brand: BrandKit
) -> None:
    assert unbound(sentence, brief, brand) == []


def test_dates_ranges_and_weekdays_are_read_as_written() -> None:
    tokens = {(t.kind, t.value) for t in fact_tokens("From Monday 3 to Sunday 9 March, 25% off; $40, May 4.")}
    assert tokens >= {
        ("date", "3 march"),
        ("date", "9 march"),
        ("weekday", "monday"),
        ("percent", "25"),
        ("money", "40"),
        ("date", "4 may"),
    }
    assert ("number", "3") not in tokens


def test_the_gate_blocks_an_unbound_fact_in_the_preheader_and_names_it(brief: Brief, brand: BrandKit) -> None:
    draft = EmailDraft(
        subject="Holiday candles, 20% off",
        preheader="Take 20% off every candle, and the sale runs through the end of December.",
        headline="20% off, hand-poured for the holidays",
        body=["Every candle is hand-poured in small batches, and every one burns for about 50 hours."],
        cta_label="Shop the sale",
        cta_url=CTA,
    )
    [result] = [r for r in run_gates(draft, brief, brand) if r.gate_id == "fact_binding"]
    assert result.blocks
    assert result.evidence and "preheader: 'December (without its day)'" in result.evidence[0]


def test_the_shipped_corpus_binds_every_fact() -> None:
    # written by hand as marketers write: the gate must not refuse good copy
    problems = []
    for example in load_corpus():
        for result in run_gates(example.draft, example.brief, example.brand):
            if result.gate_id == "fact_binding" and not result.passed:
                problems.append((example.source, result.evidence))
    assert problems == []


def test_trimming_drops_the_wrong_and_the_repeated_sentences_and_keeps_the_rest(
    brief: Brief, brand: BrandKit
) -> None:
    draft = EmailDraft(
        subject="Holiday candles, 20% off",
        preheader="Take 20% off every candle until Sunday 13 December, hand-poured in small batches.",
        headline="20% off, hand-poured for the holidays",
        body=[
            "Every candle is hand-poured in small batches. The sale runs from Friday 18 December. "
            "Every candle burns for about 50 hours.",
            "Every candle burns for about 50 hours, so one lasts the season. "
            "Orders placed by Friday 18 December arrive before Christmas. We opened in 2009.",
        ],
        cta_label="Shop the sale",
        cta_url=CTA,
    )
    trimmed, dropped = trim_draft(draft, brief, brand)
    assert trimmed.body == [
        "Every candle is hand-poured in small batches. Every candle burns for about 50 hours.",
        "Orders placed by Friday 18 December arrive before Christmas.",
    ]
    assert len(dropped) == 4
    assert "The sale runs from Friday 18 December." in dropped[0] and "does not" in dropped[0]
    assert "so one lasts the season" in dropped[1] and "cut back to its main clause" in dropped[1]
    assert "repeats a fact" in dropped[2]
    assert "'2009'" in dropped[3]
    # what is left passes grounding and binding
    results = {r.gate_id: r for r in run_gates(trimmed, brief, brand)}
    assert results["grounding"].passed and results["fact_binding"].passed
    assert draft.body[0].startswith("Every candle is hand-poured")  # the original is not changed


def test_a_body_that_would_be_left_too_thin_is_not_trimmed(brief: Brief, brand: BrandKit) -> None:
    draft = EmailDraft(
        subject="Holiday candles, 20% off",
        preheader="Take 20% off every candle until Sunday 13 December, hand-poured in small batches.",
        headline="20% off, hand-poured for the holidays",
        body=["The sale runs from Friday 18 December. Light one tonight."],
        cta_label="Shop the sale",
        cta_url=CTA,
    )
    trimmed, dropped = trim_draft(draft, brief, brand)
    assert trimmed is draft and dropped == []
    assert any(r.gate_id == "fact_binding" and r.blocks for r in run_gates(trimmed, brief, brand))


def test_a_run_on_sentence_is_cut_back_to_its_main_clause(brief: Brief, brand: BrandKit) -> None:
    draft = EmailDraft(
        subject="Holiday candles, 20% off",
        preheader="Take 20% off every candle until Sunday 13 December, hand-poured in small batches.",
        headline="Hand-poured for the holidays",
        body=[
            "Every candle is hand-poured in small batches, so it's a good idea to keep a few in a dark, "
            "warm place for longer than you thought. Short ones stay, so they do.",
            "Every candle burns for about 50 hours, which is a lot of time for a candle to burn without "
            "the light coming out of it.",
        ],
        cta_label="Shop the sale",
        cta_url=CTA,
    )
    trimmed, notes = trim_draft(draft, brief, brand)
    # what is left is short, and the opened e-mail must state the offer: it closes with it
    assert trimmed.body == [
        "Every candle is hand-poured in small batches.",
        "Every candle burns for about 50 hours.",
        "20% off all candles. The sale runs until Sunday 13 December.",
    ]
    assert sum("cut back to its main clause" in n for n in notes) == 2
    assert any("'Short ones stay, so they do.': says nothing the brand kit" in n for n in notes)


def test_a_preheader_cut_off_or_wrong_is_written_from_the_brief(brief: Brief, brand: BrandKit) -> None:
    body = ["Every candle is hand-poured in small batches, and the sale runs until Sunday 13 December."]
    for preheader in (
        "Every candle is hand-poured in small batches, so the smell is warm and soft for slow evenings at",
        "The sale runs from Friday 18 December, and every candle is hand-poured in small batches.",
    ):
        draft = EmailDraft(
            "Holiday candles, 20% off", preheader, "20% off, hand-poured", body, "Shop the sale", CTA
        )
        trimmed, notes = trim_draft(draft, brief, brand)
        # the offer and the first fact the body does not state, in the brief's words
        assert (
            trimmed.preheader
            == "20% off all candles. Orders placed by Friday 18 December arrive before Christmas."
        )
        assert notes and "written from the brief" in notes[-1]
    good = "Take 20% off every candle until Sunday 13 December, all hand-poured in small batches."
    draft = EmailDraft("Holiday candles, 20% off", good, "20% off, hand-poured", body, "Shop the sale", CTA)
    assert trim_draft(draft, brief, brand)[0].preheader == good


def test_an_opened_email_that_does_not_state_the_offer_closes_with_it_from_the_brief(
    brief: Brief, brand: BrandKit
) -> None:
    body = [
        "Every candle is hand-poured in small batches, and every one burns for about 50 hours.",
        "Orders placed by Friday 18 December arrive before Christmas.",
    ]
    # the subject and preheader say 20%, but neither shows once the e-mail is opened
    draft = EmailDraft(
        "Holiday candles, 20% off",
        "Take 20% off every candle until Sunday 13 December, all hand-poured in small batches.",
        "Hand-poured for the holidays",
        body,
        "Shop the sale",
        CTA,
    )
    trimmed, notes = trim_draft(draft, brief, brand)
    assert trimmed.body == [*body, "20% off all candles. The sale runs until Sunday 13 December."]
    assert any("did not state the offer" in n for n in notes)
    # stated in the headline or the body, nothing is added
    for stated in (
        replace(draft, headline="20% off hand-poured candles"),
        replace(draft, body=[*body[:1], "Take 20% off."]),
    ):
        assert trim_draft(stated, brief, brand)[0].body == stated.body


def test_the_closing_offer_leaves_out_a_fact_the_inbox_lines_already_say(
    brief: Brief, brand: BrandKit
) -> None:
    body = ["Every candle is hand-poured in small batches, and the sale runs until Sunday 13 December."]
    preheader = "Orders placed by Friday 18 December arrive before Christmas, every candle hand-poured."
    draft = EmailDraft(
        "Holiday candles, 20% off", preheader, "Hand-poured for the holidays", body, "Shop the sale", CTA
    )
    trimmed, _ = trim_draft(draft, brief, brand)
    assert trimmed.preheader == preheader
    assert trimmed.body == [*body, "20% off all candles."]
    results = {r.gate_id: r for r in run_gates(trimmed, brief, brand)}
    assert results["repetition"].passed


def test_a_preheader_composed_for_a_body_that_says_everything_still_fills_the_inbox_line(
    brief: Brief, brand: BrandKit
) -> None:
    body = [
        "Take 20% off every candle until Sunday 13 December; each one burns for about 50 hours.",
        "Orders placed by Friday 18 December arrive before Christmas.",
    ]
    preheader = compose_preheader(brief, body)
    assert preheader == "20% off all candles. Holiday sale on hand-poured candles."
    assert 40 <= len(preheader) <= 110


def test_a_made_up_consequence_is_cut_however_short_the_sentence(brief: Brief, brand: BrandKit) -> None:
    draft = EmailDraft(
        subject="Holiday candles, 20% off",
        preheader="Take 20% off every candle until Sunday 13 December, hand-poured in small batches.",
        headline="Hand-poured for the holidays",
        body=[
            "Every candle burns for about 50 hours, so it takes longer to light than it does to smell. "
            "We pour them, so they last.",
            "Every candle is hand-poured in small batches, which means every single one is from one plant.",
        ],
        cta_label="Shop the sale",
        cta_url=CTA,
    )
    trimmed, notes = trim_draft(draft, brief, brand)
    # a main clause under 30 characters stays whole as a sentence, and goes whole when it hangs on
    # nothing the brand or the brief said
    assert trimmed.body == [
        "Every candle burns for about 50 hours.",
        "Every candle is hand-poured in small batches.",
        "20% off all candles. The sale runs until Sunday 13 December.",
    ]
    assert sum("cut back to its main clause" in n for n in notes) == 2
    assert any("'We pour them, so they last.': says nothing" in n for n in notes)


def test_a_headline_that_says_the_subject_again_is_written_from_the_brief(
    brief: Brief, brand: BrandKit
) -> None:
    body = [
        "Every candle is hand-poured in small batches and burns for about 50 hours. "
        "The sale runs until Sunday 13 December."
    ]
    draft = EmailDraft(
        "Slow evenings, hand-poured candles",
        "Take 20% off every candle until Sunday 13 December, hand-poured in small batches.",
        "Hand-poured candles for slow evenings",
        body,
        "Shop the sale",
        CTA,
    )
    trimmed, notes = trim_draft(draft, brief, brand)
    # the offer heads the opened e-mail, so the body needs no closing offer paragraph
    assert trimmed.headline == "20% off all candles" and trimmed.body == body
    assert notes == [
        "headline 'Hand-poured candles for slow evenings' says the subject again: "
        "written from the brief as '20% off all candles'"
    ]
    # a subject that already states the offer gets the goal as headline
    draft = replace(draft, subject="20% off all candles", headline="20% off all candles!")
    assert trim_draft(draft, brief, brand)[0].headline == "Holiday sale on hand-poured candles"
    # a headline of its own stays when it hangs on the brand or the brief; one that does not is
    # written from the brief
    draft = replace(draft, headline="Soy candles for the holidays")
    assert trim_draft(draft, brief, brand)[0].headline == "Soy candles for the holidays"
    draft = replace(draft, headline="Light one tonight")
    trimmed, notes = trim_draft(draft, brief, brand)
    assert trimmed.headline == "Holiday sale on hand-poured candles"
    assert any("'Light one tonight' says nothing the brand kit or the brief gives" in n for n in notes)


def test_a_run_on_preheader_is_cut_back_or_written_from_the_brief(brief: Brief, brand: BrandKit) -> None:
    body = [
        "Every candle is hand-poured in small batches and burns for about 50 hours. "
        "The sale runs until Sunday 13 December."
    ]
    draft = EmailDraft(
        "Holiday candles, 20% off",
        "Orders placed by Friday 18 December arrive before Christmas, so you can light one for the dog.",
        "Light one tonight",
        body,
        "Shop the sale",
        CTA,
    )
    trimmed, notes = trim_draft(draft, brief, brand)
    assert trimmed.preheader == "Orders placed by Friday 18 December arrive before Christmas."
    assert any("cut back to its main clause" in n for n in notes)
    # a main clause too short for the inbox line: the line is written from the brief
    draft = replace(
        draft, preheader="Every candle we pour burns for ages, so it takes longer to light than to smell."
    )
    trimmed, notes = trim_draft(draft, brief, brand)
    assert trimmed.preheader.startswith("20% off all candles.")
    assert any("says nothing the brand kit or the brief gives: written from the brief" in n for n in notes)
    # an anchored main clause too short for the inbox line: the line is written from the brief too
    draft = replace(draft, preheader="Soy candles for you, so it takes longer to light than to smell.")
    trimmed, notes = trim_draft(draft, brief, brand)
    assert trimmed.preheader.startswith("20% off all candles.")
    assert any("too short to stand alone" in n for n in notes)


@pytest.mark.parametrize(
    "sentence",
    [
        "Order before Friday 18 December, and every candle is yours for about 20% off.",
        "Take up to 20% off every candle until Sunday 13 December.",
        "Save nearly 20% on all candles.",
    ],
)
def test_an_exact_offer_said_as_an_approximate_one_is_unbound(
    sentence: str, brief: Brief, brand: BrandKit
) -> None:
    assert any("(stated exactly in its source)" in f for f in unbound(sentence, brief, brand))


def test_a_hedged_offer_may_be_hedged_and_an_exact_one_said_exactly(brief: Brief, brand: BrandKit) -> None:
    assert unbound("Take 20% off every candle until Sunday 13 December.", brief, brand) == []
    hedging = brief.model_copy(update={"offer": "Up to 30% off all candles"})
    assert unbound("Save up to 30% on every candle this week.", hedging, brand) == []
