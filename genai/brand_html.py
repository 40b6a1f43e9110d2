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
  or id) says "logo", then og:image or twitter:image; resolved against the page URL.
- products: JSON-LD Product nodes (also inside ItemList and @graph), else product cards in the HTML
  (schema.org microdata or a `product-card`-like class) with a name, a price and a link.
- address: the organisation's JSON-LD PostalAddress, else a visible <address> element.
- website: the `url` the page was fetched from, else the organisation's url, og:url or canonical.
- allowed domains: the website's host and its bare/www twin, plus hosts of product links under
  the same registrable domain. Nothing else on the page can add a domain.
- emails and phones: JSON-LD email/telephone/contactPoint, visible mailto:/tel: links and emails
  written in visible text.

Text in hidden elements (hidden, aria-hidden, display:none, sr-only and the like) is ignored, so text a
visitor cannot see, such as an instruction planted for a language model, never reaches the kit.
"""

from __future__ import annotations

import codecs
import colorsys
import html as htmllib
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any
from urllib.parse import unquote, unquote_plus, urljoin, urlsplit

from genai.brand import BrandKit, FieldSource, Product
from genai.errors import BrandExtractionError, InvalidInputError

__all__ = ["decode_html", "extract_brand", "is_neutral", "registrable_domain", "validate_page_url"]

PALETTE_SIZE = 6
FONTS_SIZE = 4
VOICE_SIZE = 5
MAX_PRODUCTS = 24
MAX_CONTACTS = 10
MAX_URL = 2000

# --------------------------------------------------------------------------- decoding and URLs

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


# Public suffixes of more than one label, so shop.example.co.uk belongs to example.co.uk; a short list
# rather than the full public-suffix list, which would be a new dependency.
_MULTI_LABEL_SUFFIXES = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "gov.uk", "ltd.uk", "plc.uk", "me.uk",
        "com.au", "net.au", "org.au", "co.nz", "org.nz", "co.za", "co.jp", "co.kr", "co.in",
        "com.br", "com.mx", "com.ar", "com.sg", "com.tr", "com.cn", "com.hk", "com.tw", "co.il",
    }
)  # fmt: skip


def registrable_domain(host: str) -> str:
    """The domain a host belongs to: `shop.example.com` -> `example.com`, `a.b.co.uk` -> `b.co.uk`."""
    host = host.lower().strip(".")
    labels = host.split(".")
    if len(labels) <= 2 or re.fullmatch(r"[\d.]+|\[.*\]", host):
        return host
    size = 3 if ".".join(labels[-2:]) in _MULTI_LABEL_SUFFIXES else 2
    return ".".join(labels[-size:])


def _origin(url: str) -> str | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a bad port or IPv6 literal in a URL the page wrote
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    suffix = f":{port}" if port and port not in (80, 443) else ""
    return f"{parts.scheme.lower()}://{parts.hostname}{suffix}"


def _join(base: str, ref: str) -> str | None:
    try:
        return urljoin(base, ref)
    except ValueError:  # a broken IPv6 literal in a link the page wrote
        return None


def _host(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def _clean(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- the parser

_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
     "track", "wbr"}
)  # fmt: skip
_CLOSES_P = frozenset(
    {"address", "article", "aside", "div", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
     "header", "main", "nav", "ol", "p", "section", "table", "ul"}
)  # fmt: skip
_MAX_DEPTH = 512
_MAX_COLLECTING = 32
_HEAD_TAGS = frozenset({"meta", "link", "title", "style", "script", "base", "noscript", "template"})
_SAME_TAG_CLOSES = frozenset({"a", "li", "p", "dt", "dd", "tr", "td", "th", "option"})
_TEXTLESS = frozenset({"template", "noscript", "svg", "head"})
_HIDDEN_CLASSES = frozenset(
    {"hidden", "visually-hidden", "visuallyhidden", "sr-only", "screen-reader-text", "d-none", "is-hidden"}
)
_HIDDEN_STYLE = re.compile(
    r"display\s*:\s*none|visibility\s*:\s*hidden|opacity\s*:\s*0(?:\.0*)?\s*(?:;|$|!)"
    r"|font-size\s*:\s*0(?:px|em|rem)?\s*(?:;|$|!)|(?:left|top)\s*:\s*-\d{4,}px",
    re.I,
)
_ABOUT_HINT = re.compile(r"about|story|mission|hero|intro|welcome", re.I)
_CARD_CLASS = re.compile(
    r"(?:grid-)?product(?:[-_]+(?:card|item|tile|block))?(?:[-_]+wrapper)?|card[-_]+product", re.I
)
_NAME_CLASS = re.compile(r"title|name|heading", re.I)
_PRICE = re.compile(
    r"[$€£¥]\s?\d[\d,]*(?:\.\d{2})?|\d[\d,]*(?:[.,]\d{2})?\s?(?:(?:USD|EUR|GBP|CAD|AUD|kr)\b|€)", re.I
)


@dataclass
class _Card:
    """A product card being read from the HTML."""

    order: int
    names: list[str] = field(default_factory=list)
    prices: list[tuple[int, str]] = field(default_factory=list)  # (preference, text); lower wins
    url: str | None = None
    link_text: str = ""


@dataclass
class _Open:
    """An element that is open while the parser reads on."""

    tag: str
    hidden: bool
    about: bool = False
    logo: bool = False
    text: list[str] | None = None  # collected when this element's text is wanted
    role: str = ""  # "name" or "price" inside a product card
    price_rank: int = 1
    holds_prices: bool = False  # a price wrapper around the real price elements
    card: _Card | None = None
    owns_card: bool = False
    in_svg: bool = False


@dataclass
class _Page:
    """What the parser saw, before any choice is made."""

    title: str | None = None
    meta: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (content, selector)
    canonical: str | None = None
    base_href: str | None = None
    font_links: list[str] = field(default_factory=list)
    styles: list[str] = field(default_factory=list)
    style_attrs: list[str] = field(default_factory=list)
    jsonld: list[str] = field(default_factory=list)
    logo_img: tuple[str, str] | None = None  # (src, alt)
    headings: list[tuple[str, str]] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    mailtos: list[str] = field(default_factory=list)
    tels: list[str] = field(default_factory=list)
    # (order on the page, name, price, url) of product cards found in the HTML
    cards: list[tuple[int, str, str | None, str | None]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    about_text: list[str] = field(default_factory=list)


class _PageParser(HTMLParser):
    """Collects the raw facts of a page; tolerant of unclosed and stray tags."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = _Page()
        self.stack: list[_Open] = []
        self.collecting: list[_Open] = []  # the open elements whose text is wanted
        self.open_tags: Counter[str] = Counter()
        self.started_cards: list[_Card] = []

    # The HTML parser calls these; they stay tolerant of anything a page throws at them.
    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=False)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._start(tag, attrs, self_closing=True)

    def handle_endtag(self, tag: str) -> None:
        if not self.open_tags[tag]:
            return  # a stray end tag; nothing to close
        for index in range(len(self.stack) - 1, -1, -1):
            if self.stack[index].tag == tag:
                while len(self.stack) > index:
                    self._pop()
                return

    def handle_data(self, data: str) -> None:
        top = self.stack[-1] if self.stack else None
        if top is not None and top.tag in ("style", "script"):
            if top.text is not None:
                top.text.append(data)
            return
        if top is not None and top.tag == "title":
            if top.text is not None:
                top.text.append(data)
            return
        if top is not None and top.hidden:
            return
        for open_ in self.collecting:
            if open_.text is not None:
                open_.text.append(data)
        if top is None or not top.in_svg:
            self.page.text.append(data)
            if top is not None and top.about:
                self.page.about_text.append(data)

    def parse_marked_section(self, i: int, report: bool = True) -> int:
        """Skip `<![if IE]>`-style sections the base parser rejects, instead of failing the page."""
        try:
            return super().parse_marked_section(i, report)
        except AssertionError:
            end = self.rawdata.find(">", i + 3)
            return -1 if end < 0 else end + 1

    def finish(self) -> _Page:
        """Close the parser and any element the page left open."""
        self.close()
        while self.stack:
            self._pop()
        return self.page

    def _push(self, entry: _Open) -> None:
        self.stack.append(entry)
        self.open_tags[entry.tag] += 1
        if entry.text is not None:
            if len(self.collecting) >= _MAX_COLLECTING:
                entry.text = None  # only unclosed-tag soup nests this deep; its text is noise
            else:
                self.collecting.append(entry)

    def _pop(self) -> None:
        entry = self.stack.pop()
        self.open_tags[entry.tag] -= 1
        if entry.text is not None:
            self.collecting.remove(entry)
        self._close(entry)

    def _start(self, tag: str, raw: list[tuple[str, str | None]], *, self_closing: bool) -> None:
        attrs: dict[str, str] = {}
        for key, value in raw:
            attrs.setdefault(key.lower(), value or "")
        if tag == "head" and (len(self.stack) > 1 or (self.stack and self.stack[0].tag != "html")):
            return  # a stray <head> inside the body; browsers ignore it too
        self._auto_close(tag)
        parent = self.stack[-1] if self.stack else None
        hidden = (parent is not None and parent.hidden) or _hides(tag, attrs)
        hints = f"{attrs.get('id', '')} {attrs.get('class', '')}"
        if tag == "meta":
            self._meta(attrs)
        elif tag == "link":
            self._link(attrs)
        elif tag == "base" and self.page.base_href is None and attrs.get("href"):
            self.page.base_href = attrs["href"].strip()
        elif tag == "img":
            self._img(attrs, parent, hidden)
        elif tag == "br" and not hidden:
            for open_ in self.collecting:
                if open_.text is not None:
                    open_.text.append("\n")
        if attrs.get("style"):
            self.page.style_attrs.append(attrs["style"])
        # Past this depth the page is broken or hostile; its deeper elements merge into their parent.
        if tag in _VOID or len(self.stack) >= _MAX_DEPTH:
            return
        entry = _Open(
            tag=tag,
            hidden=hidden,
            about=(parent is not None and parent.about) or bool(_ABOUT_HINT.search(hints)),
            logo=(parent is not None and parent.logo) or "logo" in hints.lower(),
            in_svg=(parent is not None and parent.in_svg) or tag == "svg",
        )
        is_jsonld = tag == "script" and attrs.get("type", "").strip().lower() == "application/ld+json"
        is_title = tag == "title" and self.page.title is None and not entry.in_svg
        if is_jsonld or is_title or tag == "style" or (tag in ("h1", "h2", "address", "a") and not hidden):
            entry.text = []
        if tag == "a" and not hidden:
            self._link_target(attrs.get("href", "").strip())
        self._card_start(tag, attrs, entry, parent)
        self._push(entry)
        if self_closing:
            self._pop()

    def _auto_close(self, tag: str) -> None:
        if not self.stack:
            return
        # The body starts at the first tag that cannot live in <head>, whether or not </head> came.
        if tag not in _HEAD_TAGS and self.stack[0].tag in ("head", "html") and self._head_open():
            self.handle_endtag("head")
            if not self.stack:
                return
        top = self.stack[-1].tag
        # A <title> holds only text, so any tag means the page forgot to close it.
        if top == "title" or (tag in _SAME_TAG_CLOSES and top == tag) or (top == "p" and tag in _CLOSES_P):
            self._pop()

    def _head_open(self) -> bool:
        # <head> can only sit at the top of the tree, so looking at the first levels is enough.
        return any(open_.tag == "head" for open_ in self.stack[:3])

    def _close(self, entry: _Open) -> None:
        text = "".join(entry.text) if entry.text is not None else ""
        if entry.tag == "title" and entry.text is not None and self.page.title is None:
            self.page.title = text
        elif entry.tag in ("h1", "h2") and entry.text is not None:
            self.page.headings.append((entry.tag, _clean(text)))
        elif entry.tag == "address" and entry.text is not None:
            self.page.addresses.append(text)
        elif entry.tag == "script" and entry.text is not None:
            self.page.jsonld.append(text)
        elif entry.tag == "style":
            self.page.styles.append(text)
        card = entry.card
        if card is not None and not entry.hidden:
            if entry.role == "name" and _clean(text):
                card.names.append(_clean(text, 120))
            elif entry.role == "price" and not entry.holds_prices and _clean(text):
                card.prices.append((entry.price_rank, _clean(text)))
            if entry.tag == "a" and not card.link_text:
                card.link_text = _clean(text, 120)
        if entry.owns_card and card is not None:
            self._card_done(card)

    def _meta(self, attrs: dict[str, str]) -> None:
        for attr in ("property", "name", "itemprop"):
            key = attrs.get(attr, "").strip().lower()
            content = attrs.get("content", "").strip()
            if key and content:
                self.page.meta.setdefault(key, (content, f"meta[{attr}={key}]"))
                return

    def _link(self, attrs: dict[str, str]) -> None:
        rel = attrs.get("rel", "").lower().split()
        href = attrs.get("href", "").strip()
        if "canonical" in rel and href and self.page.canonical is None:
            self.page.canonical = href
        if _FONT_SERVICE.search(href):
            self.page.font_links.append(href)

    def _img(self, attrs: dict[str, str], parent: _Open | None, hidden: bool) -> None:
        src = attrs.get("src") or attrs.get("data-src") or attrs.get("srcset", "").split(" ")[0]
        in_card = parent is not None and parent.card is not None
        if hidden or not src or self.page.logo_img is not None or in_card:
            return
        hints = " ".join(attrs.get(k, "") for k in ("src", "alt", "class", "id")).lower()
        if "logo" in hints or (parent is not None and parent.logo):
            self.page.logo_img = (src.strip(), attrs.get("alt", "").strip())

    def _link_target(self, href: str) -> None:
        scheme, _, rest = href.partition(":")
        if scheme.lower() == "mailto" and rest:
            self.page.mailtos.append(unquote(rest.split("?")[0]))
        elif scheme.lower() == "tel" and rest:
            self.page.tels.append(unquote(rest))

    def _card_start(self, tag: str, attrs: dict[str, str], entry: _Open, parent: _Open | None) -> None:
        card = parent.card if parent is not None else None
        classes = attrs.get("class", "").split()
        # A card that starts inside another is a sibling whose predecessor was left unclosed.
        if attrs.get("itemtype", "").rstrip("/").lower().endswith("schema.org/product") or any(
            _CARD_CLASS.fullmatch(c) for c in classes
        ):
            card, entry.owns_card = _Card(order=len(self.started_cards)), True
            self.started_cards.append(card)
        entry.card = card
        if card is None or entry.hidden:
            return
        itemprop = attrs.get("itemprop", "").lower()
        if tag == "a" and card.url is None and attrs.get("href"):
            card.url = attrs["href"].strip()
        if itemprop == "price" and attrs.get("content"):
            card.prices.append((0, attrs["content"].strip()))
        elif itemprop == "name" or tag in ("h2", "h3", "h4") or any(_NAME_CLASS.search(c) for c in classes):
            entry.role, entry.text = "name", []
        elif itemprop == "price" or any("price" in c.lower() for c in classes):
            joined = " ".join(classes).lower()
            if tag in ("s", "del") or "compare" in joined or "regular" in joined:
                entry.price_rank = 2
            elif "sale" in joined:
                entry.price_rank = 0
            entry.role, entry.text = "price", []
            for open_ in self.stack:
                open_.holds_prices = open_.holds_prices or open_.role == "price"

    def _card_done(self, card: _Card) -> None:
        name = next((n for n in card.names if n), card.link_text)
        price = None
        for _, text in sorted(card.prices, key=lambda p: p[0]):
            match = _PRICE.search(text) or re.fullmatch(r"\d+(?:\.\d+)?", text)
            if match:
                price = match.group(0)
                break
        if name:
            self.page.cards.append((card.order, name, price, card.url))


