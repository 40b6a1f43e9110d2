"""Form gates: lengths, capitals, punctuation, empty fields and sentences cut off."""

from __future__ import annotations

import re
from collections.abc import Iterator

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.gates.base import Finding, Gate
from genai.gates.text import WORD_RE, copy_fields, prose, window
from genai.sentences import (
    CUT_BEFORE_STOP,
    UNFINISHED_ENDINGS,
    ends_sentence,
    last_word,
    unfinished_sentences,
)

_SUBJECT_WARN_CHARS = 60
_SUBJECT_BLOCK_CHARS = 100
_PREHEADER_CHARS = range(40, 111)


def _check_subject_length(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    size = len(draft.subject.strip())
    if size > _SUBJECT_BLOCK_CHARS:
        message = f"subject is {size} characters, over the limit of {_SUBJECT_BLOCK_CHARS}"
        return [Finding("block", message, [f"{size} characters", draft.subject])]
    if size > _SUBJECT_WARN_CHARS:
        message = f"subject is {size} characters; inboxes cut it after about {_SUBJECT_WARN_CHARS}"
        return [Finding("warn", message, [f"{size} characters", draft.subject])]
    return []


def _check_preheader_length(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    size = len(draft.preheader.strip())
    if size in _PREHEADER_CHARS:
        return []
    low, high = _PREHEADER_CHARS[0], _PREHEADER_CHARS[-1]
    message = f"preheader is {size} characters, outside {low}..{high}"
    return [Finding("warn", message, [f"{size} characters", draft.preheader])]


MIN_BODY_CHARS = 100  # a body shorter than this is too thin to send as it is


def _check_body_length(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    size = sum(len(p.strip()) for p in draft.body)
    if size >= MIN_BODY_CHARS or not draft.body:  # an empty body is empty_fields' to block
        return []
    return [Finding("warn", f"the body is {size} characters, under {MIN_BODY_CHARS}", draft.body)]


_CAPS_WARN_RATIO = 0.3
_CAPS_MIN_WORDS = 5
_CAPS_SUBJECT_BLOCK_WORDS = 4
# Upper-case by convention, so not shouting; ambiguous ones ("US", "IT") are left to count.
_ACRONYMS = frozenset({
    "USA", "UK", "EU", "UN", "FAQ", "FAQS", "DIY", "VIP", "CEO", "PM", "AM", "OK", "TV", "PDF", "SMS",
    "USB", "LED", "ID", "NYC", "LA", "DC", "HQ", "QA", "UV", "HR", "USD", "EUR", "GBP", "CAD", "AUD",
    "XS", "XL", "XXL", "XXXL", "RSVP", "ASAP", "ETA", "FYI", "AI", "VR", "PS", "NB", "BBQ", "SPF", "PC",
})  # fmt: skip


def _caps_words(text: str, ignore: frozenset[str]) -> tuple[list[str], list[str]]:
    """The words of 2+ letters that count, and those of them in capitals."""
    words = [w for w in WORD_RE.findall(prose(text)) if len(w) >= 2 and w.upper() not in ignore]
    return words, [w for w in words if w.isupper()]


def _check_all_caps(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    ignore = _ACRONYMS | {w.upper() for w in WORD_RE.findall(brand.name) if w.isupper()}
    findings: list[Finding] = []
    subject_words, subject_caps = _caps_words(draft.subject, ignore)
    if len(subject_words) >= _CAPS_SUBJECT_BLOCK_WORDS and len(subject_caps) == len(subject_words):
        findings.append(Finding("block", "subject is written entirely in capitals", [draft.subject]))
    elif len(subject_caps) >= 3 and len(subject_caps) > len(subject_words) / 2:
        message = f"{len(subject_caps)} of the subject's {len(subject_words)} words are in capitals"
        findings.append(Finding("warn", message, subject_caps))
    words, caps = _caps_words("\n".join([draft.subject, draft.headline, *draft.body]), ignore)
    if len(words) >= _CAPS_MIN_WORDS and len(caps) / len(words) > _CAPS_WARN_RATIO:
        message = f"{len(caps) / len(words):.0%} of the words are in capitals (limit {_CAPS_WARN_RATIO:.0%})"
        findings.append(Finding("warn", message, list(dict.fromkeys(caps))[:10]))
    return findings


_PUNCT_RUN_RE = re.compile(r"[!?]{2,}")


def _check_excess_punctuation(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    findings: list[Finding] = []
    for name, text in copy_fields(draft):
        for match in _PUNCT_RUN_RE.finditer(text):
            evidence = [f"{name}: {window(text, match.start(), match.end())}"]
            if len(match.group(0)) >= 3:
                findings.append(Finding("block", f"{len(match.group(0))} marks in a row in {name}", evidence))
            else:
                findings.append(Finding("warn", f"doubled punctuation in {name}", evidence))
    if draft.subject.count("!") > 1:
        message = f"subject has {draft.subject.count('!')} exclamation marks"
        findings.append(Finding("warn", message, [f"subject: {draft.subject}"]))
    return findings


def _unfinished(draft: EmailDraft) -> Iterator[str]:
    """Fields and sentences (by name) that stop on a word no sentence ends on, with that ending."""
    sentence_fields = {name for name, _ in _sentence_fields(draft)}
    for name, text in copy_fields(draft):
        if name in sentence_fields:
            # every sentence of a paragraph: "...slow evenings at. Order by Friday." is cut too
            for sentence in unfinished_sentences(text):
                if ends_sentence(sentence):
                    yield f"{name}: ...{sentence.rstrip()[-30:]}"
            continue
        # "...worth waiting for." is finished, the stop says so; "Get 20% off your" is not
        endings = CUT_BEFORE_STOP if ends_sentence(text) else UNFINISHED_ENDINGS
        if last_word(text) in endings and not text.rstrip().endswith(("?", ":")):
            yield f"{name}: ...{text.rstrip()[-30:]}"


def _check_empty_fields(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    required = {
        "subject": draft.subject,
        "preheader": draft.preheader,
        "headline": draft.headline,
        "cta_label": draft.cta_label,
        "cta_url": draft.cta_url,
    }
    empty = [name for name, text in required.items() if not text.strip()]
    empty += [f"body[{i}]" for i, para in enumerate(draft.body) if not para.strip()]
    if not draft.body:
        empty.append("body")
    findings = [Finding("block", f"empty field(s): {', '.join(empty)}", empty)] if empty else []
    cut = [
        f"{name}: ...{text.rstrip()[-30:]}"
        for name, text in _sentence_fields(draft)
        if not ends_sentence(text)
    ]
    if brief.language.split("-")[0] == "en":
        cut += [c for c in _unfinished(draft) if c not in cut]
    if cut:
        findings.append(Finding("block", "text stops mid-sentence", cut))
    # a paragraph that opens on a lower-case word carries on a sentence cut off before it
    carried = [
        f"{name}: {text.strip()[:30]}..." for name, text in _sentence_fields(draft) if _opens_lower(text)
    ]
    if carried:
        findings.append(Finding("block", "text starts mid-sentence", carried))
    return findings


def _opens_lower(text: str) -> bool:
    first = next((ch for ch in text if ch.isalnum()), "")
    return first.islower()


def _sentence_fields(draft: EmailDraft) -> Iterator[tuple[str, str]]:
    """The fields written as sentences (preheader, body paragraphs), non-empty ones only."""
    fields = [("preheader", draft.preheader)] + [(f"body[{i}]", p) for i, p in enumerate(draft.body)]
    return ((name, text) for name, text in fields if text.strip())


GATES: tuple[Gate, ...] = (
    Gate(
        "subject_length",
        "block",
        "subject of 60 characters or fewer; blocked past 100",
        _check_subject_length,
    ),
    Gate("preheader_length", "warn", "preheader of 40 to 110 characters", _check_preheader_length),
    Gate("body_length", "warn", f"a body of {MIN_BODY_CHARS} characters or more", _check_body_length),
    Gate("all_caps", "block", "not shouting in capitals", _check_all_caps),
    Gate(
        "excess_punctuation",
        "block",
        "no runs of '!' or '?', one '!' at most in the subject",
        _check_excess_punctuation,
    ),
    Gate(
        "empty_fields",
        "block",
        "every required field filled in; none starts or stops mid-sentence",
        _check_empty_fields,
    ),
)
