"""The quality gates: a clean draft passes all of them and each gate catches its own faults."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from genai.brand import BrandKit, Product
from genai.brief import Brief
from genai.campaign import GateResult
from genai.draft import EmailDraft
from genai.gates import GATES, blocking, run_gates, warnings

CTA = "https://shop.lumencandles.com/holiday?utm_source=email&utm_campaign=dec"
LONG_SUBJECT = (
    "Our winter candles are poured by hand in small batches and scented with cedar, amber and smoke"
)


def text_of(size: int) -> str:
    """Varied words cut to exactly `size` characters, never ending in a space."""
    return (LONG_SUBJECT + " " + LONG_SUBJECT)[: size - 1] + "s"


@pytest.fixture
def brand() -> BrandKit:
    return BrandKit(
        name="Lumen Candles",
        description="Candles of 100% soy wax, hand-poured in small batches.",
        website="https://www.lumencandles.com",
        allowed_domains=["lumencandles.com"],
        emails=["hello@lumencandles.com"],
        phones=["+1 (555) 010-2030"],
        products=[Product(name="Amber Glow", price="24.00 USD")],
    )


@pytest.fixture
def brief() -> Brief:
    return Brief(
        goal="Holiday sale",
        offer="20% off all candles",
        cta_url=CTA,
        segments=[{"name": "all"}],
        facts=["The sale runs until Sunday."],
    )


@pytest.fixture
def draft() -> EmailDraft:
    return EmailDraft(
        subject="Your holiday glow: 20% off every candle",
        preheader="Warm up the season with hand-poured candles, now 20% off until Sunday.",
        headline="Hand-poured warmth for the holidays",
        body=[
            "Our Amber Glow candle, usually $24, is made from 100% soy wax and burns for fifty hours.",
            "Save 20% on every candle this week, and find care tips at www.lumencandles.com/care.",
            "Questions about a gift? Write to hello@lumencandles.com or call 555-010-2030.",
        ],
        cta_label="Shop the sale",
        cta_url=CTA,
    )


def result(results: list[GateResult], gate_id: str) -> GateResult:
    return next(r for r in results if r.gate_id == gate_id)


def failure(draft: EmailDraft, brief: Brief, brand: BrandKit, gate_id: str) -> GateResult:
    found = result(run_gates(draft, brief, brand), gate_id)
    assert not found.passed, f"{gate_id} passed"
    return found


def test_good_draft_passes_every_gate(draft: EmailDraft, brief: Brief, brand: BrandKit) -> None:
    results = run_gates(draft, brief, brand)
    assert [r.gate_id for r in results] == [g.id for g in GATES]
    assert [(r.gate_id, r.message, r.evidence) for r in results if not r.passed] == []
    assert blocking(results) == [] and warnings(results) == []


def test_registry_lists_every_gate_once_with_severity_and_description() -> None:
    ids = [g.id for g in GATES]
    assert ids == [
        "subject_length",
        "preheader_length",
        "body_length",
        "all_caps",
        "excess_punctuation",
        "empty_fields",
        "spam_phrases",
        "merge_tags",
        "links",
        "contact_details",
        "repetition",
        "exemplar_echo",
        "prompt_echo",
        "offer_consistency",
        "grounding",
        "audience_label",
        "brief_rules",
        "fact_binding",
        "anchoring",
    ]
    assert all(g.severity in ("block", "warn") and g.description for g in GATES)


BODY = [
    "Our candles are hand-poured in small batches from soy wax.",
    "Each one burns slowly and fills the room with a gentle scent.",
]

# (changes to the good draft, gate that must fail, severity it gives, text the evidence shows)
BAD_DRAFTS: dict[str, tuple[dict[str, Any], str, str, str]] = {
    "subject_over_100_chars_blocks": (
        {"subject": text_of(104)},
        "subject_length",
        "block",
        "104 characters",
    ),
    "short_preheader_warns": ({"preheader": "Candles!"}, "preheader_length", "warn", "Candles!"),
    "long_preheader_warns": ({"preheader": "x" * 111}, "preheader_length", "warn", "111 characters"),
    "all_caps_subject_blocks": (
        {"subject": "BIGGEST CANDLE SALE EVER STARTS TODAY"},
        "all_caps",
        "block",
        "BIGGEST CANDLE SALE",
    ),
    "shouting_body_warns": (
        {"body": ["OUR CANDLES ARE HAND-POURED IN SMALL BATCHES FROM SOY WAX.", BODY[1]]},
        "all_caps",
        "warn",
        "BATCHES",
    ),
    "three_exclamation_marks_block": (
        {"headline": "Warmth for the holidays!!!"},
        "excess_punctuation",
        "block",
        "holidays!!!",
    ),
    "doubled_question_marks_warn": (
        {"body": ["Need a gift??", *BODY]},
        "excess_punctuation",
        "warn",
        "gift??",
    ),
    "two_exclamation_marks_in_subject_warn": (
        {"subject": "New scents! Holiday glow! 20% off"},
        "excess_punctuation",
        "warn",
        "New scents! Holiday glow!",
    ),
    "one_spam_phrase_warns": ({"cta_label": "Click here"}, "spam_phrases", "warn", "Click here"),
    "three_spam_phrases_block": (
        {"body": ["Act now: this risk-free deal is GUARANTEED to warm your home.", *BODY]},
        "spam_phrases",
        "block",
        "risk-free",
    ),
    "half_open_merge_tag_blocks": ({"headline": "Hello *|FNAME, warm up"}, "merge_tags", "block", "*|FNAME"),
    "half_closed_merge_tag_blocks": (
        {"headline": "Hello FNAME|*, warm up"},
        "merge_tags",
        "block",
        "FNAME|*",
    ),
    "unknown_merge_tag_blocks": ({"headline": "Hello *|NICKNAME|*"}, "merge_tags", "block", "*|NICKNAME|*"),
    "jinja_placeholder_blocks": (
        {"headline": "Hello {{first_name}}"},
        "merge_tags",
        "block",
        "{{first_name}}",
    ),
    "bracket_placeholder_blocks": ({"headline": "Hello [First Name]"}, "merge_tags", "block", "[First Name]"),
    "unclosed_if_blocks": (
        {"greeting": "Hi *|IF:FNAME|**|FNAME|*,"},
        "merge_tags",
        "block",
        "*|IF:FNAME|*",
    ),
    "stray_end_if_blocks": ({"greeting": "Hi there*|END:IF|*,"}, "merge_tags", "block", "*|END:IF|*"),
    "foreign_link_blocks": (
        {"body": ["Claim your gift at https://evil.example/claim today.", *BODY]},
        "links",
        "block",
        "https://evil.example/claim",
    ),
    "bare_foreign_domain_blocks": (
        {"body": ["Find more at evil.example/path for the season.", *BODY]},
        "links",
        "block",
        "evil.example/path",
    ),
    "lookalike_domain_blocks": (
        {"body": ["Shop at https://lumencandles.com.evil.example/sale now.", *BODY]},
        "links",
        "block",
        "lumencandles.com.evil.example",
    ),
    "foreign_cta_url_blocks": ({"cta_url": "https://evil.example/sale"}, "links", "block", "evil.example"),
    "unknown_email_blocks": (
        {"body": ["Reply to deals@lumen-offers.example for your code.", *BODY]},
        "contact_details",
        "block",
        "deals@lumen-offers.example",
    ),
    "unknown_phone_blocks": (
        {"body": ["Call us on (555) 987-6543 to order by phone.", *BODY]},
        "contact_details",
        "block",
        "(555) 987-6543",
    ),
    "word_loop_blocks": (
        {"body": ["Our candles glow glow glow glow in every room.", *BODY]},
        "repetition",
        "block",
        "glow",
    ),
    "phrase_loop_blocks": (
        {"body": ["Shop now shop now shop now for the holidays.", *BODY]},
        "repetition",
        "block",
        "shop now",
    ),
    "repeated_sentence_blocks": (
        {"body": [BODY[0], f"Something new. {BODY[0]}"]},
        "repetition",
        "block",
        BODY[0],
    ),
    "body_repeating_the_preheader_warns": (
        {"body": ["Warm up the season with hand-poured candles, now 20% off until Sunday!", *BODY]},
        "repetition",
        "warn",
        "body[0]: warm up the season with hand poured candles now 20 off until sunday",
    ),
    "body_repeating_the_subject_warns": (
        {"body": [*BODY, "Your holiday glow: 20% off every candle."]},
        "repetition",
        "warn",
        "body[2]: your holiday glow 20 off every candle",
    ),
    "low_variety_text_blocks": (
        {"body": ["candles and more candles and " * 8, "the candles and the wax and the candles " * 3]},
        "repetition",
        "block",
        "distinct",
    ),
    "blank_subject_blocks": ({"subject": "   "}, "empty_fields", "block", "subject"),
    "empty_paragraph_blocks": ({"body": [*BODY, ""]}, "empty_fields", "block", "body[2]"),
    "no_body_blocks": ({"body": []}, "empty_fields", "block", "body"),
    "preheader_cut_off_blocks": (
        {"preheader": "Warm up the season with hand-poured candles. Hurry up and get a"},
        "empty_fields",
        "block",
        "preheader: ...",
    ),
    "paragraph_cut_off_blocks": (
        {"body": [*BODY, "Order now and get 20% off all of our"]},
        "empty_fields",
        "block",
        "body[2]: ...",
    ),
    "bike_shop_example_cta_blocks": (
        {"cta_label": "Book a tune-up"},
        "exemplar_echo",
        "block",
        "cta_label: book a tune up (from the Riverbend Cycles example)",
    ),
    "tea_example_subject_blocks": (
        {"subject": "Spring is here: 20% off every candle"},
        "exemplar_echo",
        "block",
        "subject: spring is here",
    ),
    "invented_discount_blocks": (
        {"headline": "Now 50% off every candle"},
        "offer_consistency",
        "block",
        "50% off",
    ),
    "invented_price_blocks": (
        {"body": ["The new Cedar candle is only $9.99 this week.", *BODY]},
        "offer_consistency",
        "block",
        "$9.99",
    ),
    "invented_free_shipping_blocks": (
        {"preheader": "Hand-poured candles with free shipping on every order."},
        "offer_consistency",
        "block",
        "free shipping",
    ),
}


@pytest.mark.parametrize(
    ("changes", "gate_id", "severity", "shown"), BAD_DRAFTS.values(), ids=BAD_DRAFTS.keys()
)
def test_gate_catches_bad_draft(
    draft: EmailDraft,
    brief: Brief,
    brand: BrandKit,
    changes: dict[str, Any],
    gate_id: str,
    severity: str,
    shown: str,
) -> None:
    found = failure(replace(draft, **changes), brief, brand, gate_id)
    assert found.severity == severity
    assert found.message
    assert any(shown in e for e in found.evidence), found.evidence


@pytest.mark.parametrize(("size", "severity"), [(60, None), (61, "warn"), (100, "warn"), (101, "block")])
def test_subject_length_limits(
    draft: EmailDraft, brief: Brief, brand: BrandKit, size: int, severity: str | None
) -> None:
    subject = text_of(size)
    found = result(run_gates(replace(draft, subject=subject), brief, brand), "subject_length")
    assert found.passed is (severity is None)
    if severity:
        assert found.severity == severity and f"{size} characters" in found.evidence


def test_brief_without_discount_warns_when_draft_omits_it(
    draft: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    found = failure(
        replace(draft, subject="Your holiday glow", preheader="x" * 50, body=BODY),
        brief,
        brand,
        "offer_consistency",
    )
    assert found.severity == "warn" and found.evidence == ["20%"]


def test_discount_without_offer_in_brief_blocks(draft: EmailDraft, brand: BrandKit) -> None:
    no_offer = Brief(goal="Winter launch", cta_url=CTA, segments=[{"name": "all"}])
    found = failure(
        replace(draft, body=["Take $10 off your first candle.", *BODY]), no_offer, brand, "offer_consistency"
    )
    assert found.severity == "block" and any("$10 off" in e for e in found.evidence)


def test_offer_gate_accepts_brief_discount_and_product_price(
    draft: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    body = ["Amber Glow is $24.00, and 20% off this week.", "Made from 100% soy wax, poured by hand."]
    assert result(run_gates(replace(draft, body=body), brief, brand), "offer_consistency").passed


def test_free_shipping_allowed_when_brief_offers_it(draft: EmailDraft, brand: BrandKit) -> None:
    shipping = Brief(
        goal="Holiday sale", offer="Free shipping on all orders", cta_url=CTA, segments=[{"name": "all"}]
    )
    body = ["Every candle ships free this week, straight to your door.", *BODY]
    found = result(
        run_gates(
            replace(draft, subject="Free shipping on candles", preheader="x" * 50, body=body), shipping, brand
        ),
        "offer_consistency",
    )
    assert found.passed, found.message


def test_cta_url_with_query_string_on_foreign_host_is_allowed(draft: EmailDraft, brand: BrandKit) -> None:
    tracked = "https://click.mailer.example/r?id=42&to=candles"
    brief = Brief(goal="Holiday sale", offer="20% off", cta_url=tracked, segments=[{"name": "all"}])
    body = [f"Pick your scent at {tracked} before Sunday.", *BODY]
    results = run_gates(replace(draft, cta_url=tracked, body=body), brief, brand)
    assert result(results, "links").passed


def test_other_url_on_cta_host_is_still_blocked(draft: EmailDraft, brand: BrandKit) -> None:
    tracked = "https://click.mailer.example/r?id=42"
    brief = Brief(goal="Holiday sale", offer="20% off", cta_url=tracked, segments=[{"name": "all"}])
    body = ["Pick your scent at https://click.mailer.example/r?id=43 today.", *BODY]
    found = failure(replace(draft, cta_url=tracked, body=body), brief, brand, "links")
    assert found.evidence == ["body[0]: https://click.mailer.example/r?id=43"]


def test_subdomain_of_allowed_domain_is_allowed(draft: EmailDraft, brief: Brief, brand: BrandKit) -> None:
    body = ["Read the guide at https://blog.lumencandles.com/winter-guide.", *BODY]
    assert result(run_gates(replace(draft, body=body), brief, brand), "links").passed


def test_brand_website_host_counts_as_allowed(draft: EmailDraft, brief: Brief) -> None:
    site_only = BrandKit(
        name="Lumen", website="https://lumencandles.co.uk", emails=["hello@lumencandles.com"]
    )
    body = ["See the range at lumencandles.co.uk/range this week.", *BODY]
    assert result(run_gates(replace(draft, body=body), brief, site_only), "links").passed


def test_link_with_brand_domain_as_user_info_is_blocked(
    draft: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    body = ["Go to https://lumencandles.com@evil.example/x now.", *BODY]
    assert "evil.example" in failure(replace(draft, body=body), brief, brand, "links").message


def test_file_names_and_abbreviations_are_not_links(draft: EmailDraft, brief: Brief, brand: BrandKit) -> None:
    body = ["Download menu.pdf, e.g. for gifts, at 9 a.m. on Friday.", *BODY]
    assert result(run_gates(replace(draft, body=body), brief, brand), "links").passed


@pytest.mark.parametrize("phone", ["+1 555 010 2030", "(555) 010-2030", "555.010.2030", "5550102030"])
def test_brand_phone_in_another_format_is_allowed(
    draft: EmailDraft, brief: Brief, brand: BrandKit, phone: str
) -> None:
    body = [f"Call us on {phone} for gift help.", *BODY]
    assert result(run_gates(replace(draft, body=body), brief, brand), "contact_details").passed


def test_brand_email_in_other_case_is_allowed(draft: EmailDraft, brief: Brief, brand: BrandKit) -> None:
    body = ["Write to Hello@LumenCandles.com for gift help.", *BODY]
    assert result(run_gates(replace(draft, body=body), brief, brand), "contact_details").passed


def test_dates_and_prices_are_not_phone_numbers(draft: EmailDraft, brief: Brief, brand: BrandKit) -> None:
    body = ["Order by 2024-12-20 or 12/20/2024; Amber Glow is $24.00.", *BODY]
    assert result(run_gates(replace(draft, body=body), brief, brand), "contact_details").passed


def test_known_conditional_merge_tags_pass(draft: EmailDraft, brief: Brief, brand: BrandKit) -> None:
    headline = "*|IFNOT:FNAME|*Warmth for you*|ELSE:|*Warmth for *|FNAME|**|END:IF|*"
    assert result(run_gates(replace(draft, headline=headline), brief, brand), "merge_tags").passed


def test_acronyms_and_brand_capitals_are_not_shouting(
    draft: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    loud_brand = replace(brand, name="LUMEN CANDLE CO")
    subject = "LUMEN CANDLE FAQ: USA VIP"
    assert result(run_gates(replace(draft, subject=subject), brief, loud_brand), "all_caps").passed


def test_blocking_and_warnings_split_failures(draft: EmailDraft, brief: Brief, brand: BrandKit) -> None:
    bad = replace(draft, subject=text_of(120), cta_label="Click here")
    results = run_gates(bad, brief, brand)
    assert [r.gate_id for r in blocking(results)] == ["subject_length"]
    assert [r.gate_id for r in warnings(results)] == ["spam_phrases"]
    assert all(r.blocks for r in blocking(results)) and not any(r.blocks for r in warnings(results))


@pytest.mark.parametrize(
    ("paragraph", "warns"),
    [
        ("Warm up the season with hand-poured wax.", False),  # 7 words of the preheader's 13
        ("Warm up the season with hand-poured candles today.", True),  # 8 words
        ("Your holiday glow lasts all winter.", False),  # 3 of the subject's 7 words
    ],
)
def test_a_body_echoing_the_inbox_lines_warns_from_eight_words(
    draft: EmailDraft, brief: Brief, brand: BrandKit, paragraph: str, warns: bool
) -> None:
    found = result(run_gates(replace(draft, body=[*BODY, paragraph]), brief, brand), "repetition")
    assert found.passed is not warns
    if warns:
        assert found.severity == "warn" and "repeats the preheader" in found.message


def test_an_unfinished_last_word_is_judged_in_english_only(
    draft: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    cut = replace(draft, headline="Warm light for all of our")
    english = brief.model_copy(update={"language": "en-GB"})
    german = brief.model_copy(update={"language": "de"})
    assert not result(run_gates(cut, english, brand), "empty_fields").passed
    assert result(run_gates(cut, german, brand), "empty_fields").passed
    asked = replace(
        draft, headline="Which scent are you?", body=[*BODY, "Which of the three will you choose?"]
    )
    assert result(run_gates(asked, brief, brand), "empty_fields").passed


def test_a_paragraph_without_a_stop_blocks_in_any_language(
    draft: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    german = brief.model_copy(update={"language": "de"})
    cut = replace(draft, body=[*BODY, "Jetzt bestellen und 20% auf alle unsere"])
    found = result(run_gates(cut, german, brand), "empty_fields")
    assert found.blocks and found.evidence == ["body[2]: ...tellen und 20% auf alle unsere"]


def test_a_sentence_that_ends_on_a_preposition_and_a_stop_is_finished(
    draft: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    done = replace(draft, body=[*BODY, "It is the scent our regulars keep asking for."])
    assert result(run_gates(done, brief, brand), "empty_fields").passed


def test_an_examples_words_are_fine_where_the_brief_is_about_them(draft: EmailDraft, brand: BrandKit) -> None:
    bikes = Brief(
        goal="Autumn tune-up reminder", offer="20% off all candles", cta_url=CTA, segments=[{"name": "all"}]
    )
    echo = replace(draft, cta_label="Book a tune-up")
    assert result(run_gates(echo, bikes, brand), "exemplar_echo").passed
    # shared everyday words are no echo: "your first order this week" is in the tea example too
    plain = replace(draft, body=[*BODY, "Take 20% off your first order this week."])
    assert result(run_gates(plain, bikes, brand), "exemplar_echo").passed


@pytest.mark.parametrize(
    "ending", ["and then...", "take 20% off $.", "the best candles . .", "for you\u2026"]
)
def test_text_that_trails_off_is_not_a_finished_sentence(
    ending: str, draft: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    cut = replace(draft, body=[*BODY, f"Warm light for long evenings, {ending}"])
    assert result(run_gates(cut, brief, brand), "empty_fields").blocks


def test_a_stop_after_an_article_is_still_a_cut(draft: EmailDraft, brief: Brief, brand: BrandKit) -> None:
    cut = replace(draft, body=[*BODY, "Hurry up and get a."])
    assert result(run_gates(cut, brief, brand), "empty_fields").blocks


@pytest.mark.parametrize(
    "cut",
    [
        "Light one every evening, and.",
        "The sale runs until.",
        "Every.",
        "Each candle is poured by the.",
        "It burns longer than.",
    ],
)
def test_a_stop_after_a_word_no_sentence_ends_on_is_a_cut_anywhere_in_a_paragraph(
    cut: str, draft: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    at_the_end = replace(draft, body=[*BODY, f"Warm light for long evenings. {cut}"])
    found = result(run_gates(at_the_end, brief, brand), "empty_fields")
    assert found.blocks and found.evidence == [f"body[2]: ...{cut[-30:]}"]
    in_the_middle = replace(draft, body=[*BODY, f"{cut} Order by Friday for Christmas."])
    assert result(run_gates(in_the_middle, brief, brand), "empty_fields").blocks
    preheader = replace(draft, preheader=f"Our winter candles are here. {cut}")
    assert result(run_gates(preheader, brief, brand), "empty_fields").blocks


@pytest.mark.parametrize(
    "ending", ["Stop by.", "It is worth waiting for.", "Come in.", "Sign up.", "Try this.", "Enjoy."]
)
def test_a_sentence_may_end_on_a_word_that_can_close_it(
    ending: str, draft: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    done = replace(draft, body=[*BODY, f"Warm light for long evenings. {ending}"])
    assert result(run_gates(done, brief, brand), "empty_fields").passed


def test_a_paragraph_that_carries_on_a_cut_sentence_blocks(
    draft: EmailDraft, brief: Brief, brand: BrandKit
) -> None:
    carried = replace(draft, body=[*BODY, "the 20% off candle you have been waiting for. Order by Friday."])
    found = result(run_gates(carried, brief, brand), "empty_fields")
    assert found.blocks and found.evidence == ["body[2]: the 20% off candle you have be..."]
    opening = replace(draft, body=[*BODY, '"Worth every minute," one reader wrote. Order by Friday.'])
    assert result(run_gates(opening, brief, brand), "empty_fields").passed
