"""Render drafts into a responsive, accessible HTML email, its plain-text part and a preview index page."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import jinja2
from markupsafe import Markup, escape

from genai.brand import BrandKit
from genai.campaign import CampaignDraft, Variant
from genai.color import AA_NORMAL_TEXT, adjust_to_contrast, best_text_color, contrast_ratio, is_near_white
from genai.color import normalize_hex as _normalize_hex
from genai.draft import MERGE_TAG_RE, EmailDraft, merge_tag
from genai.errors import InvalidInputError

__all__ = [
    "DEFAULT_CTA_COLOR",
    "PREVIEW_AS",
    "TEXT_WIDTH",
    "brand_parts",
    "cta_colors",
    "font_stack",
    "preview_html",
    "render_html",
    "render_index",
    "render_text",
    "safe_url",
]

DEFAULT_CTA_COLOR = "#1a3d7c"  # dark blue, 10.5:1 against white text
TEXT_WIDTH = 78
FALLBACK_FONTS = ("Helvetica", "Arial", "sans-serif")

_MERGE_TAG_URL_RE = re.compile(r"\*\|[A-Z0-9_:]+\|\*")
_LANG_RE = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")
_RTL_LANGS = frozenset({"ar", "arc", "dv", "fa", "he", "ks", "ku", "ps", "sd", "ug", "ur", "yi"})
_FONT_NAME_RE = re.compile(r"[^A-Za-z0-9 \-]")
_GENERIC_FONTS = frozenset(
    {"serif", "sans-serif", "monospace", "cursive", "fantasy", "system-ui", "ui-sans-serif", "ui-serif"}
)
_MAX_BRAND_FONTS = 2


def safe_url(url: str | None, *, allow_relative: bool = False) -> str:
    """Return `url` if it is an http(s) URL, a bare merge tag or (if allowed) a relative path, else `#`."""
    if not url:
        return "#"
    url = url.strip()
    if _MERGE_TAG_URL_RE.fullmatch(url):
        return url
    # Browsers drop whitespace and control characters inside schemes ("java\tscript:"), so refuse them all.
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in url):
        return "#"
    try:
        parts = urlsplit(url)
    except ValueError:
        return "#"
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return url
    if allow_relative and not parts.scheme and not parts.netloc and not url.startswith(("/\\", "\\")):
        return url
    return "#"


def cta_colors(brand: BrandKit) -> tuple[str, str, float]:
    """The CTA button's background, its text colour and their contrast ratio, adjusted to WCAG AA."""
    background = DEFAULT_CTA_COLOR
    for i, raw in enumerate(brand.palette):
        try:
            color = _normalize_hex(raw, field=f"palette[{i}]")
        except InvalidInputError:
            # A scraped kit can hold junk like "transparent"; the completeness report flags it, not rendering.
            continue
        if not is_near_white(color):
            background = color
            break
    text = best_text_color(background)
    background = adjust_to_contrast(background, text, AA_NORMAL_TEXT)
    return background, text, contrast_ratio(background, text)


def font_stack(brand: BrandKit) -> str:
    """A CSS font-family list: the brand's fonts (sanitised, quoted) then web-safe fallbacks."""
    names: list[str] = []
    seen: set[str] = set()
    for entry in brand.fonts:
        for piece in entry.split(","):
            # Keep only name characters: quotes, semicolons and braces could leave the CSS value.
            name = " ".join(_FONT_NAME_RE.sub("", piece).split())
            if not name or name.lower() in _GENERIC_FONTS or name.lower() in seen:
                continue
            seen.add(name.lower())
            names.append(name)
    names = names[:_MAX_BRAND_FONTS]
    fallbacks = [f for f in FALLBACK_FONTS if f.lower() not in seen]
    return ", ".join([f"'{n}'" for n in names] + fallbacks)


def _lang_attrs(lang: str) -> tuple[str, str]:
    if not _LANG_RE.fullmatch(lang):
        raise InvalidInputError(f"{lang!r} is not a BCP 47 language tag", field="lang")
    primary = lang.split("-", 1)[0].lower()
    return lang, "rtl" if primary in _RTL_LANGS else "ltr"


def _address_lines(brand: BrandKit) -> list[str]:
    lines = [line.strip() for line in (brand.address or "").splitlines() if line.strip()]
    return lines or [merge_tag("LIST:ADDRESS")]


def brand_parts(brand: BrandKit) -> dict[str, str]:
    """The brand's text and links as every rendered e-mail shows them, by name, for the gates."""
    parts = {"brand.name": brand.name, "brand.tagline": brand.tagline}
    if brand.address:
        parts["brand.address"] = "\n".join(_address_lines(brand))
    website = safe_url(brand.website)
    if website != "#":
        parts["brand.website"] = website
    return {name: text for name, text in parts.items() if text}


def _wrap(text: str, width: int = TEXT_WIDTH) -> str:
    """Wrap each line of `text` to `width` columns without splitting URLs or merge tags."""
    return "\n".join(
        textwrap.fill(line, width=width, break_long_words=False, break_on_hyphens=False)
        if line.strip()
        else ""
        for line in text.splitlines()
    )


