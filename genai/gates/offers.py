"""The offer gate: discounts, prices and promises must come from the brief or the brand's prices."""

from __future__ import annotations

import re
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.gates.base import Finding, Gate
from genai.gates.text import copy_fields, prose, window

__all__ = ["GATES", "unbound_free"]

_AMOUNT_RE = re.compile(
    r"(?P<pct>(?<![\w.])\d{1,3}(?:\.\d+)?\s?%)"
    r"|(?P<money>[$€£]\s?\d[\d,]*(?:\.\d+)?|(?<![\w.])\d[\d,]*(?:\.\d+)?\s?(?:USD|EUR|GBP)\b)",
    re.IGNORECASE,
)
_OFFER_AFTER_RE = re.compile(r"\s*(?:off|discount|savings?|cash\s?back|back|credit)\b", re.IGNORECASE)
_OFFER_BEFORE_RE = re.compile(r"\b(?:save|saving|extra|up to|take|get|enjoy|discount of)\s*$", re.IGNORECASE)
_PROMISES = {
    "free shipping": re.compile(r"\bfree\s+(?:shipping|delivery)\b|\bships?\s+(?:for\s+)?free\b", re.I),
    "buy one get one": re.compile(r"\bbuy\s+one,?\s+get\s+one\b|\bbogo\b", re.I),
}

Amount = tuple[str, Decimal]  # ("pct" or "money", value)

# "free" as a promise, not "feel free to", "free of charge" said alone, "gluten-free" or "free from"
_FREE_RE = re.compile(r"(?<![\w-])(?<!feel )free\b(?!-|\s+(?:to|of|from)\b)", re.IGNORECASE)
_FREE_REACH = 4  # words that name what is free
_CLAUSE_SPLIT_RE = re.compile(r",\s+(?:and|but|while|so|which)\s+|;\s+|[.!?]\s+|,\s+")
_ARTICLES = frozenset({"a", "an", "the", "any", "all", "every", "each", "your", "our", "this", "that"})
_STOPPERS = frozenset({
    "with", "on", "for", "in", "at", "when", "if", "and", "or", "by", "until", "over", "is", "are",
    "was", "will", "be", "can", "still", "it", "it's", "s", "to", "of", "as", "during", "per", "off",
    "from", "after", "before", "within",
})  # fmt: skip
_LINKS = frozenset({
    "is", "are", "was", "were", "be", "will", "still", "for", "always", "completely", "totally",
})  # fmt: skip
# "a free evening", "the afternoons are still free": free as in not busy, not as in no charge
_TIME = frozenset({
    "evening", "afternoon", "morning", "night", "day", "weekend", "time", "hour", "moment", "minute",
})  # fmt: skip
_SAME_THING = {
    "shipping": "delivery", "ship": "delivery", "shipped": "delivery", "postage": "delivery",
    "delivered": "delivery", "deliver": "delivery", "post": "delivery", "posted": "delivery",
}  # fmt: skip


def _thing(word: str) -> str:
    word = word.rstrip("s") if len(word) > 3 and not word.endswith("ss") else word
    return _SAME_THING.get(word, word)


def _same_word(a: str, b: str) -> bool:
    """One word, or one's stem the other's start ("alter", "alterations"): at least 5 letters."""
    short, long = sorted((a, b), key=len)
    return short == long or (len(short) >= 5 and long.startswith(short))


def _named(words: list[str]) -> list[str]:
    """The first words of `words` up to a stop word, articles before them skipped."""
    named: list[str] = []
    for word in words:
        if word in _ARTICLES and not named:
            continue
        if word in _STOPPERS or word in _ARTICLES:
            break
        named.append(_thing(word))
        if len(named) == _FREE_REACH:
            break
    return named


def _free_things(clause: str) -> list[set[str]]:
    """What each "free" of `clause` says is free: the words after it ("free UK delivery"), else
    the words before it ("entry is free", "any rug ordered by 30 June is free")."""
    low = clause.lower()
    things = []
    for match in _FREE_RE.finditer(low):
        after = _named(re.findall(r"[a-z0-9']+", low[match.end() :]))
        behind = list(reversed(re.findall(r"[a-z0-9']+", low[: match.start()])))
        while behind and behind[0] in _LINKS:
            behind.pop(0)  # "entry is still free", "watch for free"
        before = _named(behind)
        things.append(set(after or before))
    return things


