"""Versioned prompt templates: loading, rendering, identity and brand-neutral exemplars."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

import genai.prompts as prompts
from genai.brand import BrandKit, Product, load_brand
from genai.brief import Brief, Segment, SegmentTraits
from genai.draft import draft_schema
from genai.errors import InvalidInputError
from genai.prompts import default_version, list_prompts, load_prompt
from tests.support.paths import PAGES, REPO

SAMPLE_BRAND = REPO / "genai" / "samples" / "wick-and-willow.html"
# Brands the other test modules use as inline kits.
INLINE_TEST_BRANDS = ["Lumen Candles", "Lumen Candle Co", "Solo"]


@pytest.fixture
def brand() -> BrandKit:
    return BrandKit(
        name="Quillfeather Stationers",
        tagline="Paper goods with a conscience",
        description="Recycled notebooks and fountain-pen inks, made in a small studio.",
        voice=["playful", "precise"],
        products=[Product(name="Field Notebook"), Product(name="Midnight Ink")],
    )


@pytest.fixture
def brief() -> Brief:
    return Brief(
        goal="Back to school",
        offer="15% off notebooks",
        cta_url="https://quillfeather.example/school",
        segments=[
            Segment(
                name="teachers",
                description="teachers stocking up before term",
                traits=SegmentTraits(spend_tier="high"),
            ),
            Segment(name="students", description="students on a budget"),
        ],
        constraints=["Mention free gift wrapping is not available."],
    )


def exemplars() -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = yaml.safe_load((prompts.PROMPTS_DIR / "exemplars.yaml").read_text("utf-8"))
    return data


def test_load_prompt_gives_the_latest_settled_version_by_default() -> None:
    versions = list_prompts()["email_variant"]
    template = load_prompt()
    assert template.name == "email_variant"
    # the newest version is a bandit candidate: the default is the one before it
    assert versions[-1] == "3" and template.version == "2" == default_version()
    assert load_prompt("email_variant", versions[0]).version == versions[0]
    assert load_prompt("email_variant", "3").version == "3"


def test_versions_are_ordered_as_numbers_not_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = prompts.PROMPTS_DIR / "email_variant" / "v1.yaml"
    (tmp_path / "email_variant").mkdir()
    for version in ("1", "2", "10"):
        text = source.read_text("utf-8").replace('version: "1"', f'version: "{version}"')
        (tmp_path / "email_variant" / f"v{version}.yaml").write_text(text, "utf-8")
    shutil.copy(prompts.PROMPTS_DIR / "exemplars.yaml", tmp_path / "exemplars.yaml")
    monkeypatch.setattr(prompts, "PROMPTS_DIR", tmp_path)
    assert list_prompts() == {"email_variant": ["1", "2", "10"]}
    assert load_prompt().version == "10"
    # a candidate is offered to the bandit, not made the default
    path = tmp_path / "email_variant" / "v10.yaml"
    path.write_text(path.read_text("utf-8") + "candidate: true\n", "utf-8")
    assert load_prompt().version == "2" and load_prompt(version="10").version == "10"


@pytest.mark.parametrize(("name", "version"), [("no_such_prompt", None), ("email_variant", "999")])
def test_an_unknown_prompt_or_version_names_the_prompt_field(name: str, version: str | None) -> None:
    with pytest.raises(InvalidInputError) as info:
        load_prompt(name, version)
    assert info.value.field == "prompt"
    assert (version or name) in info.value.message


def test_the_sha256_is_that_of_the_template_file() -> None:
    template = load_prompt(version="1")
    path = prompts.PROMPTS_DIR / template.name / f"v{template.version}.yaml"
    assert template.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()


def test_render_gives_system_then_an_exemplar_pair_then_the_segment_request(
    brand: BrandKit, brief: Brief
) -> None:
    template = load_prompt(version="1")
    rendered = template.render(brand, brief, brief.segments[0])
    assert [m["role"] for m in rendered.messages] == ["system", "user", "assistant", "user"]
    assert rendered.messages[0]["content"] == template.system.strip()
    user = rendered.messages[-1]["content"]
    for expected in (
        "Quillfeather Stationers",
        "15% off notebooks",
        "teachers stocking up before term",
        "Back to school",
        "Field Notebook",
        "playful, precise",
        "high spenders",
    ):
        assert expected in user
    assert "students on a budget" not in user
    assert (rendered.name, rendered.version, rendered.sha256) == (
        template.name,
        template.version,
        template.sha256,
    )


def test_render_without_an_offer_says_not_to_promise_one(brand: BrandKit, brief: Brief) -> None:
    no_offer = brief.model_copy(update={"offer": ""})
    user = load_prompt(version="1").render(brand, no_offer, no_offer.segments[1]).messages[-1]["content"]
    assert "do not promise any discount" in user


def test_the_offset_rotates_the_exemplars_and_zero_leaves_them_out(brand: BrandKit, brief: Brief) -> None:
    template = load_prompt(version="1")
    pool = exemplars()
    first = template.render(brand, brief, brief.segments[0], offset=0).messages[2]["content"]
    second = template.render(brand, brief, brief.segments[0], offset=1).messages[2]["content"]
    assert json.loads(first) == pool[0]["output"]
    assert json.loads(second) == pool[1 % len(pool)]["output"]
    bare = template.render(brand, brief, brief.segments[0], exemplars=0).messages
    assert [m["role"] for m in bare] == ["system", "user"]


def test_brand_text_is_data_not_template_code(brief: Brief) -> None:
    sneaky = BrandKit(name="{{ 7 * 7 }} Shop", description="{% for x in range(3) %}loop{% endfor %}")
    user = load_prompt(version="1").render(sneaky, brief, brief.segments[0]).messages[-1]["content"]
    assert "{{ 7 * 7 }} Shop" in user and "49" not in user
    assert "{% for x in range(3) %}" in user


def _test_brand_names() -> list[str]:
    pages = [*sorted(PAGES.glob("*.html")), SAMPLE_BRAND]
    return [load_brand(p).name for p in pages] + INLINE_TEST_BRANDS


def test_exemplars_name_no_brand_the_tests_use() -> None:
    text = yaml.safe_dump(exemplars()).lower()
    names = _test_brand_names()
    assert "Wick & Willow" in names and "Northside Coffee Roasters" in names
    for name in names:
        assert name.lower() not in text, name


def test_exemplars_share_no_distinctive_brand_word_with_the_test_brands() -> None:
    exemplar_brands = {w.lower() for ex in exemplars() for w in re.findall(r"[A-Za-z]+", ex["brand"])}
    generic = {"candle", "candles", "coffee", "roasters", "books", "street", "bakehouse", "bikes"}
    words = {w.lower() for name in _test_brand_names() for w in re.findall(r"[A-Za-z]{4,}", name)} - generic
    assert exemplar_brands.isdisjoint(words), exemplar_brands & words


def _check(value: Any, spec: dict[str, Any], where: str) -> None:
    if spec["type"] == "array":
        assert isinstance(value, list), where
        assert spec.get("minItems", 0) <= len(value) <= spec.get("maxItems", len(value)), where
        for i, item in enumerate(value):
            _check(item, spec["items"], f"{where}[{i}]")
    else:
        assert isinstance(value, str), where
        assert spec.get("minLength", 0) <= len(value) <= spec.get("maxLength", len(value)), where


def test_each_assistant_exemplar_is_json_that_follows_the_draft_schema(brand: BrandKit, brief: Brief) -> None:
    template = load_prompt(version="1")
    for offset in range(len(exemplars())):
        content = template.render(brand, brief, brief.segments[0], offset=offset).messages[2]["content"]
        data = json.loads(content)
        # the few-shot prompt's examples are one paragraph each, as that prompt asks for
        schema = draft_schema(paragraphs=1)
        assert list(data) == list(schema["properties"])
        for key, spec in schema["properties"].items():
            _check(data[key], spec, key)
