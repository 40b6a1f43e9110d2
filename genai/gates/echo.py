"""Echo gates: no words carried over from example e-mails about other businesses, and none of the
prompt's own scaffolding (field names, prompt labels, the brief's instructions) in the copy."""

from __future__ import annotations

import re
import unicodedata

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.gates.base import Finding, Gate
from genai.gates.grounding import reference_text
from genai.gates.text import copy_fields, shared_runs, word_tokens
from genai.prompts import exemplar_outputs

_ECHO_MIN_RUN = 3
# Words any email may share with an example: function words and everyday marketing language.
_GENERIC_WORDS = frozenset({
    "a", "an", "the", "of", "to", "for", "with", "and", "or", "but", "in", "on", "at", "by", "from",
    "into", "as", "is", "are", "was", "be", "it", "its", "it's", "this", "that", "these", "those",
    "you", "your", "you're", "you've", "we", "our", "we're", "us", "my", "me", "so", "now", "new",
    "here", "there", "all", "any", "every", "each", "one", "more", "most", "just", "only", "get",
    "take", "save", "off", "shop", "buy", "order", "orders", "find", "first", "week", "month",
    "today", "day", "time", "thank", "thanks", "thank-you", "welcome", "ready", "keep", "keeps",
    "made", "make", "small", "little", "quick", "free", "best", "good", "great", "season", "favourite",
    "favorite", "discover", "explore", "try", "gift", "gifts", "home", "up", "out", "back", "book",
    "join", "learn", "see", "view", "visit", "browse", "claim", "start", "read", "call", "reserve",
})  # fmt: skip


def _vocabulary(brief: Brief, brand: BrandKit) -> set[str]:
    """Every word the brand kit and the brief give the model to write about."""
    texts = [brand.name, brand.tagline, brand.description, *brand.voice, *(p.name for p in brand.products)]
    texts += [brief.goal, brief.offer, *brief.constraints]
    texts += [f"{s.name} {s.description}" for s in brief.segments]
    return {t for text in texts for t in word_tokens(text)}


def _check_exemplar_echo(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    known = _vocabulary(brief, brand) | _GENERIC_WORDS
    evidence: list[str] = []
    for example_brand, example in exemplar_outputs():
        example_tokens = word_tokens(example)
        for name, text in copy_fields(draft):
            for run in shared_runs(word_tokens(text), example_tokens, _ECHO_MIN_RUN):
                if any(t not in known and not t.isdigit() for t in run):
                    evidence.append(f"{name}: {' '.join(run)} (from the {example_brand} example)")
    if not evidence:
        return []
    return [Finding("block", "words copied from a few-shot example about another business", evidence)]


# A model that loses its place writes the next field's name into the text it is in
# ('... cta_label": "Order yours'), a prompt line ("Reader: ..."), or the brief's instruction
# itself ("Mention that every candle ...") instead of following it.
_FIELD_NAME = (
    r"\b(?:cta_label|preheader)|\b(?:cta label|headline|subject|body)\s*[\"\u201c\u201d'\u2019]?\s*:"
)
_PROMPT_LABEL = r"(?:^|[.!?]\s+)(?:reader|rule|button|fact|goal|voice|about|products|address)\s*:"
_INSTRUCTION = r"(?:^|[.!?\u201c\u201d\"]\s*)(?:mention that|do not mention|don't mention|keep it under)\b"
_SCAFFOLDING = (
    (re.compile(_FIELD_NAME, re.I), "a field name of the draft"),
    (re.compile(_PROMPT_LABEL, re.I), "a label of the prompt"),
    (re.compile(_INSTRUCTION, re.I), "an instruction of the brief"),
)


def _foreign_letters(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[str]:
    """Letters of a script other than Latin that neither the brand nor the brief uses."""
    known = set(reference_text(brief, brand))
    found = []
    for name, text in copy_fields(draft):
        odd = sorted({c for c in text if c.isalpha() and c not in known and not _latin(c)})
        if odd:
            found.append(f"{name}: {''.join(odd[:12])}")
    return found


def _latin(letter: str) -> bool:
    return unicodedata.name(letter, "").startswith("LATIN")


def _check_prompt_echo(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    evidence = [
        f"{name}: {what}: {text[max(0, m.start() - 10) : m.end() + 20].strip()}"
        for name, text in copy_fields(draft)
        for pattern, what in _SCAFFOLDING
        for m in [pattern.search(text)]
        if m
    ]
    findings = []
    if evidence:
        findings.append(Finding("block", "the prompt's own scaffolding is written into the copy", evidence))
    foreign = _foreign_letters(draft, brief, brand)
    if foreign:
        # a small model that loses its place drifts into tokens of other scripts
        findings.append(Finding("block", "letters of a script the brand and the brief do not use", foreign))
    return findings


GATES: tuple[Gate, ...] = (
    Gate(
        "exemplar_echo",
        "block",
        "no words carried over from the prompt's example emails about other businesses",
        _check_exemplar_echo,
    ),
    Gate(
        "prompt_echo",
        "block",
        "no field names, prompt labels or brief instructions in the copy",
        _check_prompt_echo,
    ),
)
