"""Link and contact gates: links only to the CTA or the brand, contact details only from the kit.

Both read everything a rendered e-mail shows: the draft's fields and the brand's own parts (its
name, tagline, postal address and website link, see `genai.render.brand_parts`), since a brand kit
can come from a page no one here controls."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import urlsplit

from genai.brand import BrandKit
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.gates.base import Finding, Gate
from genai.gates.text import digits, phones
from genai.links import emails, idna_host, urls
from genai.render import brand_parts


def _host(url: str) -> str | None:
    """The host of a link in its ASCII (IDNA) form, with or without a scheme; None if unreadable."""
    try:
        host = urlsplit(url if "://" in url else f"http://{url}").hostname
    except ValueError:
        return None
    return idna_host(host) if host else None


def _domain(entry: str) -> str:
    """An allowed-domain entry ("https://www.brand.com/", "*.brand.com") as a bare domain."""
    host = _host(entry.strip()) or ""
    return host.removeprefix("*.").removeprefix("www.").strip(".")


def _without_scheme(url: str) -> str:
    host, _, rest = url.split("://", 1)[-1].partition("/")
    return f"{host.lower()}/{rest}".rstrip("/")


def _link_allowed(url: str, cta_url: str, domains: Iterable[str]) -> bool:
    if _without_scheme(url) == _without_scheme(cta_url):
        return True
    host = _host(url)
    return host is not None and any(host == d or host.endswith(f".{d}") for d in domains if d)


def _check_links(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    domains = {_domain(d) for d in brand.allowed_domains}
    if brand.website:
        domains.add(_domain(brand.website))
    # The brand's parts are rendered into every e-mail, so a link in them is checked like the draft's.
    fields = [*draft.text_fields().items(), ("cta_url", draft.cta_url), *brand_parts(brand).items()]
    return [
        Finding(
            "block",
            f"link to {_host(url) or url} is neither the brief's CTA nor a brand domain",
            [f"{name}: {url}"],
        )
        for name, text in fields
        for url in urls(text)
        if not _link_allowed(url, brief.cta_url, domains)
    ]


def _same_phone(a: str, b: str) -> bool:
    """Digit strings match, allowing a country code or trunk zero on one side only."""
    if a == b:
        return True
    a, b = a.lstrip("0"), b.lstrip("0")
    short, long = sorted((a, b), key=len)
    return len(short) >= 7 and len(long) - len(short) <= 3 and long.endswith(short)


def _check_contact_details(draft: EmailDraft, brief: Brief, brand: BrandKit) -> list[Finding]:
    known_emails = {e.strip().lower().removeprefix("mailto:") for e in brand.emails}
    known_phones = [digits(p) for p in brand.phones if digits(p)]
    findings: list[Finding] = []
    for name, text in [*draft.text_fields().items(), *brand_parts(brand).items()]:
        for email in emails(text):
            if email.lower() not in known_emails:
                message = f"e-mail address {email} is not in the brand kit"
                findings.append(Finding("block", message, [f"{name}: {email}"]))
        for phone in phones(text):
            if not any(_same_phone(digits(phone), known) for known in known_phones):
                message = f"phone number {phone} is not in the brand kit"
                findings.append(Finding("block", message, [f"{name}: {phone}"]))
    return findings


GATES: tuple[Gate, ...] = (
    Gate("links", "block", "links only to the brief's CTA URL or the brand's domains", _check_links),
    Gate(
        "contact_details",
        "block",
        "e-mail addresses and phone numbers only from the brand kit",
        _check_contact_details,
    ),
)
