"""Campaign briefs and customer segments, as a marketer writes them (YAML or JSON)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from genai.draft import CTA_LABELS
from genai.errors import InvalidInputError, invalid_input

__all__ = ["Brief", "Segment", "SegmentTraits", "load_brief"]

MAX_VARIANTS = 8

SpendTier = Literal["high", "medium", "low", "lapsed", "any"]


class SegmentTraits(BaseModel):
    """What the prompt knows about a segment's customers."""

    model_config = ConfigDict(extra="forbid")

    spend_tier: SpendTier = "any"
    recency_days: int | None = Field(default=None, ge=0, description="Days since last order.")
    orders_per_year: float | None = Field(default=None, ge=0)


class Segment(BaseModel):
    """A named group of customers that gets its own variants."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=80, examples=["high-spenders"])
    description: str = Field(default="", max_length=500)
    traits: SegmentTraits = Field(default_factory=SegmentTraits)

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9 _.-]*", value):
            raise ValueError("use letters, digits, spaces, '-', '_' or '.'")
        return value.strip()


class Brief(BaseModel):
    """What a campaign is for, who gets it and how many versions to write."""

    model_config = ConfigDict(extra="forbid")

    goal: str = Field(min_length=3, max_length=300, examples=["Holiday sale"])
    offer: str = Field(default="", max_length=200, examples=["20% off all candles"])
    cta_url: str = Field(examples=["https://example.com/sale"])
    send_date: dt.date | None = None
    language: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    segments: list[Segment] = Field(min_length=1, max_length=20)
    variants_per_segment: int = Field(default=3, ge=1, le=MAX_VARIANTS)
    constraints: list[str] = Field(default_factory=list, max_length=20)
    facts: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Other facts the copy may state, e.g. an event's date, time and place.",
    )
    cta_label: str | None = Field(
        default=None,
        description="The call to action's label; one fitting the goal is chosen when not given.",
    )

    @field_validator("cta_label")
    @classmethod
    def _known_label(cls, value: str | None) -> str | None:
        if value is not None and value not in CTA_LABELS:
            raise ValueError(f"must be one of: {', '.join(CTA_LABELS)}")
        return value

    @field_validator("constraints", "facts")
    @classmethod
    def _short_items(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.strip() or len(item) > 300:
                raise ValueError("each item must be 1 to 300 characters")
        return [item.strip() for item in value]

    @field_validator("cta_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.fullmatch(r"https?://[^\s/$.?#][^\s]*", value):
            raise ValueError("must be an absolute http(s) URL")
        return value

    @field_validator("segments")
    @classmethod
    def _unique_names(cls, value: list[Segment]) -> list[Segment]:
        names = [s.name for s in value]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"segment names must be unique, repeated: {', '.join(dupes)}")
        return value

    @property
    def discount(self) -> str | None:
        """The discount the offer promises (e.g. '20%' or '$10'), if any."""
        match = re.search(r"(\d{1,3}\s?%|[$€£]\s?\d{1,3}(?:,\d{3})*(?:\.\d\d)?)", self.offer)
        return match.group(1).replace(" ", "") if match else None


def load_brief(source: str | Path | dict[str, Any]) -> Brief:
    """Read a brief from a YAML/JSON file or a mapping; errors name the field."""
    if isinstance(source, dict):
        data: Any = source
    else:
        path = Path(source)
        try:
            text = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            raise InvalidInputError(f"file not found: {path}", field="brief") from None
        except UnicodeDecodeError:
            raise InvalidInputError("file is not UTF-8 text", field="brief") from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"not valid YAML: {exc}", field="brief") from None
    if not isinstance(data, dict):
        raise InvalidInputError("must be a mapping of fields", field="brief")
    try:
        return Brief.model_validate(data)
    except ValidationError as exc:
        raise invalid_input(exc, "brief") from None