def _hides(tag: str, attrs: dict[str, str]) -> bool:
    if tag in _TEXTLESS or "hidden" in attrs or attrs.get("aria-hidden", "").lower() == "true":
        return True
    if _HIDDEN_STYLE.search(attrs.get("style", "")):
        return True
    return any(c.lower() in _HIDDEN_CLASSES for c in attrs.get("class", "").split())


def _parse(text: str) -> _Page:
    parser = _PageParser()
    parser.feed(text)
    return parser.finish()


# --------------------------------------------------------------------------- CSS: colours and fonts

_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.S)
_URL = re.compile(r"""url\(\s*(?:"[^"]*"|'[^']*'|[^)]*)\s*\)""", re.I)
_BLOCK = re.compile(r"([^{}]*)\{([^{}]*)\}")
_VAR = re.compile(r"var\(\s*(--[\w-]+)")
_COLOUR = re.compile(r"#(?P<hex>[0-9a-f]{3,8})\b|\b(?P<fn>rgba?|hsla?)\(\s*(?P<args>[^()]*)\)", re.I)
_TRIPLET = re.compile(r"(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})")
_FONT_SERVICE = re.compile(r"fonts\.(?:googleapis\.com|bunny\.net)/css2?\?([^\"'\s)]+)", re.I)
_FONT_SHORTHAND = re.compile(
    r"(?:^|\s)[\d.]+(?:px|r?em|pt|%|vw|vh|ex|ch)?(?:\s*/\s*[\w.%-]+)?\s+(?P<families>[^\d\s].*)$", re.I
)
_GENERIC_FONTS = frozenset(
    {
        "serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui", "ui-serif", "ui-sans-serif",
        "ui-monospace", "ui-rounded", "emoji", "math", "fangsong", "-apple-system", "blinkmacsystemfont",
        "inherit", "initial", "unset", "revert", "revert-layer",
    }
)  # fmt: skip
# Real themes chain custom properties a few levels deep; longer chains only exist to exhaust the stack.
_MAX_VAR_CHAIN = 16
# Below this spread between the strongest and weakest channel a colour reads as white, grey or black.
_NEUTRAL_CHROMA = 10

