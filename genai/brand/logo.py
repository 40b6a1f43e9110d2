"""Checking a brand's logo before it goes into e-mails: a logo that does not load is left out.

An e-mail cannot notice that its image failed: the subscriber sees a broken-image box. So the logo
is fetched once when the brand is read (public hosts only, one deadline, the rules of
`genai.brand.fetch`) and kept only when it answers with an image every mail client shows (PNG,
JPEG, GIF or WebP; not SVG). Otherwise the rendered e-mail shows the brand's name in its colour, and
the brand kit's completeness report says why the logo was left out.
"""

from __future__ import annotations

import dataclasses
import logging
from urllib.parse import urlsplit

import httpx

from genai.brand.fetch import fetch_image
from genai.brand.fetch_policy import FetchPolicy
from genai.brand.kit import BrandKit, FieldSource
from genai.errors import BrandFetchError, InvalidInputError

__all__ = ["LOGO_MAX_BYTES", "LOGO_UNUSABLE", "RESERVED_SUFFIXES", "logo_problem", "verify_logo"]

LOGO_MAX_BYTES = 1_000_000
LOGO_UNUSABLE = "it did not load as a PNG, JPEG, GIF or WebP image from a public address"
log = logging.getLogger("copyloop.brand")
# Names that never resolve on the internet (RFC 2606 and 6761): no lookup is needed to know.
RESERVED_SUFFIXES = (".example", ".test", ".invalid", ".localhost")


def logo_problem(
    url: str,
    *,
    timeout: float,
    policy: FetchPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> str | None:
    """Why the logo at `url` cannot go into an e-mail, or None when it loads as an e-mail image."""
    host = (urlsplit(url).hostname or "").rstrip(".").lower()
    if transport is None and (host.endswith(RESERVED_SUFFIXES) or host in {s[1:] for s in RESERVED_SUFFIXES}):
        return f"{host} is a reserved name that never resolves"
    try:
        fetch_image(url, timeout=timeout, max_bytes=LOGO_MAX_BYTES, policy=policy, transport=transport)
    except (BrandFetchError, InvalidInputError) as exc:
        return exc.message
    return None


def verify_logo(
    kit: BrandKit,
    *,
    timeout: float,
    policy: FetchPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> BrandKit:
    """`kit` as it is when its logo loads; else without the logo, and the reason in its sources."""
    if not kit.logo_url:
        return kit
    problem = logo_problem(kit.logo_url, timeout=timeout, policy=policy, transport=transport)
    if problem is None:
        return kit
    # The fetch's own words (refused, a status, a timeout) go to the log, not into the kit the
    # client reads: as with brand pages, they would tell which hosts and ports answer.
    log.info("logo %s left out: %s", kit.logo_url, problem)
    previous = kit.sources.get("logo_url", FieldSource("page"))
    reason = f"{kit.logo_url} was left out, the brand name stands in for it: {LOGO_UNUSABLE}"
    sources = {**kit.sources, "logo_url": dataclasses.replace(previous, flagged=[*previous.flagged, reason])}
    return dataclasses.replace(kit, logo_url=None, sources=sources)
