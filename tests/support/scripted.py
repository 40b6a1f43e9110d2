"""A scripted generation backend's replies: good, malformed, blocked, warned and near-duplicate
drafts per segment, for tests of the pipeline, the CLI and the API."""

from __future__ import annotations

import json
import re
from collections import defaultdict
from typing import Any

from genai.backends.base import GenerationRequest

CTA = "https://lumencandles.example/holiday"

# Distinct drafts: different words, so the hashing embedder sees no near-duplicates among them.
GOOD: list[dict[str, Any]] = [
    {
        "subject": "Your holiday glow: 20% off every candle",
        "preheader": "Warm up the season with hand-poured candles, now 20% off all week.",
        "headline": "Hand-poured warmth for the holidays",
        "body": [
            "Our soy candles burn slowly and fill the room with cedar and amber.",
            "Save 20% on every candle this week and light up long winter evenings.",
        ],
        "cta_label": "Shop the sale",
    },
    {
        "subject": "Gifts that glow, now 20% off",
        "preheader": "Wrapped presents and soy candles with a flicker of vanilla for quiet mornings.",
        "headline": "Presents people actually use",
        "body": [
            "Choose small-batch candles in tins, jars or tapers for friends and teachers.",
            "Take 20% off gifts this season, wrapped in recyclable boxes.",
        ],
        "cta_label": "Find a gift",
    },
    {
        "subject": "Cosy nights start with 20% off",
        "preheader": "Blankets, books and cosy evenings by soy candlelight feel special again.",
        "headline": "Made for slow evenings",
        "body": [
            "Curl up beside pine, clove and orange peel on slow evenings while frost gathers.",
            "Members enjoy 20% off throughout the festive season across our collection.",
        ],
        "cta_label": "Browse scents",
    },
    {
        "subject": "Small batches, big savings: 20% off",
        "preheader": "Each jar poured by hand in tiny runs, so stock goes quickly this month.",
        "headline": "Poured by hand, in tiny runs",
        "body": [
            "Our maker trims, cures and labels every jar of small-batch candles by hand.",
            "Grab 20% off limited editions like Fireside Smoke and Spiced Pear today.",
        ],
        "cta_label": "See editions",
    },
    {
        "subject": "Light the table: 20% off centrepieces",
        "preheader": "Tall tapers and low pillars, hand-poured candles for dinners and family gatherings.",
        "headline": "Set a glowing table",
        "body": [
            "Pair ivory soy candles with brass holders for elegant dinner parties.",
            "Get 20% off table settings now, with pillars that stay dripless for hours.",
        ],
        "cta_label": "Dress the table",
    },
    {
        "subject": "Rest easy: lavender candles 20% off",
        "preheader": "Calming lavender soy candles help you unwind on slow evenings.",
        "headline": "Breathe out, slow down",
        "body": [
            "Bedtime rituals feel gentler with hand-poured candles drifting lavender through quiet rooms.",
            "Sleep blends carry 20% off, perfect for stockings or your nightstand.",
        ],
        "cta_label": "Unwind slowly",
    },
]


def malformed(_: int) -> str:
    return '{"subject": "Cut off mid'


def blocked(i: int) -> str:
    draft = dict(GOOD[i % len(GOOD)])
    draft["body"] = [
        *draft["body"][:1],
        "Claim your reward at https://prizes-now.example/win before it goes.",
    ]
    return json.dumps(draft)


def warned(i: int) -> str:
    """A good draft with one spam trigger: it passes every blocking gate and warns."""
    draft = dict(GOOD[i % len(GOOD)])
    draft["body"] = [draft["body"][0], draft["body"][1] + " Soy candles this good are a real bargain."]
    return json.dumps(draft)


def near_duplicate(i: int) -> str:
    draft = dict(GOOD[i % len(GOOD)])
    draft["cta_label"] = draft["cta_label"] + " today"
    return json.dumps(draft)


class Script:
    """A responder that writes, per segment, the kinds of output it is told to, in order.

    Each kind is "good", "bad" (malformed), "blocked", "warned" (a good draft with a gate warning)
    or "dup" (a near-copy of the previous good draft); once a segment's script runs out it writes
    good drafts.
    """

    def __init__(self, **kinds: list[str]) -> None:
        self.kinds = kinds
        self.count: dict[str, int] = defaultdict(int)
        self.good: dict[str, int] = defaultdict(int)

    def __call__(self, request: GenerationRequest, index: int) -> str:
        segment = audience(request)
        step = self.count[segment]
        self.count[segment] += 1
        script = self.kinds.get(segment, [])
        kind = script[step] if step < len(script) else "good"
        if kind == "bad":
            return malformed(step)
        if kind == "blocked":
            return blocked(self.good[segment])
        if kind == "dup":
            return near_duplicate(self.good[segment] - 1)
        if kind == "warned":
            self.good[segment] += 1
            return warned(self.good[segment] - 1)
        # each segment starts at its own place in GOOD, so segments get different drafts
        offset = 3 if segment == "new" else 0
        text = json.dumps(GOOD[(offset + self.good[segment]) % len(GOOD)])
        self.good[segment] += 1
        return text


# The prompt describes the reader; it never names the segment.
READERS = {"order often": "loyal", "first order": "new"}


def audience(request: GenerationRequest) -> str:
    match = re.search(r"^Reader: (.+)$", request.messages[-1]["content"], re.MULTILINE)
    assert match, "the rendered prompt describes the reader"
    return READERS.get(match.group(1), match.group(1))
