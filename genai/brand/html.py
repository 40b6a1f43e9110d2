"""Reading a brand kit out of a brand's web page, with the standard library HTML parser only.

Where each field comes from, first match wins (the choice is kept in `BrandKit.sources`):

- name: og:site_name, the JSON-LD organisation's name, application-name, the JSON-LD WebSite's name,
  then <title>, og:title or twitter:title split on separators ("Brand | Tagline"): the part that
  matches the site's host, else the part that the logo's alt text names, else the first part.
- tagline: the organisation's JSON-LD slogan, the rest of a split title, then the first visible <h1>.
- description: meta description, og:description, twitter:description, then JSON-LD descriptions.
- voice: a `<meta name="brand-voice" content="warm, cozy">` hint; otherwise the tone words of a small
  lexicon found in the tagline, the descriptions and visible about/story/hero sections, most
  frequent first (at most five).
- palette: colours in <style> blocks, style attributes and theme-color, ranked by how often they are
  used; a CSS custom property counts once for its definition plus once per `var()` that reads it,
  directly or through other properties. theme-color counts as one use and wins ties. Neutral colours
  (white, black, greys) are left out whenever the page has any other colour, so they only make up
  a palette of a monochrome brand. At most six colours.
- fonts: the first family of each font-family (or `font` shorthand, or font custom property) ranked
  by use like colours, plus Google Fonts links; a declaration that starts with a generic or system
  family (sans-serif, system-ui, -apple-system) names no brand font. At most four.
- logo: the organisation's JSON-LD logo, an <img> whose src, alt, class or id (or an ancestor's class
  or id) says "logo", then og:image or twitter:image; resolved against the page URL. Only a logo on
  the brand's own domain (that of the URL given, or fetched from) is taken; without a URL only a
  relative one, since og:url, canonical and <base> are the page's word about itself.
- products: JSON-LD Product nodes (also inside ItemList and @graph), else product cards in the HTML
  (schema.org microdata or a `product-card`-like class) with a name, a price and a link; a link off
  the brand's own domain is left out as the logo's is.
- address: the organisation's JSON-LD PostalAddress, else a visible <address> element.
- website: the `url` the page was fetched from, else the organisation's url, og:url or canonical.
- allowed domains: the website's host and its bare/www twin, plus hosts of product links under
  the same registrable domain. Nothing else on the page can add a domain.
- emails and phones: JSON-LD email/telephone/contactPoint, visible mailto:/tel: links and emails
  written in visible text.

Text in hidden elements (hidden, aria-hidden, display:none, sr-only and the like) is ignored, so text a
visitor cannot see, such as an instruction planted for a language model, never reaches the kit.
Visible text is data too: in the name, tagline, description, address and product names and prices,
a sentence that instructs a model, links off the brand's domain or gives an e-mail address is
dropped (`screen`), and every removal is flagged in the field's source and the completeness report.

The work is split by what it reads: `page` walks the HTML, `css` ranks colours and fonts, `jsonld`
reads schema.org data, `text` finds tone words, `urls` handles hosts, `fields` makes the choices
above and `screen` takes instructions and links out of the chosen text. This module decodes the
page and puts the kit together.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from urllib.parse import urlsplit

from genai.brand.fields import Extraction
from genai.brand.jsonld import JsonLd
from genai.brand.kit import BrandKit, FieldSource, Product
from genai.brand.page import parse_page
from genai.brand.screen import screen_text
from genai.brand.urls import allowed_domains, host_of, join_url, registrable_domain, validate_page_url
from genai.errors import BrandExtractionError, InvalidInputError
from genai.links import idna_host

__all__ = ["decode_html", "extract_brand"]

MAX_URL = 2000

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
# Browsers read these labels as windows-1252, and pages that declare them rely on that.
_WINDOWS_1252_LABELS = frozenset({"iso8859-1", "latin-1", "ascii"})


def decode_html(data: bytes, declared: str | None = None) -> str:
    """Decode page bytes: BOM, then the HTTP or <meta charset> declaration, else strict UTF-8."""
    if data.startswith(codecs.BOM_UTF8):
        data, declared = data[len(codecs.BOM_UTF8) :], "utf-8"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        declared = "utf-16"
    if declared is None:
        match = _META_CHARSET.search(data[:4096])
        declared = match.group(1).decode("ascii") if match else None
    codec = "utf-8"
    if declared:
        try:
            codec = codecs.lookup(declared).name
        except LookupError:
            codec = "utf-8"
    if codec in _WINDOWS_1252_LABELS:
        codec = "cp1252"
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        if codec == "utf-8" and not declared:
            reason = "page is not UTF-8 text and declares no other charset in <meta charset>"
        else:
            reason = f"page declares charset {declared!r} but its bytes are not valid {codec}"
        raise InvalidInputError(reason, field="html") from None


def extract_brand(html: str | bytes, url: str | None = None, *, encoding: str | None = None) -> BrandKit:
    """Read a brand kit from a page's HTML; `url` is where the page lives, for links and the website."""
    if url is not None:
        url = validate_page_url(url)
    if isinstance(html, bytes | bytearray):
        text = decode_html(bytes(html), encoding)
    elif isinstance(html, str):
        text = html
    else:
        raise InvalidInputError("must be HTML text or bytes", field="html")
    page = parse_page(text)
    ex = Extraction(page=page, ld=JsonLd(page.jsonld), url=url)
    website = ex.website()
    name = ex.name(host_of(url or website))
    # Only the URL the page was given or fetched from says whose page it is; what the page says of
    # itself (og:url, canonical, <base>) could name anyone's domain.
    own_host = host_of(url)
    own = registrable_domain(idna_host(own_host)) if own_host else None
    base = ex.base(website) if url else None
    flags: dict[str, list[str]] = {}

    def flag(field: str, reasons: list[str]) -> None:
        flags.setdefault(field, []).extend(r for r in reasons if r not in flags.get(field, []))

    def screened(field: str, value: str) -> str:
        result = screen_text(value, own)
        flag(field, result.flagged)
        return result.text

    def resolver(field: str) -> Callable[[str], str | None]:
        def resolve(ref: str) -> str | None:
            ref = ref.strip()
            if not ref or len(ref) > MAX_URL or ref.lower().startswith(("data:", "javascript:", "#")):
                return None
            if not base:
                resolved: str | None = "https:" + ref if ref.startswith("//") else ref
            else:
                resolved = join_url(base, ref)
            if resolved and not _on_own_site(resolved, own):
                where = f"the brand's own domain {own}" if own else "the page's URL (none was given)"
                flag(field, [f"{resolved} was left out: it is not on {where}"])
                return None
            return resolved

        return resolve

    name = screened("name", name)
    if not name:
        raise BrandExtractionError(
            "no brand name found: the page's name is an instruction or a link, not a name", field="name"
        )
    tagline = screened("tagline", ex.tagline(name))
    description = screened("description", ex.description())
    palette, fonts = ex.palette_and_fonts()
    products = _screened_products(ex.products(resolver("products")), own, flag)
    domains = allowed_domains(website, url, products)
    if domains:
        ex.note(
            "allowed_domains", "website", "website host, its www twin and product hosts on the same domain"
        )
    address = ex.address()
    kit = BrandKit(
        name=name,
        tagline=tagline,
        description=description,
        voice=ex.voice(tagline, description),
        palette=palette,
        fonts=fonts,
        logo_url=ex.logo(resolver("logo_url")),
        products=products,
        website=website,
        address=screened("address", address) or None if address else None,
        allowed_domains=domains,
        emails=ex.emails(),
        phones=ex.phones(),
    )
    for field, reasons in flags.items():
        ex.sources.setdefault(field, FieldSource("page")).flagged.extend(reasons)
    kit.sources = ex.sources
    return kit


def _on_own_site(link: str, own: str | None) -> bool:
    """True for a relative link, or an absolute one on the registrable domain `own`."""
    try:
        parts = urlsplit(link)
    except ValueError:
        return False
    if not parts.scheme and not parts.netloc:
        return True
    host = parts.hostname
    return bool(host and own and registrable_domain(idna_host(host)) == own)


def _screened_products(
    products: list[Product], own: str | None, flag: Callable[[str, list[str]], None]
) -> list[Product]:
    kept: list[Product] = []
    for product in products:
        named = screen_text(product.name, own)
        price = screen_text(product.price, own) if product.price else None
        flag("products", named.flagged + (price.flagged if price else []))
        if named.text:
            kept.append(Product(named.text, price.text or None if price else None, product.url))
    return kept
