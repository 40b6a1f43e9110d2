"""Shared text scanning for the gates: links, e-mail addresses, phone numbers and words."""

from __future__ import annotations

import re
from collections.abc import Iterator

from genai.draft import MERGE_TAG_RE, EmailDraft
from genai.gates.lookalikes import unmask

_URL_CHARS = r"[^\s<>\"'()\[\]{}]"
URL_RE = re.compile(
    # Not the tail of an e-mail address or of a longer host name.
    r"(?<![\w@.-])"
    rf"(?:https?://{_URL_CHARS}+"
    # Bare hosts use Unicode letters so a look-alike such as "brаnd.com" (Cyrillic a) is still seen.
    r"|(?:[^\W_](?:[\w-]{0,61}[^\W_])?\.)+[^\W\d_]{2,24}(?![\w@-])"
    rf"(?:[/?#]{_URL_CHARS}*)?)",
    re.IGNORECASE,
)
# File extensions that are not top-level domains, so "menu.pdf" is a file name, not a host.
_NOT_TLDS = frozenset(
    {
        "js",
        "css",
        "pdf",
        "jpg",
        "jpeg",
        "png",
        "gif",
        "svg",
        "webp",
        "txt",
        "csv",
        "json",
        "html",
        "htm",
        "xml",
    }
)

EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+")

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


def urls(text: str) -> Iterator[str]:
    """Every link-like string in `text`, disguises undone, trailing sentence punctuation removed."""
    for match in URL_RE.finditer(unmask(text)):
        url = match.group(0).rstrip(".,;:!?")
        if "://" not in url and url.split("/", 1)[0].rsplit(".", 1)[-1].lower() in _NOT_TLDS:
            continue
        yield url


def emails(text: str) -> list[str]:
    """Every e-mail address in `text`, disguises such as `[at]` and look-alike dots undone."""
    return EMAIL_RE.findall(unmask(text))


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
