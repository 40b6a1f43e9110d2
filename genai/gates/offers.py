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
