"""The link and contact gates against links and addresses in disguise, and against ordinary copy."""

from __future__ import annotations

from dataclasses import replace

import pytest

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.gates import run_gates
from genai.links import idna_host, unmask

CTA = "https://lumencandles.com/holiday"
BRAND = BrandKit(
    name="Lumen Candles",
    website="https://www.lumencandles.com",
    allowed_domains=["lumencandles.com", "bücher.example"],
    emails=["hello@lumencandles.com"],
)
BRIEF = Brief(goal="Holiday sale", offer="20% off all candles", cta_url=CTA, segments=[{"name": "all"}])
DRAFT = EmailDraft(
    subject="Your holiday glow",
    preheader="Warm up the season with hand-poured candles.",
    headline="Hand-poured warmth for the holidays",
    body=["Every candle is poured by hand in small batches.", "Light one tonight."],
    cta_label="Shop the sale",
    cta_url=CTA,
)


def gate(body: str, gate_id: str = "links") -> tuple[bool, str]:
    draft = replace(DRAFT, body=[body, *DRAFT.body])
    found = next(r for r in run_gates(draft, BRIEF, BRAND) if r.gate_id == gate_id)
    return found.passed, found.message


DISGUISED_LINKS = [
    "Visit evil.example today.",
    "Visit https://evil.example/sale today.",
    "Visit evil\u2024example today.",  # one dot leader
    "Visit evil\uff0eexample today.",  # fullwidth full stop
    "Visit evil\u3002example today.",  # ideographic full stop
    "Visit evil\uff61example today.",  # halfwidth ideographic full stop
    "Visit evil\u2027example today.",  # hyphenation point
    "Visit evil\ufe52example today.",  # small full stop
    "Visit evil\u30fbexample today.",  # katakana middle dot
    "Visit evil\u00b7example today.",  # middle dot
    "Visit evil\u2219example today.",  # bullet operator
    "Visit \uff45\uff56\uff49\uff4c\uff0e\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45 today.",  # fullwidth
    "Visit ｈｔｔｐｓ：／／evil.example today.",
    "Visit e\u200bvil.example today.",  # zero-width space
    "Visit evil\u200c.example today.",  # zero-width non-joiner
    "Visit evil.\u200dexample today.",  # zero-width joiner
    "Visit evil\u2060.example today.",  # word joiner
    "Visit \ufeffevil.example today.",  # byte-order mark
    "Visit evil.exam\u00adple today.",  # soft hyphen
    "Visit hxxp://evil.example/sale today.",
    "Visit hxxps://evil.example today.",
    "Visit hxxps[:]//evil.example today.",
    "Visit evil[.]example today.",
    "Visit evil(.)example today.",
    "Visit evil{.}example today.",
    "Visit evil [.] example today.",
    "Visit evil[dot]example today.",
    "Visit evil (dot) example today.",
    "Visit evil dot com today.",
    "Visit shop.evil\u3002com today.",
    "Visit https://lumencandles.com\u200b.evil.example/ today.",
    "Visit lumencandles\uff0ecom\uff0eevil\uff0eexample today.",
    "Visit EVIL.EXAMPLE today.",
    "Visit brаnd.com today.",  # Cyrillic a
    "Visit xn--brnd-4wa.com today.",
    "Visit www.lumencandles.co today.",
    "Order today.Shop our sale.",  # no space after a stop reads as the .shop domain
]


@pytest.mark.parametrize("body", DISGUISED_LINKS)
def test_a_link_in_any_disguise_to_another_domain_is_blocked(body: str) -> None:
    passed, message = gate(body)

    assert not passed, f"{body!r} passed the link gate"
    assert "is neither the brief's CTA nor a brand domain" in message


