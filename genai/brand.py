"""Brand kits: who is speaking in an email, what it sells and how it looks."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BrandKit", "CompletenessReport", "FieldSource", "Product"]


@dataclass
class Product:
    """A product the brand sells, as read from its page."""

    name: str
    price: str | None = None  # as written, e.g. "24.00 USD"
    url: str | None = None


@dataclass
class FieldSource:
    """Where a brand-kit field came from, e.g. `meta[name=theme-color]` or `user`."""

    source: str
    detail: str = ""


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
        """Rebuild a brand kit from `to_dict` output or a user's JSON."""
        data = dict(data)
        data["products"] = [p if isinstance(p, Product) else Product(**p) for p in data.get("products", [])]
        data["sources"] = {
            k: v if isinstance(v, FieldSource) else FieldSource(**v) for k, v in data.get("sources", {}).items()
        }
        return cls(**data)

    def to_json(self) -> str:
        """The brand kit as indented JSON."""
        return json.dumps(self.to_dict(), indent=2)

    def save(self, path: Path) -> None:
        """Write the brand kit as JSON."""
        path.write_text(self.to_json(), encoding="utf-8")
