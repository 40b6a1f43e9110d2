"""Brand kits: who is speaking in an email, what it sells and how it looks."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from genai.color import is_neutral
from genai.errors import InvalidInputError, invalid_input

__all__ = ["EXPECTED_FIELDS", "BrandKit", "CompletenessReport", "FieldSource", "Product"]

# The fields a brand kit should have for the prompts, gates and footer to work without guessing.
EXPECTED_FIELDS = (
    "name",
    "tagline",
    "description",
    "voice",
    "palette",
    "fonts",
    "logo_url",
    "products",
    "website",
    "address",
)


@dataclass
class Product:
    """A product the brand sells, as read from its page."""

    name: str
    price: str | None = None  # as written, e.g. "24.00 USD"
    url: str | None = None


@dataclass
class FieldSource:
    """Where a brand-kit field came from, e.g. `meta[name=theme-color]` or `user`, and what of the
    page's text was left out of it (an instruction to a model, a link, a foreign logo URL)."""

    source: str
    detail: str = ""
    flagged: list[str] = field(default_factory=list)


@dataclass
class CompletenessReport:
    """What is missing or weak in a brand kit, for the marketer to fill in."""

    missing: list[str]
    warnings: list[str]
    score: float  # share of the expected fields that are present, 0..1

    @property
    def complete(self) -> bool:
        """True when nothing is missing."""
        return not self.missing


@dataclass
class BrandKit:
    """Everything the prompts, gates and renderer need to know about a brand."""

    name: str
    tagline: str = ""
    description: str = ""
    voice: list[str] = field(default_factory=list)  # tone words: "warm", "playful"
    palette: list[str] = field(default_factory=list)  # "#rrggbb", most used first
    fonts: list[str] = field(default_factory=list)
    logo_url: str | None = None
    products: list[Product] = field(default_factory=list)
    website: str | None = None
    address: str | None = None  # physical mailing address (CAN-SPAM footer)
    allowed_domains: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)  # contact addresses the brand publishes
    phones: list[str] = field(default_factory=list)
    sources: dict[str, FieldSource] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BrandKit:
        """Rebuild a brand kit from `to_dict` output or a user's JSON; errors name the field."""
        if not isinstance(data, dict):
            raise InvalidInputError("must be a mapping of fields", field="brand")
        plain = dict(data)
        if isinstance(plain.get("products"), list):
            plain["products"] = [asdict(p) if isinstance(p, Product) else p for p in plain["products"]]
        if isinstance(plain.get("sources"), dict):
            plain["sources"] = {
                k: asdict(v) if isinstance(v, FieldSource) else v for k, v in plain["sources"].items()
            }
        try:
            checked = _BrandKitData.model_validate(plain).model_dump()
        except ValidationError as exc:
            raise invalid_input(exc, "brand") from None
        checked["products"] = [Product(**p) for p in checked["products"]]
        checked["sources"] = {k: FieldSource(**v) for k, v in checked["sources"].items()}
        return cls(**checked)

    def completeness(self) -> CompletenessReport:
        """Which expected fields are missing, what is weak, and the share of fields present."""
        missing = [name for name in EXPECTED_FIELDS if not getattr(self, name)]
        warnings: list[str] = []
        if not self.address:
            warnings.append("no postal address: CAN-SPAM requires one in every email footer")
        if not self.palette:
            warnings.append("no brand colours found: emails will use the default palette")
        elif len(self.palette) == 1:
            warnings.append("palette has one colour: add an accent colour for buttons and links")
        elif all(is_neutral(c) for c in self.palette):
            warnings.append("palette has only white, black or greys: add the brand's own colours")
        if not self.fonts:
            warnings.append("no brand fonts found: emails will use system fonts")
        if not self.voice:
            warnings.append("no tone words found: add two to four words that describe the brand's voice")
        if self.logo_url and not self.logo_url.startswith(("https://", "http://")):
            warnings.append("logo URL is not absolute: set the website so it can be resolved")
        unpriced = [p.name for p in self.products if not p.price]
        if unpriced:
            warnings.append(f"{len(unpriced)} of {len(self.products)} products have no price")
        if not self.emails:
            warnings.append(
                "no contact email found: drafts cannot mention one, since inventing it is blocked"
            )
        if self.website and not self.allowed_domains:
            warnings.append("no allowed link domains: every link in a draft will be blocked")
        for name, source in self.sources.items():
            warnings.extend(f"{name}: {reason}" for reason in source.flagged)
        score = round((len(EXPECTED_FIELDS) - len(missing)) / len(EXPECTED_FIELDS), 2)
        return CompletenessReport(missing=missing, warnings=warnings, score=score)

    def to_json(self) -> str:
        """The brand kit as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: Path) -> None:
        """Write the brand kit as JSON."""
        path.write_text(self.to_json(), encoding="utf-8")


class _ProductData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    price: str | None = Field(default=None, max_length=60)
    url: str | None = Field(default=None, max_length=2000)


class _FieldSourceData(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: str = Field(max_length=200)
    detail: str = Field(default="", max_length=2000)
    flagged: list[str] = Field(default_factory=list, max_length=50)


class _BrandKitData(BaseModel):
    """A brand kit as a user writes it in JSON: unknown keys are mistakes, not extras."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    tagline: str = Field(default="", max_length=300)
    description: str = Field(default="", max_length=2000)
    voice: list[str] = Field(default_factory=list, max_length=20)
    palette: list[str] = Field(default_factory=list, max_length=20)
    fonts: list[str] = Field(default_factory=list, max_length=20)
    logo_url: str | None = Field(default=None, max_length=2000)
    products: list[_ProductData] = Field(default_factory=list, max_length=200)
    website: str | None = Field(default=None, max_length=2000)
    address: str | None = Field(default=None, max_length=500)
    allowed_domains: list[str] = Field(default_factory=list, max_length=50)
    emails: list[str] = Field(default_factory=list, max_length=50)
    phones: list[str] = Field(default_factory=list, max_length=50)
    sources: dict[str, _FieldSourceData] = Field(default_factory=dict)

    @field_validator("palette")
    @classmethod
    def _hex_colours(cls, value: list[str]) -> list[str]:
        normalised = []
        for colour in value:
            digits = colour.strip().lower().removeprefix("#")
            if len(digits) == 3:
                digits = "".join(ch * 2 for ch in digits)
            if len(digits) != 6 or any(ch not in "0123456789abcdef" for ch in digits):
                raise ValueError(f"{colour!r} is not a #rrggbb colour")
            normalised.append("#" + digits)
        return normalised
