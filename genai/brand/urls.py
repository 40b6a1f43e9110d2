"""URLs and hosts for brand extraction: page URL validation, origins, registrable and allowed domains."""

from __future__ import annotations

import re
from urllib.parse import urljoin, urlsplit

from genai.brand.kit import Product
from genai.errors import InvalidInputError

__all__ = ["allowed_domains", "host_of", "join_url", "origin", "registrable_domain", "validate_page_url"]

# Public suffixes of more than one label, so shop.example.co.uk belongs to example.co.uk; a short list
# rather than the full public-suffix list, which would be a new dependency.
_MULTI_LABEL_SUFFIXES = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk",
        "com.au", "net.au", "org.au", "co.nz", "org.nz", "co.za", "co.jp", "co.kr", "co.in",
        "com.br", "com.mx", "com.ar", "com.sg", "com.tr", "com.cn", "com.hk", "com.tw", "co.il",
    }
)  # fmt: skip


def validate_page_url(url: str, *, field: str = "url") -> str:
    """Return `url` stripped when it is an absolute http(s) URL, else raise InvalidInputError."""
    if not isinstance(url, str):
        raise InvalidInputError("must be an absolute http(s) URL", field=field)
    url = url.strip()
    try:
        parts = urlsplit(url)
        ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed IPv6 bracket
        ok = False
    if not ok or re.search(r"\s", url):
        raise InvalidInputError(f"{url!r} is not an absolute http(s) URL", field=field)
    return url


def registrable_domain(host: str) -> str:
    """The domain a host belongs to: `shop.example.com` -> `example.com`, `a.b.co.uk` -> `b.co.uk`."""
    host = host.lower().strip(".")
    labels = host.split(".")
    if len(labels) <= 2 or re.fullmatch(r"[\d.]+|\[.*\]", host):
        return host
    size = 3 if ".".join(labels[-2:]) in _MULTI_LABEL_SUFFIXES else 2
    return ".".join(labels[-size:])


def origin(url: str) -> str | None:
    """The `scheme://host[:port]` of an http(s) URL, or None for any other or unreadable URL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad port or IPv6 literal in a URL the page wrote
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    suffix = f":{port}" if port and port not in (80, 443) else ""
    return f"{parts.scheme.lower()}://{parts.hostname}{suffix}"


def join_url(base: str, ref: str) -> str | None:
    """`ref` resolved against `base`, or None when the page wrote a URL that cannot be joined."""
    try:
        return urljoin(base, ref)
    except ValueError:  # a broken IPv6 literal in a link the page wrote
        return None


def host_of(url: str | None) -> str | None:
    """The lower-cased host of a URL, or None when there is no URL or it is unreadable."""
    if not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def allowed_domains(website: str | None, page_url: str | None, products: list[Product]) -> list[str]:
    """The website's host, its bare/www twin, and page and product hosts under the same domain."""
    host = host_of(website)
    if not host:
        return []
    site = registrable_domain(host)
    domains = [host]
    if host in (site, f"www.{site}"):  # a shop.example.com site gets no www twin: none exists
        domains.append(site if host != site else f"www.{site}")
    for other in [host_of(page_url), *(host_of(p.url) for p in products)]:
        if other and registrable_domain(other) == site:
            domains.append(other)
    return list(dict.fromkeys(d for d in domains if d))
