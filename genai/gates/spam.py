"""The spam-phrase gate: classic trigger phrases that content filters score."""

from __future__ import annotations

import re

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import MERGE_TAG_RE, EmailDraft
from genai.gates.base import Finding, Gate, Severity
from genai.gates.text import copy_fields

_SPAM_BLOCK_DISTINCT = 3
# Classic phrases that content filters score; common retail calls to action ("shop now") are
# left out on purpose because they are not what filters punish.
SPAM_PHRASES: tuple[str, ...] = (
    "act now", "act immediately", "action required", "100% free", "absolutely free", "risk-free",
    "no risk", "click here", "click below", "guaranteed", "winner", "you are a winner",
    "you have been selected", "you've been selected", "congratulations", "cash bonus", "no obligation",
    "no strings attached", "no catch", "no hidden fees", "no credit check", "no purchase necessary",
    "no questions asked", "free money", "free cash", "fast cash", "earn money", "make money",
    "extra income", "double your income", "be your own boss", "work from home", "get paid",
    "million dollars", "once in a lifetime", "limited time only", "urgent", "don't delete",
    "what are you waiting for", "this won't last", "amazing deal", "incredible deal", "lowest price",
    "best price", "bargain", "cheap", "dear friend", "miracle", "verify your account",
    "account suspended", "claim your prize", "prize", "money back", "pre-approved", "call now",
    "order now", "apply now", "instant access", "lose weight", "as seen on", "$$$",
)  # fmt: skip


def _normalize_phrase(text: str) -> str:
    return re.sub(r"[\s-]+", " ", text.lower().replace("’", "'")).strip()


_SPAM_RE = re.compile(
    r"(?<!\w)(?:"
    + "|".join(
        r"[\s-]+".join(re.escape(part) for part in _normalize_phrase(phrase).split(" "))
        for phrase in sorted(SPAM_PHRASES, key=len, reverse=True)
    )
    + r")(?!\w)",
    re.IGNORECASE,
)


def _check_spam_phrases(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    hits: dict[str, list[str]] = {}
    for name, text in copy_fields(draft):
        for match in _SPAM_RE.finditer(MERGE_TAG_RE.sub(" ", text.replace("’", "'"))):
            hits.setdefault(_normalize_phrase(match.group(0)), []).append(f"{name}: {match.group(0)}")
    if not hits:
        return []
    severity: Severity = "block" if len(hits) >= _SPAM_BLOCK_DISTINCT else "warn"
    message = f"{len(hits)} spam trigger phrase(s): {', '.join(sorted(hits))}"
    return [Finding(severity, message, [e for found in hits.values() for e in found])]


GATES: tuple[Gate, ...] = (Gate("spam_phrases", "block", "no spam trigger phrases", _check_spam_phrases),)