_Decl = tuple[str, str]  # (property, value)


def _declarations(body: str) -> Iterator[_Decl]:
    for part in body.split(";"):
        prop, sep, value = part.partition(":")
        prop = prop.strip()
        if not sep or not prop:
            continue
        value = re.sub(r"!\s*important", "", value, flags=re.I).strip()
        yield (prop if prop.startswith("--") else prop.lower()), value


def _css_declarations(styles: Iterable[str], style_attrs: Iterable[str]) -> list[_Decl]:
    decls: list[_Decl] = []
    for css in styles:
        css = _URL.sub("url()", _COMMENT.sub(" ", css))
        for block in _BLOCK.finditer(css):
            decls.extend(_declarations(block.group(2)))
    for attr in style_attrs:
        decls.extend(_declarations(_URL.sub("url()", attr)))
    return decls


def _hex(r: float, g: float, b: float) -> str:
    return "#" + "".join(f"{max(0, min(255, round(c))):02x}" for c in (r, g, b))


def _number(token: str, scale: float) -> float:
    """A CSS number or percentage; `scale` is what 100% means."""
    token = token.strip().lower()
    number = float(token[:-1]) / 100 * scale if token.endswith("%") else float(token.removesuffix("deg"))
    if not math.isfinite(number):
        raise ValueError(f"not a finite number: {token}")
    return number


