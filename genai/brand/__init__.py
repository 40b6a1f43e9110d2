"""Brand kits and the readers that make them.

`kit` holds the value types (`BrandKit`, `Product`, where each field came from, how complete a kit
is) and imports none of the readers. The readers sit beside it: `html` reads a kit out of a page
(with `page`, `css`, `jsonld`, `text`, `urls`, `fields` and `screen` for its parts), `fetch` gets a
page over HTTP(S) first (`fetch_policy` and `fetch_network` say what it may reach, and by when),
and `load` reads a saved page or a JSON kit from a file.
"""

from genai.brand.html import extract_brand
from genai.brand.kit import EXPECTED_FIELDS, BrandKit, CompletenessReport, FieldSource, Product
from genai.brand.load import load_brand

__all__ = [
    "EXPECTED_FIELDS",
    "BrandKit",
    "CompletenessReport",
    "FieldSource",
    "Product",
    "extract_brand",
    "load_brand",
]
