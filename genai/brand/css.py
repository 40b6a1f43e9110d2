"""Colours and fonts of a brand's page, read from its CSS and ranked by use.

Colours come from <style> blocks, style attributes and theme-color, normalised to `#rrggbb`; a CSS custom
property counts once for its definition plus once per `var()` that reads it, directly or through other
properties. Neutral colours only make up the palette of a monochrome page. Fonts are the first family of
each font-family, `font` shorthand or font custom property, plus Google Fonts and Bunny Fonts links.
"""

from __future__ import annotations

import colorsys
import html as htmllib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from urllib.parse import unquote_plus

from genai.color import is_neutral

__all__ = ["FONTS_SIZE", "PALETTE_SIZE", "is_font_link", "palette_and_fonts"]

PALETTE_SIZE = 6
FONTS_SIZE = 4

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


def palette_and_fonts(
    theme_color: str | None, font_links: Iterable[str], styles: Iterable[str], style_attrs: Iterable[str]
) -> tuple[list[str], list[str]]:
    """The page's colours and font families, most used first; theme-color wins colour ties."""
    colours, fonts = _Tally(), _Tally()
    var_uses: Counter[str] = Counter()
    readers: dict[str, list[str]] = defaultdict(list)  # property -> custom properties whose value reads it
    for colour in _colours_in(theme_color) if theme_color else []:
        colours.add(colour, 1, -1)
    for position, href in enumerate(font_links):
        for linked in _font_link_families(href):
            fonts.add(linked, 1, -100 + position)
    for order, (prop, value) in enumerate(_css_declarations(styles, style_attrs)):
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


def is_font_link(href: str) -> bool:
    """True for a stylesheet link to a web font service (Google Fonts, Bunny Fonts)."""
    return bool(_FONT_SERVICE.search(href))
