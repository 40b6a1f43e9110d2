"""The HTML email, its plain-text part, the CTA colour rule and the preview index page."""

from __future__ import annotations

import re
from dataclasses import replace
from html.parser import HTMLParser

import pytest

from genai.brand import BrandKit
from genai.campaign import CampaignDraft, GateResult, Lineage, Variant
from genai.color import (
    NEAR_BLACK,
    WHITE,
    adjust_to_contrast,
    contrast_ratio,
    parse_hex,
    relative_luminance,
)
from genai.draft import EmailDraft
from genai.errors import InvalidInputError
from genai.render import (
    DEFAULT_CTA_COLOR,
    cta_colors,
    preview_html,
    render_html,
    render_index,
    render_text,
    safe_url,
)

SCRIPT = "<script>alert(1)</script>"
ONERROR = '"><img src=x onerror=alert(1)>'
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Doc(HTMLParser):
    """Walks a document, checking that every tag closes in order, and keeps the tags and text it saw."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.errors: list[str] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def find(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for t, attrs in self.tags if t == tag]


def make_draft(**overrides: object) -> EmailDraft:
    fields: dict[str, object] = {
        "subject": "Spring picks are in",
        "preheader": "Fresh seedlings for every sunny windowsill",
        "headline": "Grow something new this spring",
        "body": [
            "Our spring seedlings just arrived, ready for your windowsill, balcony or garden bed.",
            "Every plant ships in a compostable pot with care notes written by our growers.",
        ],
        "cta_label": "Shop seedlings",
        "cta_url": "https://greenleaf.example/spring?utm_source=email&utm_medium=cta",
    }
    fields.update(overrides)
    return EmailDraft(**fields)  # type: ignore[arg-type]


def make_brand(**overrides: object) -> BrandKit:
    fields: dict[str, object] = {
        "name": "Greenleaf",
        "tagline": "Plants for small spaces",
        "palette": ["#ffffff", "#2f6b3a", "#f2c94c"],
        "fonts": ["Poppins"],
        "logo_url": "https://greenleaf.example/logo.png",
        "website": "https://greenleaf.example",
        "address": "12 Fern Street\nPortland, OR 97201",
    }
    fields.update(overrides)
    return BrandKit(**fields)  # type: ignore[arg-type]


def make_variant(segment: str, rank: int, subject: str) -> Variant:
    return Variant(
        id=f"{segment}-{rank}",
        segment=segment,
        rank=rank,
        draft=make_draft(subject=subject),
        score=0.8 - rank / 10,
        reasons=[f"strong fit for {segment}"],
        gates=[
            GateResult("links", "block", True, "all links allowed"),
            GateResult("spam_words", "warn", False, "uses the phrase 'act now'", ["act now"]),
        ],
        lineage=Lineage(
            backend="fake",
            model_id="gemma-3-270m",
            checkpoint_sha256=None,
            prompt_name="email",
            prompt_version="3",
            prompt_sha256="ab" * 32,
            seed=1234,
            candidate=3,
            sampling={"temperature": 0.7},
            tokens_in=512,
            tokens_out=180,
            ttft_s=0.05,
            latency_s=1.234,
            finish_reason="stop",
        ),
    )


def make_campaign(**subjects: list[str]) -> CampaignDraft:
    variants = {
        segment: [make_variant(segment, rank, subject) for rank, subject in enumerate(subs, start=1)]
        for segment, subs in subjects.items()
    }
    return CampaignDraft(brand="Greenleaf", goal="Sell spring seedlings", variants=variants)


# --- HTML structure ---------------------------------------------------------------------------------------


def test_email_html_parses_with_balanced_tags() -> None:
    doc = Doc(render_html(make_draft(), make_brand()))
    assert doc.errors == []
    assert doc.stack == []


def test_email_declares_language_charset_viewport_and_subject_title() -> None:
    html = render_html(make_draft(), make_brand(), lang="fr-CA")
    doc = Doc(html)
    assert doc.find("html")[0]["lang"] == "fr-CA"
    assert any("charset" in m for m in doc.find("meta"))
    assert any(
        m.get("name") == "viewport" and "width=device-width" in (m["content"] or "") for m in doc.find("meta")
    )
    assert re.search(r"<title>Spring picks are in</title>", html)


def test_right_to_left_language_sets_dir_rtl() -> None:
    doc = Doc(render_html(make_draft(), make_brand(), lang="ar"))
    assert doc.find("html")[0]["dir"] == "rtl"


def test_invalid_language_tag_is_rejected_naming_the_field() -> None:
    with pytest.raises(InvalidInputError) as info:
        render_html(make_draft(), make_brand(), lang='en" onload="x')
    assert info.value.field == "lang"


def test_every_table_is_a_presentation_table() -> None:
    doc = Doc(render_html(make_draft(), make_brand()))
    tables = doc.find("table")
    assert len(tables) >= 3
    assert all(t.get("role") == "presentation" for t in tables)


def test_logo_has_brand_name_as_alt_text() -> None:
    doc = Doc(render_html(make_draft(), make_brand()))
    (logo,) = doc.find("img")
    assert logo["src"] == "https://greenleaf.example/logo.png"
    assert logo["alt"] == "Greenleaf"


def test_brand_without_logo_shows_its_name_instead() -> None:
    doc = Doc(render_html(make_draft(), make_brand(logo_url=None)))
    assert doc.find("img") == []
    assert "Greenleaf" in "".join(doc.text)


def test_container_is_600px_centered_and_shrinks_on_mobile() -> None:
    html = render_html(make_draft(), make_brand())
    doc = Doc(html)
    containers = [t for t in doc.find("table") if "max-width:600px" in (t.get("style") or "")]
    assert len(containers) == 1
    assert "width:100%" in (containers[0]["style"] or "")
    assert containers[0]["width"] == "600"
    assert re.search(r"@media only screen and \(max-width: ?\d+px\)", html)


def test_preheader_is_hidden_first_thing_in_body_followed_by_spacer() -> None:
    html = render_html(make_draft(), make_brand())
    body = html.split("<body", 1)[1]
    first_span = re.search(r"<span[^>]*style=\"([^\"]*)\"[^>]*>([^<]*)</span>", body)
    assert first_span is not None
    assert "display:none" in first_span.group(1)
    assert first_span.group(2) == "Fresh seedlings for every sunny windowsill"
    spacer = body[first_span.end() :].lstrip()
    assert spacer.startswith("<span") and "display:none" in spacer.split(">", 1)[0]
    assert body.index("Fresh seedlings") < body.index("Grow something new")


def test_content_appears_in_order_headline_greeting_paragraphs_button() -> None:
    html = render_html(make_draft(), make_brand())
    positions = [
        html.index("Grow something new this spring</h1>"),
        html.index("Hi *|IF:FNAME|*"),
        html.index("Our spring seedlings"),
        html.index("Every plant ships"),
        html.index(">Shop seedlings</a>"),
    ]
    assert positions == sorted(positions)


def test_cta_is_a_bulletproof_button_in_a_coloured_cell() -> None:
    brand = make_brand()
    background, text_color, _ = cta_colors(brand)
    doc = Doc(render_html(make_draft(), brand))
    cells = [
        td
        for td in doc.find("td")
        if td.get("bgcolor") == background and "button-cell" in (td.get("class") or "")
    ]
    assert len(cells) == 1
    assert f"background-color:{background}" in (cells[0]["style"] or "")
    (link,) = [a for a in doc.find("a") if a.get("href", "").startswith("https://greenleaf.example/spring")]  # type: ignore[union-attr]
    assert link["href"] == "https://greenleaf.example/spring?utm_source=email&utm_medium=cta"
    assert f"color:{text_color}" in (link["style"] or "")


def test_footer_has_address_signup_reason_and_unsubscribe_link() -> None:
    html = render_html(make_draft(), make_brand())
    assert '<a href="*|UNSUB|*">Unsubscribe</a>' in html
    assert "12 Fern Street<br>Portland, OR 97201" in html
    assert "You are receiving this email because you signed up at Greenleaf." in html


def test_missing_address_renders_list_address_merge_tag() -> None:
    html = render_html(make_draft(), make_brand(address=None))
    assert "*|LIST:ADDRESS|*" in html


def test_brand_fonts_come_first_with_web_safe_fallbacks() -> None:
    doc = Doc(render_html(make_draft(), make_brand(fonts=["Poppins", "Georgia, serif"])))
    style = doc.find("body")[0]["style"] or ""
    assert "font-family:'Poppins', 'Georgia', Helvetica, Arial, sans-serif;" in style


def test_font_names_cannot_break_out_of_css() -> None:
    evil = "Evil'; } </style><script>alert(1)</script><style>"
    html = render_html(make_draft(), make_brand(fonts=[evil, 'x" onload="alert(1)']))
    doc = Doc(html)
    assert doc.errors == []
    assert "<script" not in html.lower()
    assert html.count("</style>") == 1
    assert all(not name.startswith("on") for _, attrs in doc.tags for name in attrs)
    families = re.findall(r"font-family:([^;\"]*)", html)
    assert families and all(re.fullmatch(r"[A-Za-z0-9 ,'\-]+", f) for f in families)


# --- untrusted text ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("payload", [SCRIPT, ONERROR])
@pytest.mark.parametrize("field", ["name", "tagline", "address"])
def test_markup_in_brand_text_comes_out_escaped(field: str, payload: str) -> None:
    html = render_html(make_draft(), make_brand(**{field: f"Greenleaf {payload}"}))
    doc = Doc(html)
    assert "<script" not in html.lower()
    assert all(not name.startswith("on") for _, attrs in doc.tags for name in attrs)
    assert len(doc.find("img")) == 1  # only the logo, no injected image
    assert doc.errors == []


@pytest.mark.parametrize("payload", [SCRIPT, ONERROR])
@pytest.mark.parametrize("field", ["subject", "preheader", "headline", "greeting", "cta_label", "body"])
def test_markup_in_each_draft_field_comes_out_escaped(field: str, payload: str) -> None:
    value: object = ["Fine paragraph.", f"Bad {payload}"] if field == "body" else f"Text {payload}"
    html = render_html(make_draft(**{field: value}), make_brand())
    doc = Doc(html)
    assert "<script" not in html.lower()
    assert all(not name.startswith("on") for _, attrs in doc.tags for name in attrs)
    assert len(doc.find("img")) == 1
    assert doc.errors == []
    assert payload in "".join(doc.text)  # shown to the reader as text, not dropped


@pytest.mark.parametrize(
    "url",
    [
        "javascript:alert(1)",
        "JaVaScRiPt:alert(1)",
        "  javascript:alert(1)",
        "java\tscript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "vbscript:msgbox(1)",
        "//evil.example/x",
        "greenleaf.example/spring",
        "",
    ],
)
def test_non_http_cta_url_becomes_hash(url: str) -> None:
    html = render_html(make_draft(cta_url=url), make_brand())
    doc = Doc(html)
    (button,) = [a for a in doc.find("a") if "button-link" in (a.get("class") or "")]
    assert button["href"] == "#"
    assert "javascript" not in html.lower()


def test_non_http_logo_is_dropped_and_brand_name_shown() -> None:
    doc = Doc(render_html(make_draft(), make_brand(logo_url="javascript:alert(1)")))
    assert doc.find("img") == []
    assert "Greenleaf" in "".join(doc.text)


def test_merge_tags_and_http_urls_are_allowed_as_links() -> None:
    assert safe_url("*|UNSUB|*") == "*|UNSUB|*"
    assert safe_url("*|ARCHIVE|*") == "*|ARCHIVE|*"
    assert safe_url("http://a.example/x?y=1") == "http://a.example/x?y=1"
    assert safe_url("*|UNSUB|*javascript:alert(1)") == "#"
    assert safe_url("variants/a.html") == "#"
    assert safe_url("variants/a.html", allow_relative=True) == "variants/a.html"
    assert safe_url("javascript:alert(1)", allow_relative=True) == "#"


# --- colour and contrast ----------------------------------------------------------------------------------


def test_contrast_ratio_matches_known_wcag_values() -> None:
    assert contrast_ratio("#ffffff", "#000000") == pytest.approx(21.0)
    assert contrast_ratio("#000", "#fff") == pytest.approx(21.0)
    assert contrast_ratio("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast_ratio("#ffffff", "#777777") == contrast_ratio("#777777", "#ffffff")
    assert contrast_ratio("#336699", "#336699") == pytest.approx(1.0)
    assert relative_luminance("#ffffff") == pytest.approx(1.0)
    assert relative_luminance("#000000") == pytest.approx(0.0)


def test_parse_hex_rejects_non_colours_naming_the_field() -> None:
    assert parse_hex("#0A0b0C") == (10, 11, 12)
    assert parse_hex("abc") == (0xAA, 0xBB, 0xCC)
    with pytest.raises(InvalidInputError) as info:
        parse_hex("rgb(1,2,3)", field="palette[0]")
    assert info.value.field == "palette[0]"


def test_pale_yellow_palette_gets_a_cta_with_aa_contrast() -> None:
    background, text_color, ratio = cta_colors(make_brand(palette=["#ffeb99"]))
    assert ratio >= 4.5
    assert contrast_ratio(background, text_color) == pytest.approx(ratio)
    assert text_color == NEAR_BLACK  # dark text reads best on a pale background


def test_very_light_colour_is_darkened_until_white_text_reaches_aa() -> None:
    adjusted = adjust_to_contrast("#ffeb99", WHITE, 4.5)
    assert adjusted != "#ffeb99"
    assert contrast_ratio(adjusted, WHITE) >= 4.5
    assert relative_luminance(adjusted) < relative_luminance("#ffeb99")


def test_light_colour_is_lightened_until_dark_text_reaches_aa() -> None:
    adjusted = adjust_to_contrast("#777777", NEAR_BLACK, 4.5)
    assert contrast_ratio(adjusted, NEAR_BLACK) >= 4.5
    assert relative_luminance(adjusted) > relative_luminance("#777777")


def test_mid_tone_brand_colour_is_adjusted_to_reach_aa() -> None:
    # #777777 is 4.48:1 with white and lower still with near-black: neither text colour is enough.
    background, text_color, ratio = cta_colors(make_brand(palette=["#777777"]))
    assert background != "#777777"
    assert ratio >= 4.5
    assert contrast_ratio(background, text_color) == pytest.approx(ratio)
    assert ratio < 5.5  # nudged just past the threshold, not repainted black


def test_colour_that_already_passes_is_kept() -> None:
    assert cta_colors(make_brand(palette=["#2f6b3a"])) == ("#2f6b3a", WHITE, contrast_ratio("#2f6b3a", WHITE))


def test_near_white_and_invalid_palette_entries_are_skipped() -> None:
    background, _, _ = cta_colors(make_brand(palette=["#ffffff", "#fafafa", "transparent", "#cc3300"]))
    assert background == "#cc3300"


@pytest.mark.parametrize("palette", [[], ["#ffffff", "#f7f7f7"]])
def test_default_dark_blue_when_no_usable_palette_colour(palette: list[str]) -> None:
    assert cta_colors(make_brand(palette=palette))[:2] == (DEFAULT_CTA_COLOR, WHITE)


# --- plain text -------------------------------------------------------------------------------------------


def test_text_part_has_body_cta_url_and_unsubscribe_tag() -> None:
    text = render_text(make_draft(), make_brand())
    assert text.startswith("Hi *|IF:FNAME|*")
    assert "Shop seedlings: https://greenleaf.example/spring?utm_source=email&utm_medium=cta" in text
    assert "Unsubscribe: *|UNSUB|*" in text
    assert "12 Fern Street\nPortland, OR 97201" in text
    assert "Spring picks are in" not in text  # the subject travels in the header, not the body
    order = [
        text.index(s)
        for s in ("Hi *|IF", "Grow something new", "Our spring", "Every plant", "Shop seedlings")
    ]
    assert order == sorted(order)


def test_text_part_wraps_at_78_columns_without_breaking_urls() -> None:
    url = "https://greenleaf.example/" + "a" * 90
    draft = make_draft(body=["word " * 60, f"See {url} for more."])
    text = render_text(draft, make_brand())
    lines = text.splitlines()
    assert url in lines
    assert "word word" in text
    # Only lines carrying a URL, which must not be split, may run past 78 columns.
    assert all(len(line) <= 78 for line in lines if "https://" not in line)


def test_text_part_omits_unsafe_cta_url_and_uses_list_address_without_address() -> None:
    text = render_text(make_draft(cta_url="javascript:alert(1)"), make_brand(address=None))
    assert "javascript" not in text
    assert "*|LIST:ADDRESS|*" in text


# --- preview index ----------------------------------------------------------------------------------------


def test_index_shows_every_subject_grouped_by_segment() -> None:
    campaign = make_campaign(
        new_customers=["Welcome to spring", "Your first seedling"], loyal=["Thanks for growing with us"]
    )
    html = render_index(campaign, make_brand())
    doc = Doc(html)
    assert doc.errors == []
    headings = [m.start() for m in re.finditer(r"<h2 ", html)]
    assert len(headings) == 2
    assert html.index("new_customers", headings[0]) < headings[1] < html.index("loyal", headings[1])
    first, second = headings
    for subject in ("Welcome to spring", "Your first seedling"):
        assert first < html.index(f'<p class="subject">{subject}') < second
    assert html.index('<p class="subject">Thanks for growing with us') > second
    assert len(doc.find("iframe")) == 3


def test_index_embeds_each_rendered_email_in_an_escaped_srcdoc() -> None:
    brand = make_brand()
    campaign = make_campaign(loyal=["Thanks for growing with us"])
    doc = Doc(render_index(campaign, brand))
    (frame,) = doc.find("iframe")
    # what the subscriber sees: the rendered e-mail with its merge tags filled
    assert frame["srcdoc"] == preview_html(render_html(campaign.variants["loyal"][0].draft, brand), brand)
    assert frame["title"] == "Email preview: Thanks for growing with us"


def test_index_escapes_script_in_subject() -> None:
    campaign = make_campaign(loyal=[f"Hello {SCRIPT}"])
    html = render_index(campaign, make_brand(name=f"Greenleaf {SCRIPT}"))
    assert "<script" not in html.lower()
    assert f"Hello {SCRIPT}" in "".join(Doc(html).text)


def test_index_shows_score_reasons_gate_warnings_and_lineage() -> None:
    html = render_index(make_campaign(loyal=["Thanks for growing with us"]), make_brand())
    text = " ".join("".join(Doc(html).text).split())
    assert "score 0.70" in text
    assert "strong fit for loyal" in text
    assert "warn · spam_words: uses the phrase 'act now'" in text
    assert "gemma-3-270m · email@3 · seed 1234 #3 · 512→180 tokens · 1.23 s" in text


def test_index_links_each_variant_file_only_when_href_given() -> None:
    campaign = make_campaign(loyal=["A subject line", "B subject line"])
    with_links = Doc(render_index(campaign, make_brand(), variant_href=lambda v: f"variants/{v.id}.html"))
    hrefs = [a["href"] for a in with_links.find("a")]
    assert hrefs == ["variants/loyal-1.html", "variants/loyal-2.html"]
    assert Doc(render_index(campaign, make_brand())).find("a") == []
    unsafe = render_index(campaign, make_brand(), variant_href=lambda v: "javascript:alert(1)")
    assert Doc(unsafe).find("a") == []


def test_index_is_self_contained() -> None:
    html = render_index(make_campaign(loyal=["A subject line"]), make_brand())
    page = html.split("srcdoc=", 1)[0]  # the embedded email may load its own logo
    assert "<link" not in page
    assert "@import" not in page
    assert not re.search(r"\ssrc=", page)
    assert "<style>" in page


def test_the_preview_fills_merge_tags_and_keeps_none_raw() -> None:
    brand = BrandKit(name="Lumen Candles", address="1 Wick Lane, Portland, OR 97201")
    draft = EmailDraft(
        subject="Warm light, 20% off",
        preheader="Hand-poured candles for long evenings, now 20% off.",
        headline="Warm light for long evenings",
        body=["Our candles are poured by hand.", "Take 20% off this week."],
        cta_label="Shop the sale",
        cta_url="https://lumen.example/sale",
    )
    html = render_html(draft, brand)
    assert "*|FNAME|*" in html and "*|UNSUB|*" in html  # the export keeps the platform's tags
    shown = preview_html(html, brand)
    assert "*|" not in shown and "|*" not in shown
    assert "Hi Alex," in shown
    assert "Hi there," in preview_html(html, brand, {"FNAME": ""})


def test_a_missing_logo_shows_the_brand_name_in_its_colour() -> None:
    brand = BrandKit(name="Lumen Candles", palette=["#7a2e0e"])
    draft = EmailDraft(
        subject="Warm light, 20% off",
        preheader="Hand-poured candles for long evenings, now 20% off.",
        headline="Warm light",
        body=["Our candles are poured by hand."],
        cta_label="Shop now",
        cta_url="https://lumen.example/",
    )
    html = render_html(draft, brand)
    assert "<img" not in html.split("Lumen Candles</p>")[0]
    assert "color:#7a2e0e" in html.replace(" ", "").lower()
    with_logo = render_html(draft, replace(brand, logo_url="https://lumen.example/logo.png"))
    img = with_logo[with_logo.index("<img") : with_logo.index(">", with_logo.index("<img"))]
    assert 'alt="Lumen Candles"' in img and "color:#7a2e0e" in img.replace(" ", "").lower()


def test_the_lineage_line_names_the_adapter_when_there_is_one() -> None:
    campaign = make_campaign(loyal=["Thanks for growing with us"])
    variant = campaign.variants["loyal"][0]
    variant.lineage = replace(variant.lineage, adapter="email-v1")
    text = " ".join("".join(Doc(render_index(campaign, make_brand())).text).split())
    assert "gemma-3-270m + email-v1 · email@3" in text
