"""The email draft a model writes, its JSON schema and merge tags."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["DRAFT_SCHEMA", "KNOWN_MERGE_TAGS", "EmailDraft", "merge_tag"]

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


# What a backend is asked to produce; the CTA URL and greeting come from the brief, not the model.
DRAFT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "subject": {"type": "string", "minLength": 10, "maxLength": 80},
        "preheader": {"type": "string", "minLength": 40, "maxLength": 110},
        "headline": {"type": "string", "minLength": 8, "maxLength": 70},
        "body": {
            "type": "array",
            "items": {"type": "string", "minLength": 60, "maxLength": 320},
            # one paragraph: small models given room for more write the next key into a second item;
            # the parser splits a long paragraph into short ones
            "minItems": 1,
            "maxItems": 1,
        },
        "cta_label": {"type": "string", "minLength": 4, "maxLength": 28},
    },
    "required": ["subject", "preheader", "headline", "body", "cta_label"],
    "additionalProperties": False,
}