def _colour(match: re.Match[str]) -> str | None:
    if match.group("hex"):
        digits = match.group("hex").lower()
        if len(digits) in (3, 4):
            digits = "".join(ch * 2 for ch in digits)
        if len(digits) not in (6, 8) or digits[6:] == "00":
            return None
        return "#" + digits[:6]
    parts = [p for p in re.split(r"[\s,/]+", match.group("args").strip()) if p]
    if len(parts) < 3:
        return None
    try:
        if len(parts) > 3 and _number(parts[3], 1.0) == 0:
            return None
        if match.group("fn").lower().startswith("rgb"):
            return _hex(*(_number(p, 255) for p in parts[:3]))
        hue = _number(parts[0], 360) / 360 % 1
        red, green, blue = colorsys.hls_to_rgb(hue, _number(parts[2], 1), _number(parts[1], 1))
    except ValueError:
        return None
    return _hex(red * 255, green * 255, blue * 255)


def _colours_in(value: str) -> list[str]:
    return [c for c in (_colour(m) for m in _COLOUR.finditer(value)) if c]


def is_neutral(colour: str) -> bool:
    """True for white, black and greys (all channels within a few steps of each other)."""
    channels = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    return max(channels) - min(channels) <= _NEUTRAL_CHROMA


def _first_family(value: str) -> str | None:
    """The first family a font-family list names, or None when that is generic or unreadable."""
    first = value.split(",")[0].strip().strip("\"'").strip()
    if not first or first.lower() in _GENERIC_FONTS or not re.fullmatch(r"[A-Za-z][\w .'-]{0,59}", first):
        return None
    return first


class _Tally:
    """Counts items by use, including uses through CSS custom properties (`var(--x)`)."""

    def __init__(self) -> None:
        self.count: Counter[str] = Counter()
        self.first: dict[str, int] = {}
        self.by_property: dict[str, list[tuple[str, int]]] = defaultdict(list)

    def add(self, item: str, weight: int, order: int) -> None:
        self.count[item] += weight
        self.first[item] = min(order, self.first.get(item, order))

    def ranked(self, var_uses: Counter[str], readers: dict[str, list[str]]) -> list[str]:
        """Items most used first; earlier first on ties."""

        memo: dict[str, int] = {}

        def uses(prop: str, path: frozenset[str]) -> int:
            if len(path) > _MAX_VAR_CHAIN:
                return var_uses[prop]
            if prop not in memo:
                nested = sum(uses(r, path | {r}) for r in readers.get(prop, []) if r not in path)
                memo[prop] = var_uses[prop] + nested
            return memo[prop]

        for prop, items in self.by_property.items():
            for item, order in items:
                self.add(item, 1 + uses(prop, frozenset({prop})), order)
        return sorted(self.count, key=lambda item: (-self.count[item], self.first[item]))


