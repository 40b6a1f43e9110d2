"""Parsing model output into a draft: JSON however it is wrapped, labelled lines, and precise errors."""

from __future__ import annotations

import json

import pytest

from genai.errors import ParseError
from genai.parse import parse_draft

CTA = "https://shop.example/holiday"
DRAFT = {
    "subject": "Warm candles for cold nights",
    "preheader": "Hand-poured soy candles, 20% off this week only, while the season lasts.",
    "headline": "Light up the holidays",
    "body": ["Every candle is poured by hand in small batches.", "Take 20% off any candle until Sunday."],
    "cta_label": "Shop candles",
}


def test_a_json_object_becomes_a_draft_with_the_brief_cta_url() -> None:
    draft = parse_draft(json.dumps(DRAFT), CTA)
    assert draft.subject == DRAFT["subject"]
    assert draft.preheader == DRAFT["preheader"]
    assert draft.headline == DRAFT["headline"]
    assert draft.body == DRAFT["body"]
    assert draft.cta_label == DRAFT["cta_label"]
    assert draft.cta_url == CTA


def test_a_cta_url_written_by_the_model_is_ignored() -> None:
    draft = parse_draft(json.dumps({**DRAFT, "cta_url": "https://evil.example/"}), CTA)
    assert draft.cta_url == CTA


@pytest.mark.parametrize(
    "wrapped",
    [
        "```json\n{}\n```",
        "```\n{}\n```",
        "Here is your email:\n\n```json\n{}\n```\nLet me know if you want changes.",
        "Sure! Here it is: {} Hope that helps.",
    ],
)
def test_json_inside_code_fences_or_after_chatter_is_found(wrapped: str) -> None:
    draft = parse_draft(wrapped.replace("{}", json.dumps(DRAFT, indent=2)), CTA)
    assert draft.subject == DRAFT["subject"] and draft.body == DRAFT["body"]


def test_labelled_lines_are_read_when_there_is_no_json() -> None:
    text = (
        "**Subject:** Warm candles for cold nights\n"
        "Preview text: Hand-poured soy candles, 20% off this week.\n"
        "Headline: Light up the holidays\n"
        "Body:\n"
        "Every candle is poured by hand.\n"
        "\n"
        "Take 20% off: any candle, until Sunday.\n"
        "CTA: Shop candles\n"
    )
    draft = parse_draft(text, CTA)
    assert draft.subject == "Warm candles for cold nights"
    assert draft.preheader == "Hand-poured soy candles, 20% off this week."
    assert draft.headline == "Light up the holidays"
    assert draft.body == ["Every candle is poured by hand.", "Take 20% off: any candle, until Sunday."]
    assert draft.cta_label == "Shop candles"
    assert draft.cta_url == CTA


@pytest.mark.parametrize("missing", ["subject", "preheader", "headline", "body", "cta_label"])
def test_a_missing_key_is_a_parse_error_naming_the_field(missing: str) -> None:
    partial = {k: v for k, v in DRAFT.items() if k != missing}
    with pytest.raises(ParseError) as info:
        parse_draft(json.dumps(partial), CTA)
    assert info.value.field == missing


@pytest.mark.parametrize("text", ["", "I cannot help with that.", '```json\n{"subject": "cut off', "[1, 2]"])
def test_output_that_is_neither_json_nor_labelled_lines_is_a_parse_error(text: str) -> None:
    with pytest.raises(ParseError) as info:
        parse_draft(text, CTA)
    assert info.value.field == "output"


def test_a_body_given_as_a_string_is_split_into_paragraphs() -> None:
    body = "First paragraph here.\n\nSecond paragraph\n\n\n  Third one.  "
    draft = parse_draft(json.dumps({**DRAFT, "body": body}), CTA)
    assert draft.body == ["First paragraph here.", "Second paragraph", "Third one."]


def test_whitespace_inside_fields_is_normalised() -> None:
    messy = {
        **DRAFT,
        "subject": "  Warm \n candles\tfor   cold nights ",
        "body": ["  Poured   by\nhand. ", "Take\t20% off."],
    }
    draft = parse_draft(json.dumps(messy), CTA)
    assert draft.subject == "Warm candles for cold nights"
    assert draft.body == ["Poured by hand.", "Take 20% off."]


@pytest.mark.parametrize(
    ("field", "value"),
    [("subject", 42), ("cta_label", ["Shop"]), ("body", [1, 2]), ("body", {"p": "x"})],
)
def test_a_field_of_the_wrong_type_is_a_parse_error_naming_it(field: str, value: object) -> None:
    with pytest.raises(ParseError) as info:
        parse_draft(json.dumps({**DRAFT, field: value}), CTA)
    assert info.value.field == field


@pytest.mark.parametrize("label", ["Subject: ", "**Subject**: ", "**Subject:** ", "  Subject line : "])
def test_common_label_styles_give_the_bare_value(label: str) -> None:
    text = label + "Warm candles\nPreheader: Soft light\nHeadline: Glow\nBody: One.\nCTA label: Shop"
    draft = parse_draft(text, CTA)
    assert draft.subject == "Warm candles"
    assert draft.cta_label == "Shop"


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        # a decoder out of room closed the string mid-sentence: the finished sentences stay
        ("Every candle is 20% off. Order before the end of .", "Every candle is 20% off."),
        ("Every candle is 20% off! It comes with a. . .", "Every candle is 20% off!"),
        (
            "Hand-poured in small batches. Lit by you. And then the",
            "Hand-poured in small batches. Lit by you.",
        ),
        # finished text, and text with no finished sentence to fall back on, stay as written
        ("Every candle is 20% off. Treat yourself.", "Every candle is 20% off. Treat yourself."),
        ("Every candle comes with a", "Every candle comes with a"),
    ],
)
def test_unfinished_sentences_at_the_end_of_a_sentence_field_are_dropped(written: str, kept: str) -> None:
    draft = parse_draft(
        json.dumps(dict(DRAFT, preheader=written, body=[written, "A second paragraph."])), CTA
    )
    assert draft.preheader == kept
    assert draft.body[0] == kept


def test_a_paragraph_after_one_cut_off_loses_the_sentence_it_carried_on() -> None:
    body = [
        "Every candle is hand-poured in small batches. Each one is made in Hudson,",
        "New York, and we light every batch once. Orders placed by Friday arrive before Christmas.",
        "The sale runs until Sunday. Come and see us.",
    ]
    draft = parse_draft(json.dumps(dict(DRAFT, body=body)), CTA)
    assert draft.body == [
        "Every candle is hand-poured in small batches.",
        "Orders placed by Friday arrive before Christmas.",
        "The sale runs until Sunday. Come and see us.",
    ]
