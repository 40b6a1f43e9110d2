"""The schema.org JSON-LD of a brand's page: its organisation, address, logo, contacts and products.

Nodes are read from every `application/ld+json` block, nested or inside `@graph`, and `{"@id": ...}`
references are followed. The page's own organisation is preferred over a product's brand.
"""

from __future__ import annotations

import html as htmllib
import json
import re
from collections.abc import Iterable
from typing import Any

from genai.brand.kit import Product
from genai.brand.text import clean_text

__all__ = ["JsonLd", "node_text"]

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


def node_text(value: Any) -> str:
    """A JSON-LD value as one clean line: the first of a list, the name or url of a node."""
    if isinstance(value, list):
        value = value[0] if value else ""
    if isinstance(value, dict):
        value = value.get("name") or value.get("url") or ""
    return clean_text(htmllib.unescape(str(value))) if isinstance(value, str | int | float) else ""


class JsonLd:
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
        return node_text(self.org.get(key)) if self.org else ""

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
            return clean_text(htmllib.unescape(value))
        if not isinstance(value, dict):
            return ""
        region = " ".join(node_text(value.get(k)) for k in ("addressRegion", "postalCode")).strip()
        parts = [node_text(value.get("streetAddress")), node_text(value.get("addressLocality")), region]
        parts.append(node_text(value.get("addressCountry")))
        return clean_text(", ".join(p for p in parts if p), 200)

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
                if isinstance(holder, dict) and node_text(holder.get("name")):
                    products.append(
                        Product(node_text(holder.get("name")), None, node_text(holder.get("url")) or None)
                    )
                    source = "json-ld:ItemList"
        return [p for p in products if p.name], source

    def _product(self, node: dict[str, Any]) -> Product:
        offers = self.deref(node.get("offers"))
        offer = self.deref(offers[0]) if isinstance(offers, list) and offers else offers
        price = None
        url = node_text(node.get("url"))
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
            url = url or node_text(offer.get("url"))
        return Product(node_text(node.get("name")), price, url or None)