def _palette_and_fonts(page: _Page) -> tuple[list[str], list[str]]:
    colours, fonts = _Tally(), _Tally()
    var_uses: Counter[str] = Counter()
    readers: dict[str, list[str]] = defaultdict(list)  # property -> custom properties whose value reads it
    theme = page.meta.get("theme-color")
    for colour in _colours_in(theme[0]) if theme else []:
        colours.add(colour, 1, -1)
    for position, href in enumerate(page.font_links):
        for linked in _font_link_families(href):
            fonts.add(linked, 1, -100 + position)
    for order, (prop, value) in enumerate(_css_declarations(page.styles, page.style_attrs)):
        refs = _VAR.findall(value)
        if prop.startswith("--"):
            for ref in refs:
                readers[ref].append(prop)
            found = _colours_in(value)
            triplet = _TRIPLET.fullmatch(value) if re.search(r"colou?r|background|bg", prop, re.I) else None
            if not found and triplet:  # Shopify themes keep colours as bare "r, g, b" triplets
                found = [_hex(*(float(c) for c in triplet.groups()))]
            colours.by_property[prop].extend((c, order) for c in found)
            family = _first_family(value) if _is_font_property(prop) else None
            if family:
                fonts.by_property[prop].append((family, order))
            continue
        var_uses.update(refs)
        for colour in _colours_in(value):
            colours.add(colour, 1, order)
        families = value if prop == "font-family" else None
        if prop == "font":
            shorthand = _FONT_SHORTHAND.search(value)
            families = shorthand.group("families") if shorthand else None
        family = _first_family(families) if families and not families.startswith("var(") else None
        if family:
            fonts.add(family, 1, order)
    ranked = colours.ranked(var_uses, readers)
    palette = [c for c in ranked if not is_neutral(c)] or ranked
    unique_fonts: dict[str, str] = {}
    for family in fonts.ranked(var_uses, readers):
        unique_fonts.setdefault(family.lower(), family)
    return palette[:PALETTE_SIZE], list(unique_fonts.values())[:FONTS_SIZE]


def _is_font_property(prop: str) -> bool:
    name = prop.lower()
    wanted = "font" in name or "family" in name
    return wanted and not re.search(r"size|weight|height|style|scale|spacing|line|offset|url", name)


def _font_link_families(href: str) -> list[str]:
    match = _FONT_SERVICE.search(href)
    families: list[str] = []
    for param in htmllib.unescape(match.group(1)).split("&") if match else []:
        key, _, value = param.partition("=")
        if key == "family":
            families.extend(unquote_plus(v).split(":")[0].strip() for v in value.split("|"))
    return [f for f in families if f]


# --------------------------------------------------------------------------- JSON-LD

_ORG_TYPES = frozenset(
    {"Organization", "Corporation", "LocalBusiness", "Store", "OnlineStore", "OnlineBusiness", "Brand",
     "CafeOrCoffeeShop", "FoodEstablishment", "Restaurant", "Bakery", "ProfessionalService",
     "AutoRepair", "HealthAndBeautyBusiness", "SportsActivityLocation", "NGO"}
)  # fmt: skip
_NOT_ORG_TYPES = frozenset(
    {"Product", "ProductGroup", "Offer", "AggregateOffer", "WebSite", "WebPage", "ItemList", "ListItem",
     "BreadcrumbList", "ImageObject", "PostalAddress", "ContactPoint", "Person", "Review", "Rating"}
)  # fmt: skip
_PRODUCT_TYPES = frozenset({"Product", "ProductGroup", "IndividualProduct"})


def _types(node: dict[str, Any]) -> list[str]:
    raw = node.get("@type", [])
    values = raw if isinstance(raw, list) else [raw]
    return [str(v).rsplit("/", 1)[-1].removeprefix("schema:") for v in values]


def _text(value: Any) -> str:
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, dict):
        value = value.get("name") or value.get("url") or ""
    return _clean(htmllib.unescape(str(value))) if isinstance(value, str | int | float) else ""


