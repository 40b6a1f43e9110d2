"""Preference pairs and edit pairs exported from feedback on generated variants."""

from __future__ import annotations

import pandas as pd
import pytest

from feedback.preferences import edit_pairs, preference_pairs
from genai.errors import InvalidInputError

T0 = pd.Timestamp("2024-05-01", tz="UTC")


def decisions(rows: list[tuple[str, str, str | None, str, int]]) -> pd.DataFrame:
    """Decisions from (request, variant, text, decision, minute) tuples; the prompt is 'brief <request>'."""
    return pd.DataFrame(
        {
            "request_id": [r[0] for r in rows],
            "prompt": [f"brief {r[0]}" for r in rows],
            "variant_id": [r[1] for r in rows],
            "text": [r[2] for r in rows],
            "decision": [r[3] for r in rows],
            "event_time": [T0 + pd.Timedelta(minutes=r[4]) for r in rows],
        }
    )


def test_pairs_every_accepted_variant_with_every_rejected_one_of_the_same_request() -> None:
    frame = decisions(
        [
            ("r1", "a", "Spring sale", "accept", 1),
            ("r1", "b", "Buy now!!!", "reject", 2),
            ("r1", "c", "Fresh picks", "accept", 3),
            ("r1", "d", "Hello", "rating", 4),
            ("r2", "e", "Only accepted", "accept", 1),
            ("r3", "f", "Only rejected", "reject", 1),
        ]
    )
    out = preference_pairs(frame)
    assert list(out.columns) == [
        "prompt",
        "chosen",
        "rejected",
        "request_id",
        "chosen_variant_id",
        "rejected_variant_id",
    ]
    assert out[["prompt", "chosen", "rejected"]].values.tolist() == [
        ["brief r1", "Spring sale", "Buy now!!!"],
        ["brief r1", "Fresh picks", "Buy now!!!"],
    ]


def test_a_variants_latest_decision_counts_whatever_the_row_order() -> None:
    frame = decisions(
        [
            ("r1", "a", "First", "accept", 5),
            ("r1", "a", "First", "reject", 1),
            ("r1", "b", "Second", "accept", 2),
            ("r1", "b", "Second", "reject", 9),
        ]
    )
    out = preference_pairs(frame)
    assert out[["chosen_variant_id", "rejected_variant_id"]].values.tolist() == [["a", "b"]]


def test_pairs_with_equal_texts_or_missing_text_are_dropped() -> None:
    frame = decisions(
        [
            ("r1", "a", "Same", "accept", 1),
            ("r1", "b", "Same", "reject", 2),
            ("r1", "c", None, "reject", 3),
        ]
    )
    assert preference_pairs(frame).empty


def test_missing_input_column_is_named() -> None:
    with pytest.raises(InvalidInputError) as err:
        preference_pairs(decisions([("r1", "a", "x", "accept", 1)]).drop(columns="decision"))
    assert err.value.field == "requests.decision"


def test_edit_pairs_keep_real_changes_once_each() -> None:
    edits = pd.DataFrame(
        {
            "request_id": ["r1", "r1", "r1", "r1", "r2"],
            "prompt": ["p1", "p1", "p1", "p1", "p2"],
            "variant_id": ["a", "a", "a", "b", "c"],
            "text": ["Old subject", "Old subject", "Old subject", "Keep", "Orig"],
            "edited_text": ["New subject", "New subject", "  ", "Keep", "Better"],
            "event_time": [T0, T0 + pd.Timedelta(1, "h"), T0, T0, T0],
        }
    )
    out = edit_pairs(edits)
    assert list(out.columns) == ["prompt", "edited", "original", "request_id", "variant_id"]
    assert out[["prompt", "edited", "original"]].values.tolist() == [
        ["p1", "New subject", "Old subject"],
        ["p2", "Better", "Orig"],
    ]


def test_edit_pairs_missing_column_is_named() -> None:
    with pytest.raises(InvalidInputError) as err:
        edit_pairs(pd.DataFrame({"request_id": [], "prompt": [], "variant_id": [], "text": []}))
    assert err.value.field == "edits.edited_text"