ORDINARY_COPY = [
    "Candles are 12.50 each, or 3 for 30.00 today.",
    "Our shop is open Mon.-Fri., 9 a.m. to 5 p.m.",
    "Sizes run from 1.5 to 2.5 inches, i.e. small to large.",
    "Download menu.pdf, e.g. for gifts.",
    "Dr. Smith and St. Ives agree: No. 5 is the best.",
    "We ship to the U.S.A. and the U.K. every week.",
    "Candles \u00b7 Soap \u00b7 Gifts, all hand-poured.",
    "La col\u00b7lecci\u00f3 de Nadal és aquí.",  # Catalan l·l
    "ありがとうございます。またお越しください。",  # a Japanese sentence end
    "新品上市。欢迎光临。",
    "Polka dot candles are back, in red and white.",
    "Meet us (at) the market this Sunday.",
    "Find care tips at www.lumencandles.com/care.",
    "Find care tips at https://lumencandles.com/care.",
    "Find care tips at lumencandles\uff0ecom/care.",
    "Order at https://lumencandles.com/holiday today.",
    "Books at bücher.example and xn--bcher-kva.example.",
    "Burns for 50 hours\u200b, guaranteed.",
    "Version 2.0 of our soy blend is here.",
]


@pytest.mark.parametrize("body", ORDINARY_COPY)
def test_ordinary_copy_and_brand_links_pass_the_link_gate(body: str) -> None:
    passed, message = gate(body)

    assert passed, message


@pytest.mark.parametrize(
    "body",
    [
        "Write to sales@evil.example with questions.",
        "Write to sales@evil\uff0eexample with questions.",
        "Write to sales[at]evil.example with questions.",
        "Write to sales (at) evil (dot) example with questions.",
        "Write to sales@evil\u3002example with questions.",
        "Write to sa\u200bles@evil.example with questions.",
    ],
)
def test_an_email_address_in_any_disguise_that_the_kit_lacks_is_blocked(body: str) -> None:
    passed, message = gate(body, "contact_details")

    assert not passed and "is not in the brand kit" in message


def test_the_brands_own_address_in_fullwidth_is_allowed() -> None:
    passed, message = gate("Write to ｈｅｌｌｏ＠ｌｕｍｅｎｃａｎｄｌｅｓ．ｃｏｍ today.", "contact_details")

    assert passed, message


@pytest.mark.parametrize(
    ("text", "plain"),
    [
        ("evil\u3002com", "evil.com"),
        ("e\u200bvil[.]com", "evil.com"),
        ("hxxps[:]//evil.com", "https://evil.com"),
        ("\uff45\uff56\uff49\uff4c\uff0e\uff43\uff4f\uff4d", "evil.com"),
        ("col\u00b7lecció", "col\u00b7lecció"),
        ("終わり。次", "終わり。次"),
    ],
)
def test_unmask_folds_disguises_back_and_leaves_prose_alone(text: str, plain: str) -> None:
    assert unmask(text) == plain


def test_hosts_compare_in_their_ascii_form() -> None:
    assert idna_host("Bücher.Example.") == "xn--bcher-kva.example"
    assert idna_host("xn--bcher-kva.example") == "xn--bcher-kva.example"


def brand_gate(gate_id: str, **changes: str) -> tuple[bool, str, list[str]]:
    brand = replace(BRAND, **changes)
    found = next(r for r in run_gates(DRAFT, BRIEF, brand) if r.gate_id == gate_id)
    return found.passed, found.message, found.evidence


@pytest.mark.parametrize(
    ("field", "value", "evidence"),
    [
        ("tagline", "Candles at evil\uff0eexample", "brand.tagline: evil.example"),
        ("name", "Lumen Candles (evil.example)", "brand.name: evil.example"),
        ("address", "12 Mill Lane, Hudson NY, see hxxp://evil.example", "brand.address: http://evil.example"),
    ],
)
def test_a_link_in_the_brands_rendered_parts_is_blocked_too(field: str, value: str, evidence: str) -> None:
    passed, _, found = brand_gate("links", **{field: value, "allowed_domains": ["lumencandles.com"]})

    assert not passed and evidence in found


def test_an_address_in_the_brands_footer_that_the_kit_lacks_is_blocked() -> None:
    passed, message, found = brand_gate("contact_details", address="12 Mill Lane. Write to x@evil.example")

    assert not passed and "x@evil.example" in message and found == ["brand.address: x@evil.example"]


def test_the_brands_own_name_tagline_address_and_website_pass() -> None:
    for gate_id in ("links", "contact_details"):
        passed, message, _ = brand_gate(
            gate_id, tagline="Hand-poured at lumencandles.com", address="12 Mill Lane, Hudson NY 12534"
        )
        assert passed, message
