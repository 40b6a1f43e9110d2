"""The email draft a model writes, its JSON schema and merge tags."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "CTA_LABELS",
    "DRAFT_SCHEMA",
    "ENDS_SENTENCE",
    "KNOWN_MERGE_TAGS",
    "EmailDraft",
    "cta_choices",
    "draft_schema",
    "merge_tag",
]

# Mailchimp-style merge tags the renderer and the gates know about.
KNOWN_MERGE_TAGS = frozenset(
    {
        "FNAME",
        "LNAME",
        "EMAIL",
        "UNSUB",
        "UPDATE_PROFILE",
        "LIST:ADDRESS",
        "ARCHIVE",
        "IF",
        "ELSE",
        "END:IF",
        "IFNOT",
    }
)

MERGE_TAG_RE = re.compile(r"\*\|([^|*]*)\|\*")


def merge_tag(name: str) -> str:
    """Return the Mailchimp merge tag for `name`, e.g. `*|FNAME|*`."""
    return f"*|{name}|*"


@dataclass
class EmailDraft:
    """One email: every field is untrusted model text until the gates and renderer check it."""

    subject: str
    preheader: str
    headline: str
    body: list[str]
    cta_label: str
    cta_url: str
    greeting: str = "Hi *|IF:FNAME|**|FNAME|**|ELSE:|*there*|END:IF|*,"
    extras: dict[str, Any] = field(default_factory=dict)

    def text_fields(self) -> dict[str, str]:
        """Each text field by name, body paragraphs as `body[i]`."""
        out = {
            "subject": self.subject,
            "preheader": self.preheader,
            "headline": self.headline,
            "cta_label": self.cta_label,
            "greeting": self.greeting,
        }
        for i, para in enumerate(self.body):
            out[f"body[{i}]"] = para
        return out

    def full_text(self) -> str:
        """All the visible text, for embedding and scanning."""
        return "\n".join([self.subject, self.preheader, self.headline, *self.body, self.cta_label])

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EmailDraft:
        """Rebuild a draft saved with `to_dict`."""
        return cls(**data)


# The calls to action a draft may use: a small, fixed set, so the model chooses one instead of
# inventing a label ("Book a tune-up" in a candle shop's e-mail).
CTA_LABELS: tuple[str, ...] = (
    "Shop now", "Shop the sale", "Shop the collection", "See what's new", "Order yours",
    "Claim your discount", "Book now", "Book your visit", "Reserve a table", "Save your spot",
    "Get tickets", "RSVP", "Read more", "Read the story", "See the menu", "Plan your visit",
)  # fmt: skip

# Goal words and the labels that fit them, in order of preference.
_CTA_INTENTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"\b(?:ticket|concert|show|gig|performance|screening|festival)s?\b", ("Get tickets", "Save your spot")),
    (
        r"\b(?:event|tasting|workshop|class|classes|course|party|evening|night|open day|open house|"
        r"meet|talk|launch party|session)s?\b",
        ("Save your spot", "RSVP", "Book now"),
    ),
    (r"\b(?:dinner|lunch|brunch|table|restaurant|menu|supper)s?\b", ("Reserve a table", "See the menu")),
    (
        r"\b(?:book|booking|appointment|tune-?up|service|consultation|lesson|visit|stay|treatment|"
        r"check-?up|fitting|repair)s?\b",
        ("Book now", "Book your visit"),
    ),
    (
        r"\b(?:newsletter|story|stories|news|update|journal|behind the scenes|notes?)\b",
        ("Read more", "Read the story"),
    ),
    (
        r"\b(?:new|launch|arrival|arrivals|collection|range|release|restock|back in stock)\b",
        ("See what's new", "Shop the collection"),
    ),
)
_SHOP = ("Shop now", "Shop the collection", "Order yours")


def cta_choices(goal: str, offer: str = "") -> tuple[str, ...]:
    """The CTA labels that fit a brief's goal, best first (at most five)."""
    out: list[str] = []
    for pattern, labels in _CTA_INTENTS:
        if re.search(pattern, goal, re.IGNORECASE):
            out += labels
    if offer.strip():
        out += ["Shop the sale", "Claim your discount"]
    out += _SHOP
    return tuple(dict.fromkeys(out))[:5]


# Marks a string that must end on a sentence ('.', '!', '?'); guided decoders honour it and a
# JSON-schema engine that does not know it ignores it.
ENDS_SENTENCE = "x-ends-sentence"


def draft_schema(cta_labels: tuple[str, ...] | list[str] = CTA_LABELS, paragraphs: int = 2) -> dict[str, Any]:
    """The JSON schema a backend is asked to fill; the CTA URL and greeting come from the brief."""
    return {
        "type": "object",
        "properties": {
            "subject": {"type": "string", "minLength": 15, "maxLength": 60},
            "preheader": {"type": "string", "minLength": 40, "maxLength": 110, ENDS_SENTENCE: True},
            "headline": {"type": "string", "minLength": 10, "maxLength": 60},
            "body": {
                "type": "array",
                "items": {"type": "string", "minLength": 60, "maxLength": 320, ENDS_SENTENCE: True},
                "minItems": paragraphs,
                "maxItems": paragraphs,
            },
            "cta_label": {"type": "string", "enum": list(cta_labels)},
        },
        "required": ["subject", "preheader", "headline", "body", "cta_label"],
        "additionalProperties": False,
    }


DRAFT_SCHEMA: dict[str, Any] = draft_schema()
