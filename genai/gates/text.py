"""Shared text scanning for the gates: phone numbers and words (links and e-mail addresses: `genai.links`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from genai.draft import MERGE_TAG_RE, EmailDraft
from genai.links import EMAIL_RE, URL_RE

_PHONE_RE = re.compile(r"(?<![\w$€£%.,/+-])\+?\(?\d{1,12}\)?(?:[ .-]\(?\d{1,12}\)?){0,5}(?![\w%$€£]|[.,]\d)")
_PHONE_DIGITS = range(7, 16)
_DATE_RE = re.compile(r"\d{1,4}[./-]\d{1,2}[./-]\d{1,4}")

WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*")
TOKEN_RE = re.compile(r"\w+(?:['’]\w+)*")


def copy_fields(draft: EmailDraft) -> list[tuple[str, str]]:
    """The fields the model wrote, by name: subject, preheader, headline, body[i], cta_label."""
    fields = draft.text_fields()
    return [(name, text) for name, text in fields.items() if name != "greeting"]


def prose(text: str) -> str:
    """Text with merge tags, links and e-mail addresses blanked, for word-level scanning."""
    text = MERGE_TAG_RE.sub(" ", text)
    text = EMAIL_RE.sub(" ", text)
    return URL_RE.sub(" ", text)


def phones(text: str) -> Iterator[str]:
    """Every phone-number-like string in `text` (7 to 15 digits, not a date)."""
    for match in _PHONE_RE.finditer(EMAIL_RE.sub(" ", URL_RE.sub(" ", text))):
        number = match.group(0)
        if len(digits(number)) in _PHONE_DIGITS and not _DATE_RE.fullmatch(number):
            yield number


def digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def window(text: str, start: int, end: int, pad: int = 15) -> str:
    """The matched text with a little context either side, for evidence."""
    return text[max(0, start - pad) : end + pad].strip()


def word_tokens(text: str) -> list[str]:
    """Lower-case word tokens of the prose of `text`."""
    return [t.lower() for t in TOKEN_RE.findall(prose(text))]


def word_overlap(a: str, b: str) -> float:
    """The share of their words two texts have in common (Jaccard, lower-case word tokens)."""
    left, right = set(word_tokens(a)), set(word_tokens(b))
    return len(left & right) / len(left | right) if left | right else 0.0


def shared_runs(a: list[str], b: list[str], least: int) -> Iterator[list[str]]:
    """Each maximal run of `least` or more tokens that `a` and `b` share."""
    previous = [0] * (len(b) + 1)
    for i in range(1, len(a) + 1):
        current = [0] * (len(b) + 1)
        for j in range(1, len(b) + 1):
            if a[i - 1] != b[j - 1]:
                continue
            current[j] = length = previous[j - 1] + 1
            extends = i < len(a) and j < len(b) and a[i] == b[j]
            if length >= least and not extends:
                yield a[i - length : i]
        previous = current
