"""The sentence rule shared by the decoder, the parser and the gates."""

from __future__ import annotations

import pytest

from genai.sentences import ends_sentence, finished, sentences, trim_unfinished, unfinished_sentences


@pytest.mark.parametrize(
    "text",
    ["Light one tonight.", "Ready?", "It is worth waiting for.", 'She said "soon."', "20% off (today)."],
)
def test_finished_sentences(text: str) -> None:
    assert ends_sentence(text) and finished(text)


@pytest.mark.parametrize(
    "text",
    [
        "Light one every evening, and.",
        "The sale runs until.",
        "Every.",
        "Get yours before the.",
        "and then...",
    ],
)
def test_a_stop_put_where_the_text_was_cut_is_no_finished_sentence(text: str) -> None:
    assert not finished(text)


def test_sentences_split_after_closing_quotes_and_keep_them() -> None:
    assert sentences('We said "soon." It is here! Light one.') == [
        'We said "soon."',
        "It is here!",
        "Light one.",
    ]


def test_unfinished_sentences_are_found_in_the_middle_too() -> None:
    assert unfinished_sentences("The sale runs until. Order by Friday.") == ["The sale runs until."]


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        ("Every candle is 20% off. The sale runs until.", "Every candle is 20% off."),
        ("Every candle is 20% off. Every.", "Every candle is 20% off."),
        ("Every candle is 20% off. Stop by.", "Every candle is 20% off. Stop by."),
        ("The sale runs until.", "The sale runs until."),  # nothing finished to fall back on
    ],
)
def test_trailing_cut_sentences_are_trimmed_when_a_finished_one_precedes(written: str, kept: str) -> None:
    assert trim_unfinished(written) == kept
