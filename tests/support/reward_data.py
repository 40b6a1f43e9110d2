"""Labelled drafts with a planted taste, for the reward models' tests: a marketer who accepts most
drafts whose subject asks a question and few of the others."""

from __future__ import annotations

import random

from genai.brand import BrandKit, Product
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.reward import LabelledDraft

__all__ = ["BRAND", "BRIEF", "planted_draft", "planted_feedback"]

BRAND = BrandKit(
    name="Lumen Candles",
    description="Hand-poured soy candles for slow evenings.",
    products=[Product("Cedar Hearth"), Product("Orchard Morning")],
)
BRIEF = Brief(
    goal="Holiday sale on candles",
    offer="20% off all candles",
    cta_url="https://l.example/",
    segments=[{"name": "all"}],
)
WORDS = [
    "warm",
    "light",
    "slow",
    "evening",
    "hand",
    "poured",
    "soy",
    "wick",
    "cedar",
    "winter",
    "gift",
    "porch",
    "quiet",
    "table",
]


def planted_draft(rng: random.Random, question: bool) -> EmailDraft:
    """A draft on three random words whose subject asks a question or states a fact."""
    topic = " ".join(rng.sample(WORDS, 3))
    subject = f"Ready for {topic}?" if question else f"Now in stock: {topic}"
    return EmailDraft(
        subject=subject,
        preheader=f"Our {topic} candles, poured by hand for the holidays.",
        headline=f"The {topic} edit",
        body=[" ".join(rng.choices(WORDS, k=rng.randint(12, 40))).capitalize() + "."],
        cta_label="Shop the sale",
        cta_url="https://l.example/",
    )


def planted_feedback(n: int, seed: int) -> list[LabelledDraft]:
    """A marketer who accepts 85% of the drafts whose subject asks a question, 15% of the rest;
    four drafts to a generation request."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        question = rng.random() < 0.5
        accepted = rng.random() < (0.85 if question else 0.15)
        out.append(
            LabelledDraft(
                planted_draft(rng, question),
                BRIEF,
                ("Cedar Hearth",),
                float(accepted),
                group=f"request-{i // 4}",
            )
        )
    return out