@lru_cache(maxsize=1)
def _html_env() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("genai", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@lru_cache(maxsize=1)
def _text_env() -> jinja2.Environment:
    # Plain text is never parsed as HTML, so escaping would only put "&lt;" in front of readers.
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("genai", "templates"),
        autoescape=False,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["wrap"] = _wrap
    return env


def _email_context(draft: EmailDraft, brand: BrandKit) -> dict[str, Any]:
    background, text_color, ratio = cta_colors(brand)
    logo = safe_url(brand.logo_url) if brand.logo_url else "#"
    return {
        "draft": draft,
        "brand": brand,
        "cta_url": safe_url(draft.cta_url),
        "cta_bg": background,
        "cta_fg": text_color,
        "cta_ratio": ratio,
        "logo_url": None if logo == "#" else logo,
        # the brand's name stands in for a missing logo, and styles the alt text of one that fails
        "wordmark_color": background if contrast_ratio(background, "#ffffff") >= 4.5 else "#111111",
        "website": None if safe_url(brand.website) == "#" else safe_url(brand.website),
        "address_lines": _address_lines(brand),
        # Sanitised to name characters and fixed quotes above, so it is safe raw inside <style> too.
        "font_stack": Markup(font_stack(brand)),
        "unsubscribe": merge_tag("UNSUB"),
    }


def render_html(draft: EmailDraft, brand: BrandKit, *, lang: str = "en") -> str:
    """Render `draft` as a table-based, responsive HTML email in the brand's colours and fonts."""
    lang, direction = _lang_attrs(lang)
    context = _email_context(draft, brand)
    return _html_env().get_template("email.html.j2").render(lang=lang, direction=direction, **context)


def render_text(draft: EmailDraft, brand: BrandKit) -> str:
    """Render the plain-text part of `draft`: greeting, headline, paragraphs, CTA and footer."""
    url = safe_url(draft.cta_url)
    return (
        _text_env()
        .get_template("email.txt.j2")
        .render(
            draft=draft,
            brand=brand,
            cta_url=None if url == "#" else url,
            address_lines=_address_lines(brand),
            unsubscribe=merge_tag("UNSUB"),
        )
    )


def _lineage_line(variant: Variant) -> str:
    lin = variant.lineage
    parts = [
        lin.model_id + (f" + {lin.adapter}" if lin.adapter else ""),
        f"{lin.prompt_name}@{lin.prompt_version}",
    ]
    # candidate j of seed s names the draws that wrote this variant: together they reproduce it
    parts.append(f"seed {lin.seed} #{lin.candidate}" if lin.seed is not None else "no seed")
    parts.append(f"{lin.tokens_in}→{lin.tokens_out} tokens")
    parts.append(f"{lin.latency_s:.2f} s")
    return " · ".join(parts)


# Sample subscriber values the preview fills merge tags with ("preview as"), as e-mail platforms do.
PREVIEW_AS: dict[str, str] = {
    "FNAME": "Alex",
    "LNAME": "Morgan",
    "EMAIL": "alex@example.com",
    "UNSUB": "#unsubscribe",
    "UPDATE_PROFILE": "#preferences",
    "ARCHIVE": "#archive",
}
_IF_BLOCK_RE = re.compile(
    r"\*\|(IF|IFNOT):([A-Z0-9_:]+)\|\*(.*?)(?:\*\|ELSE:?\|\*(.*?))?\*\|END:IF\|\*", re.DOTALL
)


def preview_html(html: str, brand: BrandKit, sample: dict[str, str] | None = None) -> str:
    """`html` as a subscriber sees it: merge tags filled with sample values, conditions resolved."""
    values = {**PREVIEW_AS, **(sample or {})}
    values.setdefault("LIST:ADDRESS", ", ".join(_address_lines(brand)) or brand.name)

    def condition(match: re.Match[str]) -> str:
        kind, name, yes, no = match.group(1), match.group(2), match.group(3), match.group(4) or ""
        present = bool(values.get(name))
        return yes if present == (kind == "IF") else no

    out = html
    for _ in range(3):  # nested conditions, innermost first
        out = _IF_BLOCK_RE.sub(condition, out)
    return MERGE_TAG_RE.sub(lambda m: escape(values.get(m.group(1), "")), out)


def render_index(
    campaign: CampaignDraft,
    brand: BrandKit,
    *,
    variant_href: Callable[[Variant], str] | None = None,
) -> str:
    """A self-contained preview page: a section per segment, a column per variant with its rendered email."""
    sections = []
    for segment, variants in campaign.variants.items():
        columns = []
        for variant in sorted(variants, key=lambda v: v.rank):
            href = safe_url(variant_href(variant), allow_relative=True) if variant_href else None
            columns.append(
                {
                    "variant": variant,
                    "failed_gates": [g for g in variant.gates if not g.passed],
                    "passed_gates": sum(1 for g in variant.gates if g.passed),
                    "lineage": _lineage_line(variant),
                    "email_html": preview_html(variant.html or render_html(variant.draft, brand), brand),
                    "href": None if href == "#" else href,
                }
            )
        rejected = len(campaign.rejected.get(segment, []))
        sections.append({"segment": segment, "columns": columns, "rejected": rejected})
    return _html_env().get_template("index.html.j2").render(campaign=campaign, brand=brand, sections=sections)
