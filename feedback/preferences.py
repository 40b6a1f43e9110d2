"""Preference-tuning data from marketer feedback: (prompt, chosen, rejected) and (prompt, edited) pairs.

Both functions take flat frames that the database layer assembles; the free text in them has
already been scrubbed of e-mail addresses and phone numbers when it was stored.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from feedback.errors import InvalidInputError

__all__ = ["EDIT_COLUMNS", "PREFERENCE_COLUMNS", "edit_pairs", "preference_pairs"]

# Columns each input needs; `event_time` is optional in both and orders decisions and edits.
PREFERENCE_COLUMNS = ("request_id", "prompt", "variant_id", "text", "decision")
EDIT_COLUMNS = ("request_id", "prompt", "variant_id", "text", "edited_text")


def preference_pairs(requests: pd.DataFrame) -> pd.DataFrame:
    """Every (accepted, rejected) pair of variants within each generation request.

    ``requests`` has one row per decision on a variant: ``request_id``, ``prompt`` (the text the
    variants were generated from), ``variant_id``, ``text`` (the variant as shown) and
    ``decision`` (``accept`` or ``reject``; other values are ignored), and optionally
    ``event_time``. A variant's latest decision counts (by ``event_time``, then row order), so a
    reject followed by an accept is an accept. Requests without both an accepted and a rejected
    variant give no pair, nor do variants without text or pairs whose two texts are equal.

    Returns columns ``prompt, chosen, rejected, request_id, chosen_variant_id,
    rejected_variant_id``, sorted by request and variant ids.
    """
    frame = _latest(_checked(requests, PREFERENCE_COLUMNS, "requests"), ["request_id", "variant_id"])
    frame = frame[frame["decision"].isin(["accept", "reject"]) & frame["text"].notna()]
    chosen = frame[frame["decision"] == "accept"]
    rejected = frame[frame["decision"] == "reject"]
    pairs = chosen.merge(rejected, on="request_id", suffixes=("_chosen", "_rejected"))
    pairs = pairs[pairs["text_chosen"] != pairs["text_rejected"]]
    out = pd.DataFrame(
        {
            "prompt": pairs["prompt_chosen"],
            "chosen": pairs["text_chosen"],
            "rejected": pairs["text_rejected"],
            "request_id": pairs["request_id"],
            "chosen_variant_id": pairs["variant_id_chosen"],
            "rejected_variant_id": pairs["variant_id_rejected"],
        }
    )
    return out.sort_values(
        ["request_id", "chosen_variant_id", "rejected_variant_id"], kind="stable", ignore_index=True
    )


def edit_pairs(edits: pd.DataFrame) -> pd.DataFrame:
    """(prompt, edited) pairs from marketers' edits, with the variant text they started from.

    ``edits`` has one row per edit: ``request_id``, ``prompt``, ``variant_id``, ``text`` (the
    variant as generated) and ``edited_text``, and optionally ``event_time``. Edits that are empty
    or leave the text unchanged are dropped, and so are repeats of the same edited text for a
    variant.

    Returns columns ``prompt, edited, original, request_id, variant_id``, sorted by request and
    variant, then by edit time.
    """
    frame = _checked(edits, EDIT_COLUMNS, "edits")
    if "event_time" in frame.columns:
        frame = frame.sort_values("event_time", kind="stable")
    edited = frame["edited_text"]
    useful = edited.notna() & (edited.astype(str).str.strip() != "") & (edited != frame["text"])
    frame = frame[useful].drop_duplicates(["variant_id", "edited_text"], keep="first")
    out = pd.DataFrame(
        {
            "prompt": frame["prompt"],
            "edited": frame["edited_text"],
            "original": frame["text"],
            "request_id": frame["request_id"],
            "variant_id": frame["variant_id"],
        }
    )
    return out.sort_values(["request_id", "variant_id"], kind="stable", ignore_index=True)


def _checked(frame: pd.DataFrame, columns: Sequence[str], label: str) -> pd.DataFrame:
    """The frame, after checking that it is one and has the columns."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(f"must be a pandas DataFrame, got {type(frame).__name__}", field=label)
    for column in columns:
        if column not in frame.columns:
            raise InvalidInputError(f"missing column {column!r}", field=f"{label}.{column}")
    return frame


def _latest(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """The last row per key, by `event_time` when there is one, else by row order."""
    if "event_time" in frame.columns:
        frame = frame.sort_values("event_time", kind="stable")
    return frame.drop_duplicates(keys, keep="last")
