"""The merge-tag gate: well-formed, known and balanced tags and no other placeholders."""

from __future__ import annotations

import re
from collections.abc import Iterator

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import KNOWN_MERGE_TAGS, MERGE_TAG_RE, EmailDraft
from genai.gates.base import Finding, Gate

_CONTROL_TAGS = frozenset({"IF", "IFNOT", "ELSE", "END:IF"})
_MERGE_FIELDS = KNOWN_MERGE_TAGS - _CONTROL_TAGS
_CONDITION_RE = re.compile(r"(IF|IFNOT):(.+)")
# Starting the "FNAME|*" form only at a token boundary keeps the scan linear on long text.
_BROKEN_TAG_RE = re.compile(r"\*\|[^\s|*]*|(?<![^\s|*])[^\s|*]*\|\*|\|[A-Z][A-Z0-9_:]*\|")
_PLACEHOLDER_RE = re.compile(
    r"\{\{[^{}\n]{0,60}\}\}|\{%[^{}\n]{0,60}%\}|\$?\{\s*[A-Za-z_]\w*\s*\}|%%\w+%%|%[A-Z][A-Z_]+%|<<[^<>\n]{1,40}>>"
    r"|\[\s*(?:insert\b[^\]\n]{0,40}|x{2,}|\.{3}|(?:your |first |last |full |customer |recipient "
    r"|company |brand |product |store )?(?:name|company|link|url|e-?mail(?: address)?|date|city"
    r"|phone(?: number)?|address|product|discount(?: code)?|promo code|code|offer|price|amount))\s*\]",
    re.IGNORECASE,
)


def _tag_problems(text: str) -> Iterator[tuple[str, str]]:
    """(problem, offending text) for each malformed, unknown or unbalanced tag in one field."""
    depth = 0
    for match in MERGE_TAG_RE.finditer(text):
        tag, name = match.group(0), match.group(1)
        condition = _CONDITION_RE.fullmatch(name)
        if condition:
            depth += 1
            if condition.group(2) not in _MERGE_FIELDS:
                yield f"unknown merge field {condition.group(2)!r} in a condition", tag
        elif name in ("ELSE", "ELSE:"):
            if depth == 0:
                yield "ELSE outside an IF block", tag
        elif name == "END:IF":
            if depth == 0:
                yield "END:IF without an IF", tag
            depth = max(0, depth - 1)
        elif name not in _MERGE_FIELDS:
            yield f"unknown merge tag {name!r}", tag
    if depth:
        yield f"{depth} IF block(s) never closed with *|END:IF|*", text
    rest = MERGE_TAG_RE.sub(" ", text)
    for match in _BROKEN_TAG_RE.finditer(rest):
        yield "broken merge tag", match.group(0)
    for match in _PLACEHOLDER_RE.finditer(rest):
        yield "template placeholder that is not a merge tag", match.group(0)


def _check_merge_tags(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    return [
        Finding("block", f"{problem} in {name}", [f"{name}: {snippet}"])
        for name, text in draft.text_fields().items()
        for problem, snippet in _tag_problems(text)
    ]


GATES: tuple[Gate, ...] = (
    Gate(
        "merge_tags",
        "block",
        "well-formed, known and balanced merge tags; no other placeholders",
        _check_merge_tags,
    ),
)
