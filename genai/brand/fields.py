"""Choosing each field of a brand kit from the facts of a page, first match wins, noting its source.

The order of preference for each field is set out in `genai.brand.html`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from genai.brand.css import palette_and_fonts
from genai.brand.jsonld import JsonLd, node_text
from genai.brand.kit import FieldSource, Product
from genai.brand.page import Page
from genai.brand.text import VOICE_HINTS, clean_text, tone_words, voice_hint_words
from genai.brand.urls import join_url, origin, registrable_domain
from genai.errors import BrandExtractionError

__all__ = ["MAX_CONTACTS", "MAX_PRODUCTS", "Extraction"]

MAX_PRODUCTS = 24
MAX_CONTACTS = 10

_TITLE_SEPARATORS = re.compile(r"\s*[|·•»]\s*|\s+[-–—]\s+|:\s+")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_NOT_EMAIL_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "webp", "svg", "avif"})


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("&", "and"))


def _split_title(title: str, host: str | None, logo_alt: str) -> tuple[str, str]:
    """Split a title into (brand name, the rest)."""
    parts = [p.strip() for p in _TITLE_SEPARATORS.split(title) if p.strip()]
    if len(parts) < 2:
        return clean_text(title, 100), ""
    label = _squash(registrable_domain(host).split(".")[0]) if host else ""

    def matches_host(part: str) -> bool:
        key = _squash(part)
        return len(key) >= 3 and bool(label) and (key in label or label in key)

    chosen = next((p for p in parts if matches_host(p)), None)
    if chosen is None and logo_alt:
        chosen = next((p for p in parts if p.lower() in logo_alt.lower()), None)
    chosen = chosen or parts[0]
    return clean_text(chosen, 100), clean_text(" | ".join(p for p in parts if p != chosen), 150)


def _title_rest(title: str, name: str) -> str:
    parts = [p.strip() for p in _TITLE_SEPARATORS.split(title) if p.strip()]
    if len(parts) < 2 or name.lower() not in (p.lower() for p in parts):
        return ""
    return clean_text(" | ".join(p for p in parts if p.lower() != name.lower()), 150)


@dataclass
class Extraction:
    """The page facts and the kit's fields as they are chosen, with their sources."""

    page: Page
    ld: JsonLd
    url: str | None
    sources: dict[str, FieldSource] = field(default_factory=dict)

    def meta(self, *keys: str) -> tuple[str, str] | None:
        """The first of these meta tags the page has, as (content, selector)."""
        return next((self.page.meta[k] for k in keys if k in self.page.meta), None)

    def meta_value(self, key: str) -> str:
        """The content of one meta tag, or ''."""
        found = self.meta(key)
        return found[0] if found else ""

    def note(self, name: str, source: str, detail: str = "") -> None:
        """Record where a field came from."""
        self.sources[name] = FieldSource(source, clean_text(detail))

    def website(self) -> str | None:
        """The site's origin: the fetched URL, else the organisation's url, og:url or canonical."""
        candidates: list[tuple[str | None, str]] = [
            (self.url, "url"),
            (self.ld.org_value("url"), f"json-ld:{self.ld.org_type}.url"),
            (self.meta_value("og:url"), "meta[property=og:url]"),
            (self.page.canonical, "link[rel=canonical]"),
            (node_text(self.ld.website.get("url")) if self.ld.website else None, "json-ld:WebSite.url"),
        ]
        for value, source in candidates:
            found = origin(value) if value else None
            if found:
                self.note("website", source, value or "")
                return found
        return None

    def base(self, website: str | None) -> str | None:
        """The URL relative links resolve against, honouring a <base href> that is http(s)."""
        page_url = self.url or self.page.canonical or self.meta_value("og:url") or website
        if page_url and not origin(page_url):
            page_url = website
        if not self.page.base_href:
            return page_url
        joined = join_url(page_url, self.page.base_href) if page_url else self.page.base_href
        return joined if joined and origin(joined) else page_url

    def name(self, host: str | None) -> str:
        """The brand's name, or BrandExtractionError when the page names none."""
        logo_alt = self.page.logo_img[1] if self.page.logo_img else ""
        direct = [
            self.meta("og:site_name"),
            (self.ld.org_value("name"), f"json-ld:{self.ld.org_type}.name"),
            self.meta("application-name", "apple-mobile-web-app-title"),
            (node_text(self.ld.website.get("name")) if self.ld.website else "", "json-ld:WebSite.name"),
        ]
        for found in direct:
            if found and clean_text(found[0]):
                self.note("name", found[1])
                return clean_text(found[0], 100)
        titled = [(self.page.title or "", "title"), self.meta("og:title"), self.meta("twitter:title")]
        for found in titled:
            if found and found[0] and clean_text(found[0]):
                name, _ = _split_title(clean_text(found[0]), host, logo_alt)
                self.note("name", found[1], clean_text(found[0]))
                return name
        raise BrandExtractionError(
            "no brand name found: the page has no <title>, og:site_name, og:title or JSON-LD name",
            field="name",
        )

    def tagline(self, name: str) -> str:
        """The slogan, the rest of a split title, else the first fitting <h1>, or ''."""
        slogan = self.ld.org_value("slogan")
        if slogan:
            self.note("tagline", f"json-ld:{self.ld.org_type}.slogan")
            return clean_text(slogan, 150)
        for found in [(self.page.title, "title"), self.meta("og:title"), self.meta("twitter:title")]:
            title = clean_text(found[0]) if found and found[0] else ""
            rest = _title_rest(title, name) if found and title else ""
            if found and rest:
                self.note("tagline", found[1], title)
                return rest
        for tag, text in self.page.headings:
            if tag == "h1" and 8 <= len(text) <= 150 and text.lower() != name.lower():
                self.note("tagline", "h1")
                return text
        return ""

    def description(self) -> str:
        """The meta description, else a JSON-LD description, or ''."""
        found = self.meta("description", "og:description", "twitter:description")
        if found:
            self.note("description", found[1])
            return clean_text(found[0], 500)
        for value, source in [
            (self.ld.org_value("description"), f"json-ld:{self.ld.org_type}.description"),
            (
                node_text(self.ld.website.get("description")) if self.ld.website else "",
                "json-ld:WebSite.description",
            ),
        ]:
            if value:
                self.note("description", source)
                return clean_text(value, 500)
        return ""

    def voice(self, tagline: str, description: str) -> list[str]:
        """The page's brand-voice hint, else the tone words of its visible text."""
        hint = self.meta(*VOICE_HINTS)
        if hint and voice_hint_words(hint[0]):
            self.note("voice", hint[1])
            return voice_hint_words(hint[0])
        texts = [tagline, description, self.ld.org_value("description"), *self.page.about_text]
        texts.extend(m[0] for k in ("og:description", "twitter:description") if (m := self.meta(k)))
        words = tone_words(texts)
        if words:
            self.note("voice", "text", "tone words in the tagline, descriptions and about sections")
        return words

    def palette_and_fonts(self) -> tuple[list[str], list[str]]:
        """Colours and font families ranked by use in the CSS."""
        theme = self.meta("theme-color")
        page = self.page
        palette, fonts = palette_and_fonts(
            theme[0] if theme else None, page.font_links, page.styles, page.style_attrs
        )
        css = len(self.page.styles) + len(self.page.style_attrs)
        if palette and not css:
            self.note("palette", "meta[name=theme-color]")
        elif palette:
            detail = f"ranked by use across <style> blocks ({len(self.page.styles)}) and style attributes "
            detail += f"({len(self.page.style_attrs)})" + (", plus theme-color" if theme else "")
            self.note("palette", "css", detail)
        if fonts:
            links = bool(self.page.font_links)
            self.note(
                "fonts", "css" if css else "font link", "ranked by use, plus font links" if links else ""
            )
        return palette, fonts

    def logo(self, resolve: Callable[[str], str | None]) -> str | None:
        """The organisation's logo, a logo <img>, else og:image or twitter:image, resolved."""
        candidates = [(self.ld.logo(), f"json-ld:{self.ld.org_type}.logo")]
        if self.page.logo_img:
            candidates.append((self.page.logo_img[0], "img[logo]"))
        candidates.extend((m[0], m[1]) for k in ("og:image", "twitter:image") if (m := self.meta(k)))
        for value, source in candidates:
            resolved = resolve(value) if value else None
            if resolved:
                self.note("logo_url", source, value)
                return resolved
        return None

    def products(self, resolve: Callable[[str], str | None]) -> list[Product]:
        """JSON-LD products, else HTML product cards, one per name, with resolved links."""
        products, source = self.ld.products()
        if not products:
            products = [Product(n, p, u) for _, n, p, u in sorted(self.page.cards)]
            source = "html:product cards"
        unique: dict[str, Product] = {}
        for product in products:
            product.name = clean_text(product.name, 120)
            product.price = clean_text(product.price, 40) if product.price else None
            product.url = resolve(product.url) if product.url else None
            unique.setdefault(product.name.lower(), product)
        chosen = list(unique.values())[:MAX_PRODUCTS]
        if chosen:
            self.note("products", source, f"{len(chosen)} product{'s' if len(chosen) != 1 else ''}")
        return chosen

    def address(self) -> str | None:
        """The organisation's postal address, else a visible <address> that looks like one."""
        value = self.ld.address()
        if value:
            self.note("address", f"json-ld:{self.ld.org_type}.address")
            return value
        for raw in self.page.addresses:
            lines = [clean_text(line) for line in raw.splitlines()]
            kept = [
                line for line in lines if line and "@" not in line and not re.fullmatch(r"[\d\s()+.-]+", line)
            ]
            joined = ", ".join(kept)
            if re.search(r"\d", joined) and len(joined) >= 10:
                self.note("address", "address")
                return clean_text(joined, 200)
        return None

    def emails(self) -> list[str]:
        """Distinct emails from JSON-LD, mailto: links and visible text."""
        found: list[tuple[str, str]] = [
            (e, f"json-ld:{self.ld.org_type}.email") for e in self.ld.contacts("email")
        ]
        found.extend((e, "a[href^=mailto:]") for e in self.page.mailtos)
        found.extend((m.group(0), "text") for m in _EMAIL.finditer(" ".join(self.page.text)))
        emails: list[str] = []
        for raw, source in found:
            email = raw.removeprefix("mailto:").strip().lower()
            if (
                _EMAIL.fullmatch(email)
                and email.rsplit(".", 1)[-1] not in _NOT_EMAIL_TLDS
                and email not in emails
                and len(emails) < MAX_CONTACTS
            ):
                emails.append(email)
                self.sources.setdefault("emails", FieldSource(source))
        return emails

    def phones(self) -> list[str]:
        """Distinct phone numbers from JSON-LD and tel: links."""
        found = [(p, f"json-ld:{self.ld.org_type}.telephone") for p in self.ld.contacts("telephone")]
        found.extend((p, "a[href^=tel:]") for p in self.page.tels)
        phones: list[str] = []
        digits_seen: set[str] = set()
        for raw, source in found:
            phone = clean_text(raw.removeprefix("tel:"), 40)
            digits = re.sub(r"\D", "", phone)
            if len(digits) >= 6 and digits[-9:] not in digits_seen and len(phones) < MAX_CONTACTS:
                digits_seen.add(digits[-9:])
                phones.append(phone)
                self.sources.setdefault("phones", FieldSource(source))
        return phones
