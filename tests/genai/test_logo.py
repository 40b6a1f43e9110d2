"""A brand's logo goes into e-mails only when it loads as an image every mail client shows."""

from __future__ import annotations

import logging
import re

import httpx
import pytest

from genai.brand import BrandKit
from genai.brand.kit import FieldSource
from genai.brand.logo import LOGO_UNUSABLE, logo_problem, verify_logo
from genai.draft import EmailDraft
from genai.render import render_html
from tests.support.live_server import PNG_PIXEL

LOGO = "https://shop.example.com/logo.png"


def _transport(status: int, content: bytes, media_type: str) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        if str(request.url) != LOGO:
            return httpx.Response(404)
        return httpx.Response(status, content=content, headers={"content-type": media_type})

    return httpx.MockTransport(handler)


def _kit(logo: str | None = LOGO) -> BrandKit:
    return BrandKit(
        name="Lumen Tea",
        palette=["#0f766e", "#f5f5f4"],
        logo_url=logo,
        website="https://shop.example.com/",
        sources={"logo_url": FieldSource("json-ld:Organization.logo")},
    )


def test_a_logo_that_loads_as_a_png_is_kept() -> None:
    kit = _kit()
    assert verify_logo(kit, timeout=5, transport=_transport(200, PNG_PIXEL, "image/png")) is kit


@pytest.mark.parametrize(
    ("status", "content", "media_type", "reason"),
    [
        (404, b"missing", "text/html", "answered HTTP 404"),
        (200, b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "not a PNG, JPEG, GIF or WebP"),
        (200, b"<html>login</html>", "image/png", "does not hold the image/png"),
        (200, PNG_PIXEL * 20_000, "image/png", "byte limit"),
    ],
)
def test_a_logo_that_does_not_load_as_an_email_image_is_left_out_with_the_reason(
    status: int, content: bytes, media_type: str, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="copyloop.brand"):
        checked = verify_logo(_kit(), timeout=5, transport=_transport(status, content, media_type))
    assert checked.logo_url is None
    flagged = checked.sources["logo_url"].flagged
    # the marketer reads one plain reason; what the fetch met goes to the server's log only
    assert flagged == [f"{LOGO} was left out, the brand name stands in for it: {LOGO_UNUSABLE}"]
    assert reason in caplog.text and reason not in flagged[0]
    assert checked.sources["logo_url"].source == "json-ld:Organization.logo"
    assert any(w.startswith("logo_url: ") for w in checked.completeness().warnings)


def test_a_logo_on_a_reserved_name_is_left_out_without_a_lookup() -> None:
    problem = logo_problem("https://wickandwillow.example/cdn/logo.png", timeout=0.001)
    assert problem == "wickandwillow.example is a reserved name that never resolves"


def test_a_private_address_is_never_fetched_for_a_logo() -> None:
    problem = logo_problem("http://127.0.0.1/logo.png", timeout=2)
    assert problem is not None and "127.0.0.1" in problem


def test_the_email_shows_the_brand_name_in_its_colour_where_the_logo_was_left_out() -> None:
    draft = EmailDraft(
        subject="Fresh leaves are in",
        preheader="Our spring harvest has arrived.",
        headline="Spring tea is here",
        greeting="Hi *|FNAME|*,",
        body=["The first flush is in the shop."],
        cta_label="Shop now",
        cta_url="https://shop.example.com/",
    )
    checked = verify_logo(_kit(), timeout=5, transport=_transport(404, b"", "text/html"))
    html = render_html(draft, checked)
    assert "<img" not in html
    assert re.search(r'<p style="[^"]*font-weight:bold;color:#0f766e;[^"]*">Lumen Tea</p>', html)
    kept = render_html(
        draft, verify_logo(_kit(), timeout=5, transport=_transport(200, PNG_PIXEL, "image/png"))
    )
    assert f'<img src="{LOGO}" alt="Lumen Tea"' in kept
