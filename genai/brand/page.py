"""The walk over a brand's page: one pass of the standard library HTML parser that collects raw facts.

The walk is tolerant of unclosed and stray tags, as browsers are. Text in hidden elements (hidden,
aria-hidden, display:none, sr-only and the like) is skipped, so text a visitor cannot see never
reaches the facts. No choice between facts is made here; see `genai.brand.fields`.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import unquote

from genai.brand.css import is_font_link
from genai.brand.text import clean_text

__all__ = ["Page", "parse_page"]

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
class Page:
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
        self.page = Page()
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

    def finish(self) -> Page:
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
            self.page.headings.append((entry.tag, clean_text(text)))
        elif entry.tag == "address" and entry.text is not None:
            self.page.addresses.append(text)
        elif entry.tag == "script" and entry.text is not None:
            self.page.jsonld.append(text)
        elif entry.tag == "style":
            self.page.styles.append(text)
        card = entry.card
        if card is not None and not entry.hidden:
            if entry.role == "name" and clean_text(text):
                card.names.append(clean_text(text, 120))
            elif entry.role == "price" and not entry.holds_prices and clean_text(text):
                card.prices.append((entry.price_rank, clean_text(text)))
            if entry.tag == "a" and not card.link_text:
                card.link_text = clean_text(text, 120)
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
        if is_font_link(href):
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


def parse_page(text: str) -> Page:
    """Walk a page's HTML once and return what it holds, hidden text left out."""
    parser = _PageParser()
    parser.feed(text)
    return parser.finish()
