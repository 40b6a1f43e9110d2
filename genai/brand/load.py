"""Reading a brand kit from a file: a saved web page or a kit written as JSON."""

from __future__ import annotations

import json
from pathlib import Path

from genai.brand.html import extract_brand
from genai.brand.kit import BrandKit
from genai.errors import InvalidInputError

__all__ = ["load_brand"]


def load_brand(path: Path, url: str | None = None) -> BrandKit:
    """Read a brand kit from a saved page (.html, .htm; `url` is where it was saved from) or a .json kit."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".html", ".htm", ".json"):
        raise InvalidInputError(
            f"unsupported file type {suffix or path.name!r}: use .html, .htm or .json", field="brand"
        )
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InvalidInputError(f"file not found: {path}", field="brand") from None
    except IsADirectoryError:
        raise InvalidInputError(f"is a directory, not a file: {path}", field="brand") from None
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path}: {exc.strerror or exc}", field="brand") from None
    if suffix != ".json":
        return extract_brand(data, url)
    try:
        parsed = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise InvalidInputError("file is not UTF-8 text", field="brand") from None
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"not valid JSON: {exc}", field="brand") from None
    if not isinstance(parsed, dict):
        raise InvalidInputError("must be a JSON object of brand-kit fields", field="brand")
    return BrandKit.from_dict(parsed)