class _JsonLd:
    """The schema.org nodes of a page, with the organisation, website and products picked out."""

    def __init__(self, texts: Iterable[str]) -> None:
        self.nodes: list[dict[str, Any]] = []
        for text in texts:
            text = re.sub(r"^\s*(?:<!--|<!\[CDATA\[)|(?:-->|\]\]>)\s*$", "", text)
            try:
                self._walk(json.loads(text, strict=False))
            except (ValueError, RecursionError):
                continue  # a broken or absurdly nested block must not cost the rest of the page
        self.by_id = {n["@id"]: n for n in self.nodes if isinstance(n.get("@id"), str) and "@type" in n}
        self.org, self.org_type = self._pick_org()
        self.website = next((n for n in self.nodes if "WebSite" in _types(n)), None)

    def _walk(self, root: Any) -> None:
        pending = [root]  # depth first, in document order, without recursion
        while pending:
            value = pending.pop()
            if isinstance(value, list):
                pending.extend(reversed(value))
            elif isinstance(value, dict):
                if "@type" in value:
                    self.nodes.append(value)
                pending.extend(reversed([v for k, v in value.items() if k != "@context"]))

    def deref(self, value: Any) -> Any:
        """The node an `{"@id": ...}` reference points at, or the value itself."""
        if isinstance(value, dict) and "@type" not in value and isinstance(value.get("@id"), str):
            return self.by_id.get(value["@id"], value)
        return value

    def _pick_org(self) -> tuple[dict[str, Any] | None, str]:
        # A product's "brand" is an organisation too, but a weaker one than the page's own.
        for node in self.nodes:
            for kind in _types(node):
                if kind != "Brand" and (kind in _ORG_TYPES or kind.endswith(("Store", "Business", "Shop"))):
                    return node, kind
        for node in self.nodes:
            kinds = _types(node)
            if node.get("address") and not set(kinds) & _NOT_ORG_TYPES:
                return node, kinds[0] if kinds else "Organization"
        brand = next((n for n in self.nodes if "Brand" in _types(n)), None)
        return brand, "Brand"

    def org_value(self, key: str) -> str:
        """A text property of the organisation, or ''."""
        return _text(self.org.get(key)) if self.org else ""

    def address(self) -> str:
        """The organisation's postal address on one line, or ''."""
        if not self.org:
            return ""
        value = self.deref(self.org.get("address"))
        location = self.deref(self.org.get("location"))
        if not value and isinstance(location, dict):
            value = self.deref(location.get("address"))
        if isinstance(value, list):
            value = self.deref(value[0]) if value else None
        if isinstance(value, str):
            return _clean(htmllib.unescape(value))
        if not isinstance(value, dict):
            return ""
        region = " ".join(_text(value.get(k)) for k in ("addressRegion", "postalCode")).strip()
        parts = [_text(value.get("streetAddress")), _text(value.get("addressLocality")), region]
        parts.append(_text(value.get("addressCountry")))
        return _clean(", ".join(p for p in parts if p), 200)

    def logo(self) -> str:
        """The organisation's logo URL as written, or ''."""
        value = self.deref(self.org.get("logo")) if self.org else None
        if isinstance(value, dict):
            value = value.get("url") or value.get("contentUrl")
        return value.strip() if isinstance(value, str) else ""

    def contacts(self, key: str) -> list[str]:
        """Emails or telephones of the organisation and its contact points."""
        if not self.org:
            return []
        points = self.deref(self.org.get("contactPoint"))
        holders = [self.org, *(points if isinstance(points, list) else [points])]
        found: list[str] = []
        for holder in (self.deref(h) for h in holders):
            value = holder.get(key) if isinstance(holder, dict) else None
            found.extend(str(v).strip() for v in (value if isinstance(value, list) else [value]) if v)
        return found

    def products(self) -> tuple[list[Product], str]:
        """Products with their first offer's price; the source names the node type read."""
        products: list[Product] = []
        source = "json-ld:Product"
        for node in self.nodes:
            if set(_types(node)) & _PRODUCT_TYPES:
                products.append(self._product(node))
        for node in self.nodes:
            if "ItemList" not in _types(node):
                continue
            elements = node.get("itemListElement", [])
            for element in elements if isinstance(elements, list) else [elements]:
                element = self.deref(element)
                item = self.deref(element.get("item")) if isinstance(element, dict) else None
                if isinstance(item, dict) and set(_types(item)) & _PRODUCT_TYPES:
                    continue  # already read as a Product node
                holder = item if isinstance(item, dict) else element
                if isinstance(holder, dict) and _text(holder.get("name")):
                    products.append(
                        Product(_text(holder.get("name")), None, _text(holder.get("url")) or None)
                    )
                    source = "json-ld:ItemList"
        return [p for p in products if p.name], source

    def _product(self, node: dict[str, Any]) -> Product:
        offers = self.deref(node.get("offers"))
        offer = self.deref(offers[0]) if isinstance(offers, list) and offers else offers
        price = None
        url = _text(node.get("url"))
        if isinstance(offer, dict):
            spec = self.deref(offer.get("priceSpecification"))
            amount = offer.get("price")
            if amount is None and isinstance(spec, dict):
                amount = spec.get("price")
            prefix = ""
            if amount is None and offer.get("lowPrice") is not None:
                amount, prefix = offer.get("lowPrice"), "from "
            currency = offer.get("priceCurrency") or (
                spec.get("priceCurrency") if isinstance(spec, dict) else ""
            )
            if amount is not None:
                amount_text = f"{amount:.2f}" if isinstance(amount, float) else str(amount).strip()
                price = f"{prefix}{amount_text} {currency or ''}".strip()
            url = url or _text(offer.get("url"))
        return Product(_text(node.get("name")), price, url or None)


# --------------------------------------------------------------------------- voice

