"""Text helpers for reading a brand from a page: whitespace clean-up and the tone words of its voice."""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["VOICE_HINTS", "VOICE_SIZE", "clean_text", "tone_words", "voice_hint_words"]

VOICE_SIZE = 5
# Meta names a page can use to state its voice outright, e.g. <meta name="brand-voice" content="warm">.
VOICE_HINTS = ("brand-voice", "brand:voice", "brand-tone")

_TONES: dict[str, str] = {
    "warm": r"warm|warmth|warmly",
    "cozy": r"cozy|cosy|cozier|cosier|snug|hygge",
    "handcrafted": r"hand-?crafted|hand-?made|hand-?poured|hand-?dipped|hand-?built|artisan(?:al)?"
    r"|small[- ]batch(?:es)?|crafted",
    "playful": r"playful|fun|whimsical|cheeky|quirky",
    "friendly": r"friendly|welcoming|approachable|neighbou?rly",
    "honest": r"honest|transparent|straightforward|no-nonsense|upfront",
    "calm": r"calm|calming|soothing|serene|peaceful|relaxing|tranquil",
    "bold": r"bold|daring|fearless",
    "elegant": r"elegant|refined|sophisticated|timeless",
    "luxurious": r"luxurious|luxury|indulgent|premium",
    "minimal": r"minimal|minimalist|understated",
    "modern": r"modern|contemporary|sleek",
    "rustic": r"rustic|earthy|homespun",
    "expert": r"expert|knowledgeable|experienced|skilled|meticulous",
    "reliable": r"reliable|dependable|trusted|trustworthy",
    "energetic": r"energetic|lively|vibrant|upbeat",
    "adventurous": r"adventurous|daring",
    "thoughtful": r"thoughtful|mindful|intentional|considered",
    "caring": r"caring|gentle|compassionate",
    "sustainable": r"sustainable|sustainably|eco-friendly|eco-conscious|low-waste",
    "local": r"local|locally|neighbou?rhood|community",
}
_TONE_PATTERNS = {tone: re.compile(rf"\b(?:{alts})\b", re.I) for tone, alts in _TONES.items()}


def clean_text(text: str, limit: int = 300) -> str:
    """Collapse whitespace and cut the text to `limit` characters, ending a cut one with an ellipsis."""
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def tone_words(texts: Iterable[str]) -> list[str]:
    """The lexicon's tone words found in the texts, most frequent first, earlier first on ties."""
    text = " ".join(texts)
    found: list[tuple[int, int, str]] = []
    for tone, pattern in _TONE_PATTERNS.items():
        hits = [m.start() for m in pattern.finditer(text)]
        if hits:
            found.append((-len(hits), hits[0], tone))
    return [tone for _, _, tone in sorted(found)][:VOICE_SIZE]


def voice_hint_words(content: str) -> list[str]:
    """The tone words a brand-voice meta hint states, at most five."""
    # Only short word-like entries: the hint is free text a page controls, not instructions.
    words = [clean_text(w).lower() for w in re.split(r"[,;/|]", content)]
    return [w for w in words if re.fullmatch(r"[a-z][a-z -]{1,29}", w) and len(w.split()) <= 3][:VOICE_SIZE]
