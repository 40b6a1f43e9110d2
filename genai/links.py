"""Finding links and e-mail addresses in text, undoing the disguises that hide them from a pattern.

A link can be written so that a reader (and a mail client that links it) still takes it for one
while a plain pattern does not: fullwidth letters (`ｅｖｉｌ．ｃｏｍ`), dots that only look like
dots (U+2024, U+FF0E, U+3002, U+FF61, U+2027, ...), invisible format characters inside the host
(zero-width space and joiners, word joiner, byte-order mark, soft hyphen), `hxxp://`, and dots or
at-signs in brackets (`evil[.]com`, `evil (dot) com`, `me[at]evil.com`). `unmask` folds all of
these back to the plain form (NFKC, format characters removed, look-alike dots mapped, bracketed
forms joined) before `urls` and `emails` match; `idna_host` compares hosts in their ASCII form.
The quality gates and the brand-page reader both find links here.

Look-alike dots count as a dot only between two ASCII letters or digits, so the ideographic full
stop that ends a Japanese or Chinese sentence and the Catalan `l·l` stay prose. A stop with no
space after it (`today.Shop now`) is read as a host, as a mail client would link it: `.shop` is a
top-level domain, so such a typo blocks a draft rather than letting a real link through.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

__all__ = ["EMAIL_RE", "URL_RE", "emails", "idna_host", "unmask", "urls"]

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


# Characters drawn as a dot, or close enough to one in a host name.
_DOTS = frozenset(
    "\u2024\uff0e\ufe52\u3002\uff61\ufe12\u2027\u30fb\uff65\u00b7\u0387\u2e31\u2e33\u22c5\u2219"
    "\u0701\u0702\u05c5\u1427"
)
_PLACEHOLDER = "\ue000"  # a private-use character NFKC leaves alone
_ASCII_ALNUM = re.compile(r"[A-Za-z0-9]")
_OPEN, _CLOSE = r"[\[\(\{<]", r"[\]\)\}>]"
_BRACKETED_DOT = re.compile(rf"\s?{_OPEN}\s?(?:\.|dot)\s?{_CLOSE}\s?", re.IGNORECASE)
_BRACKETED_AT = re.compile(rf"\s?{_OPEN}\s?(?:@|at)\s?{_CLOSE}\s?", re.IGNORECASE)
_BRACKETED_COLON = re.compile(rf"{_OPEN}(:|://){_CLOSE}")
_HXXP = re.compile(r"\bh(?:xx|\*\*|tt|xt|tx)p(s?)(?=:|\[:)", re.IGNORECASE)
# "shop dot com": the spelled-out dot only before a common top-level domain, so prose keeps "dot".
_WORD_DOT = re.compile(
    r"(?<=[A-Za-z0-9])\s+dot\s+(?=(?:com|net|org|info|biz|shop|store|co|io|uk|de|fr|eu|us|ca|au)\b)",
    re.IGNORECASE,
)


def _without_format_characters(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch) != "Cf")


def _map_dots(text: str) -> str:
    originals = [ch for ch in text if ch in _DOTS]
    if not originals:
        return unicodedata.normalize("NFKC", text)
    folded = unicodedata.normalize("NFKC", "".join(_PLACEHOLDER if ch in _DOTS else ch for ch in text))
    pieces = folded.split(_PLACEHOLDER)
    out = [pieces[0]]
    for original, after in zip(originals, pieces[1:], strict=True):
        before = out[-1][-1:] if out[-1] else ""
        catalan = original in "\u00b7\u0387" and before.lower() == "l" and after[:1].lower() == "l"
        joins = bool(_ASCII_ALNUM.fullmatch(before)) and bool(_ASCII_ALNUM.match(after))
        out.append(("." if joins and not catalan else original) + after)
    return "".join(out)


def unmask(text: str) -> str:
    """`text` with disguised links and e-mail addresses folded back to their plain spelling."""
    text = _without_format_characters(text)
    text = _map_dots(text)
    text = _BRACKETED_DOT.sub(".", text)
    text = _BRACKETED_AT.sub("@", text)
    text = _BRACKETED_COLON.sub(lambda m: m.group(1), text)
    text = _WORD_DOT.sub(".", text)
    return _HXXP.sub(lambda m: "http" + m.group(1), text)


def idna_host(host: str) -> str:
    """A host in its ASCII (punycode) form, lower-cased; as given when it cannot be encoded."""
    host = host.lower().strip(".")
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


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