_TONES: dict[str, str] = {
    "warm": r"warm|warmth|warmly",
    "cozy": r"cozy|cosy|cozier|cosier|snug|hygge",
    "handcrafted": r"hand-?crafted|hand-?made|hand-?poured|hand-?dipped|hand-?built|artisan(?:al)?"
    r"|small[- ]batch(?:es)?|crafted",
    "playful": r"playful|fun|whimsical|cheeky|quirky",
    "friendly": r"friendly|welcoming|approachable|neighbou?rly",
    "honest": r"honest|transparent|straightforward|no-nonsense|upfront",
    "calm": r"calm|calming|soothing|serene|peaceful|relaxing|tranquil",
    "bold": r"bold|daring|fearless",
    "elegant": r"elegant|refined|sophisticated|timeless",
    "luxurious": r"luxurious|luxury|indulgent|premium",
    "minimal": r"minimal|minimalist|understated",
    "modern": r"modern|contemporary|sleek",
    "rustic": r"rustic|earthy|homespun",
    "expert": r"expert|knowledgeable|experienced|skilled|meticulous",
    "reliable": r"reliable|dependable|trusted|trustworthy",
    "energetic": r"energetic|lively|vibrant|upbeat",
    "adventurous": r"adventurous|daring",
    "thoughtful": r"thoughtful|mindful|intentional|considered",
    "caring": r"caring|gentle|compassionate",
    "sustainable": r"sustainable|sustainably|eco-friendly|eco-conscious|low-waste",
    "local": r"local|locally|neighbou?rhood|community",
}
_TONE_PATTERNS = {tone: re.compile(rf"\b(?:{alts})\b", re.I) for tone, alts in _TONES.items()}
_VOICE_HINTS = ("brand-voice", "brand:voice", "brand-tone")


def _voice(texts: Iterable[str]) -> list[str]:
    text = " ".join(texts)
    found: list[tuple[int, int, str]] = []
    for tone, pattern in _TONE_PATTERNS.items():
        hits = [m.start() for m in pattern.finditer(text)]
        if hits:
            found.append((-len(hits), hits[0], tone))
    return [tone for _, _, tone in sorted(found)][:VOICE_SIZE]


def _voice_hint(content: str) -> list[str]:
    # Only short word-like entries: the hint is free text a page controls, not instructions.
    words = [_clean(w).lower() for w in re.split(r"[,;/|]", content)]
    return [w for w in words if re.fullmatch(r"[a-z][a-z -]{1,29}", w) and len(w.split()) <= 3][:VOICE_SIZE]


# --------------------------------------------------------------------------- choosing the fields

_TITLE_SEPARATORS = re.compile(r"\s*[|·•»]\s*|\s+[-–—]\s+|:\s+")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_NOT_EMAIL_TLDS = frozenset({"png", "jpg", "jpeg", "gif", "webp", "svg", "avif"})


def _squash(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower().replace("&", "and"))


def _split_title(title: str, host: str | None, logo_alt: str) -> tuple[str, str]:
    """Split a title into (brand name, the rest)."""
    parts = [p.strip() for p in _TITLE_SEPARATORS.split(title) if p.strip()]
    if len(parts) < 2:
        return _clean(title, 100), ""
    label = _squash(registrable_domain(host).split(".")[0]) if host else ""

    def matches_host(part: str) -> bool:
        key = _squash(part)
        return len(key) >= 3 and bool(label) and (key in label or label in key)

    chosen = next((p for p in parts if matches_host(p)), None)
    if chosen is None and logo_alt:
        chosen = next((p for p in parts if p.lower() in logo_alt.lower()), None)
    chosen = chosen or parts[0]
    return _clean(chosen, 100), _clean(" | ".join(p for p in parts if p != chosen), 150)


def _title_rest(title: str, name: str) -> str:
    parts = [p.strip() for p in _TITLE_SEPARATORS.split(title) if p.strip()]
    if len(parts) < 2 or name.lower() not in (p.lower() for p in parts):
        return ""
    return _clean(" | ".join(p for p in parts if p.lower() != name.lower()), 150)