def _clauses(text: str) -> list[str]:
    return [c for c in _CLAUSE_SPLIT_RE.split(prose(text)) if c.strip()]


def unbound_free(text: str, brief: Brief, brand: BrandKit) -> list[str]:
    """Each clause of `text` that says something is free without naming what the brief or the brand
    says is free ("Any rug ordered before 30 June is free" when the brief gives a free cushion cover
    with any rug): the promise of something for nothing must be the one the shop makes."""
    sources = [brief.offer, brief.goal, *brief.facts, *brief.constraints, brand.tagline or ""]
    given = {w for source in sources for clause in _clauses(source) for t in _free_things(clause) for w in t}
    wrong: list[str] = []
    for clause in _clauses(text):
        said = {_thing(w) for w in re.findall(r"[a-z0-9']+", clause.lower())}
        for thing in _free_things(clause):
            if not thing or thing & _TIME:
                continue  # "it's free" names nothing to check; "a free evening" is no promise
            if not any(_same_word(a, b) for a in said for b in given):  # none the shop gives free
                wrong.append(clause.strip())
                break
    return wrong


def _value(text: str) -> Decimal | None:
    number = re.search(r"\d[\d,]*(?:\.\d+)?", text)
    if not number:
        return None
    digits = number.group(0)
    # "19,99" is a decimal comma; "1,299" is a thousands separator.
    digits = digits.replace(",", ".") if re.fullmatch(r"\d+,\d{2}", digits) else digits.replace(",", "")
    try:
        return Decimal(digits).normalize()
    except InvalidOperation:
        return None


def _amounts(text: str) -> Iterator[tuple[Amount, bool, re.Match[str]]]:
    """(amount, reads as a discount, match) for each percentage or currency amount."""
    for match in _AMOUNT_RE.finditer(text):
        value = _value(match.group(0))
        if value is None:
            continue
        before = text[max(0, match.start() - 25) : match.start()]
        after = text[match.end() : match.end() + 25]
        is_offer = bool(_OFFER_AFTER_RE.match(after) or _OFFER_BEFORE_RE.search(before))
        yield ("pct" if match.group("pct") else "money", value), is_offer, match


def _check_offer_consistency(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    brief_text = "\n".join([brief.offer, brief.goal, *brief.facts, *brief.constraints])
    offered = {amount for amount, _, _ in _amounts(brief_text)}
    prices = {("money", v) for p in brand.products if p.price for v in [_value(p.price)] if v is not None}
    findings: list[Finding] = []
    found: set[Amount] = set()
    for name, text in copy_fields(draft):
        plain = prose(text)
        for amount, is_offer, match in _amounts(plain):
            found.add(amount)
            kind, _ = amount
            if kind == "pct" and not is_offer:
                continue  # "100% soy wax" is a fact, not an offer
            allowed = offered if is_offer else offered | prices
            if amount not in allowed:
                what = "discount" if is_offer else "price"
                message = f"{what} {match.group(0).strip()} in {name} is not in the brief's offer"
                findings.append(
                    Finding("block", message, [f"{name}: {window(plain, match.start(), match.end())}"])
                )
        for clause in unbound_free(text, brief, brand):
            message = f"something free in {name} that the brief does not offer"
            findings.append(Finding("block", message, [f"{name}: {clause}"]))
        for promise, pattern in _PROMISES.items():
            hit = pattern.search(plain)
            if hit and not pattern.search(brief_text):
                message = f"{promise!r} promise in {name} is not in the brief's offer"
                findings.append(Finding("block", message, [f"{name}: {hit.group(0)}"]))
    discount = brief.discount
    if discount:
        wanted = next((amount for amount, _, _ in _amounts(discount)), None)
        if wanted is not None and wanted not in found:
            findings.append(
                Finding("warn", f"the brief's discount {discount} is not in the draft", [discount])
            )
    return findings


GATES: tuple[Gate, ...] = (
    Gate(
        "offer_consistency",
        "block",
        "discounts, prices and promises match the brief and brand",
        _check_offer_consistency,
    ),
)