@dataclass
class _Extraction:
    """The page facts and the kit's fields as they are chosen, with their sources."""

    page: _Page
    ld: _JsonLd
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
        self.sources[name] = FieldSource(source, _clean(detail))

    def website(self) -> str | None:
        candidates: list[tuple[str | None, str]] = [
            (self.url, "url"),
            (self.ld.org_value("url"), f"json-ld:{self.ld.org_type}.url"),
            (self.meta_value("og:url"), "meta[property=og:url]"),
            (self.page.canonical, "link[rel=canonical]"),
            (_text(self.ld.website.get("url")) if self.ld.website else None, "json-ld:WebSite.url"),
        ]
        for value, source in candidates:
            origin = _origin(value) if value else None
            if origin:
                self.note("website", source, value or "")
                return origin
        return None

    def base(self, website: str | None) -> str | None:
        page_url = self.url or self.page.canonical or self.meta_value("og:url") or website
        if page_url and not _origin(page_url):
            page_url = website
        if not self.page.base_href:
            return page_url
        joined = _join(page_url, self.page.base_href) if page_url else self.page.base_href
        return joined if joined and _origin(joined) else page_url

    def name(self, host: str | None) -> str:
        logo_alt = self.page.logo_img[1] if self.page.logo_img else ""
        direct = [
            self.meta("og:site_name"),
            (self.ld.org_value("name"), f"json-ld:{self.ld.org_type}.name"),
            self.meta("application-name", "apple-mobile-web-app-title"),
            (_text(self.ld.website.get("name")) if self.ld.website else "", "json-ld:WebSite.name"),
        ]
        for found in direct:
            if found and _clean(found[0]):
                self.note("name", found[1])
                return _clean(found[0], 100)
        titled = [(self.page.title or "", "title"), self.meta("og:title"), self.meta("twitter:title")]
        for found in titled:
            if found and found[0] and _clean(found[0]):
                name, _ = _split_title(_clean(found[0]), host, logo_alt)
                self.note("name", found[1], _clean(found[0]))
                return name
        raise BrandExtractionError(
            "no brand name found: the page has no <title>, og:site_name, og:title or JSON-LD name",
            field="name",
        )

    def tagline(self, name: str) -> str:
        slogan = self.ld.org_value("slogan")
        if slogan:
            self.note("tagline", f"json-ld:{self.ld.org_type}.slogan")
            return _clean(slogan, 150)
        for found in [(self.page.title, "title"), self.meta("og:title"), self.meta("twitter:title")]:
            title = _clean(found[0]) if found and found[0] else ""
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
        found = self.meta("description", "og:description", "twitter:description")
        if found:
            self.note("description", found[1])
            return _clean(found[0], 500)
        for value, source in [
            (self.ld.org_value("description"), f"json-ld:{self.ld.org_type}.description"),
            (
                _text(self.ld.website.get("description")) if self.ld.website else "",
                "json-ld:WebSite.description",
            ),
        ]:
            if value:
                self.note("description", source)
                return _clean(value, 500)
        return ""

    def voice(self, tagline: str, description: str) -> list[str]:
        hint = self.meta(*_VOICE_HINTS)
        if hint and _voice_hint(hint[0]):
            self.note("voice", hint[1])
            return _voice_hint(hint[0])
        texts = [tagline, description, self.ld.org_value("description"), *self.page.about_text]
        texts.extend(m[0] for k in ("og:description", "twitter:description") if (m := self.meta(k)))
        words = _voice(texts)
        if words:
            self.note("voice", "text", "tone words in the tagline, descriptions and about sections")
        return words

    def palette_and_fonts(self) -> tuple[list[str], list[str]]:
        palette, fonts = _palette_and_fonts(self.page)
        theme = self.meta("theme-color")
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
        products, source = self.ld.products()
        if not products:
            products = [Product(n, p, u) for _, n, p, u in sorted(self.page.cards)]
            source = "html:product cards"
        unique: dict[str, Product] = {}
        for product in products:
            product.name = _clean(product.name, 120)
            product.price = _clean(product.price, 40) if product.price else None
            product.url = resolve(product.url) if product.url else None
            unique.setdefault(product.name.lower(), product)
        chosen = list(unique.values())[:MAX_PRODUCTS]
        if chosen:
            self.note("products", source, f"{len(chosen)} product{'s' if len(chosen) != 1 else ''}")
        return chosen

    def address(self) -> str | None:
        value = self.ld.address()
        if value:
            self.note("address", f"json-ld:{self.ld.org_type}.address")
            return value
        for raw in self.page.addresses:
            lines = [_clean(line) for line in raw.splitlines()]
            kept = [
                line for line in lines if line and "@" not in line and not re.fullmatch(r"[\d\s()+.-]+", line)
            ]
            joined = ", ".join(kept)
            if re.search(r"\d", joined) and len(joined) >= 10:
                self.note("address", "address")
                return _clean(joined, 200)
        return None

    def emails(self) -> list[str]:
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
        found = [(p, f"json-ld:{self.ld.org_type}.telephone") for p in self.ld.contacts("telephone")]
        found.extend((p, "a[href^=tel:]") for p in self.page.tels)
        phones: list[str] = []
        digits_seen: set[str] = set()
        for raw, source in found:
            phone = _clean(raw.removeprefix("tel:"), 40)
            digits = re.sub(r"\D", "", phone)
            if len(digits) >= 6 and digits[-9:] not in digits_seen and len(phones) < MAX_CONTACTS:
                digits_seen.add(digits[-9:])
                phones.append(phone)
                self.sources.setdefault("phones", FieldSource(source))
        return phones


def _allowed_domains(website: str | None, page_url: str | None, products: list[Product]) -> list[str]:
    host = _host(website)
    if not host:
        return []
    site = registrable_domain(host)
    domains = [host]
    if host in (site, f"www.{site}"):  # a shop.example.com site gets no www twin: none exists
        domains.append(site if host != site else f"www.{site}")
    for other in [_host(page_url), *(_host(p.url) for p in products)]:
        if other and registrable_domain(other) == site:
            domains.append(other)
    return list(dict.fromkeys(d for d in domains if d))


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
    page = _parse(text)
    ex = _Extraction(page=page, ld=_JsonLd(page.jsonld), url=url)
    website = ex.website()
    name = ex.name(_host(url or website))
    base = ex.base(website)

    def resolve(ref: str) -> str | None:
        ref = ref.strip()
        if not ref or len(ref) > MAX_URL or ref.lower().startswith(("data:", "javascript:", "#")):
            return None
        if not base:
            return "https:" + ref if ref.startswith("//") else ref
        return _join(base, ref)

    tagline = ex.tagline(name)
    description = ex.description()
    palette, fonts = ex.palette_and_fonts()
    products = ex.products(resolve)
    domains = _allowed_domains(website, url, products)
    if domains:
        ex.note(
            "allowed_domains", "website", "website host, its www twin and product hosts on the same domain"
        )
    kit = BrandKit(
        name=name,
        tagline=tagline,
        description=description,
        voice=ex.voice(tagline, description),
        palette=palette,
        fonts=fonts,
        logo_url=ex.logo(resolve),
        products=products,
        website=website,
        address=ex.address(),
        allowed_domains=domains,
        emails=ex.emails(),
        phones=ex.phones(),
    )
    kit.sources = ex.sources
    return kit
