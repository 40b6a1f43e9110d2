"""Fetching a brand's web page (and its logo) over HTTP(S), public hosts only, by one deadline and a
size cap."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import httpcore
import httpx

from genai.brand.fetch_network import Deadline, guarded_transport
from genai.brand.fetch_policy import FetchPolicy
from genai.brand.html import extract_brand
from genai.brand.kit import BrandKit
from genai.brand.urls import join_url, validate_page_url
from genai.errors import BrandFetchError, InvalidInputError

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT",
    "MAX_REDIRECTS",
    "FetchedImage",
    "FetchedPage",
    "fetch_brand",
    "fetch_image",
    "fetch_page",
]

DEFAULT_TIMEOUT = 10.0
MAX_REDIRECTS = 5
DEFAULT_MAX_BYTES = 2_000_000
_HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
# What every mail client shows; SVG is not among them (Gmail and Outlook drop it).
_EMAIL_IMAGE_TYPES = {
    "image/png": (b"\x89PNG\r\n\x1a\n",),
    "image/jpeg": (b"\xff\xd8\xff",),
    "image/gif": (b"GIF87a", b"GIF89a"),
    "image/webp": (b"RIFF",),
}
T = TypeVar("T")
_HEADERS = {
    "User-Agent": "copyloop-brand-import/0.1",
    "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1",
}


@dataclass(frozen=True)
class FetchedPage:
    """A page's bytes and where they came from after redirects."""

    url: str
    body: bytes
    charset: str | None  # from the Content-Type header, when it names one


def _looks_like_html(head: bytes) -> bool:
    start = head.lstrip()[:64].lower()
    return start.startswith((b"<!doctype html", b"<html", b"<head", b"<!--"))


@dataclass(frozen=True)
class FetchedImage:
    """An image's bytes, its media type, and where it came from after redirects."""

    url: str
    body: bytes
    media_type: str


def fetch_page(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    policy: FetchPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> FetchedPage:
    """GET an HTML page by `timeout` in all, following up to 5 redirects that `policy` allows.

    Every hop's scheme, port and address are checked (see `genai.brand.fetch_policy`); reading
    stops once the body passes `max_bytes`. `transport` replaces the network (tests), in which case
    only what the URLs themselves say can be checked.
    """
    return _get(url, _read, timeout=timeout, max_bytes=max_bytes, policy=policy, transport=transport)


def fetch_image(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    policy: FetchPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> FetchedImage:
    """GET an image a mail client can show (PNG, JPEG, GIF, WebP), under the same rules as a page."""
    return _get(url, _read_image, timeout=timeout, max_bytes=max_bytes, policy=policy, transport=transport)


def _get(
    url: str,
    read: Callable[[httpx.Response, int, Deadline], T],
    *,
    timeout: float,
    max_bytes: int,
    policy: FetchPolicy | None,
    transport: httpx.BaseTransport | None,
) -> T:
    url = validate_page_url(url)
    if max_bytes <= 0:
        raise InvalidInputError(f"must be positive, got {max_bytes}", field="max_bytes")
    if timeout <= 0:
        raise InvalidInputError(f"must be positive, got {timeout}", field="timeout")
    policy = policy or FetchPolicy()
    deadline = Deadline(timeout)
    asked = url
    try:
        with httpx.Client(
            transport=transport or guarded_transport(policy, deadline),
            follow_redirects=False,
            trust_env=False,  # a proxy from the environment would be reached instead of the vetted host
            headers=_HEADERS,
        ) as client:
            for _hop in range(MAX_REDIRECTS + 1):
                policy.check_url(url)
                request = client.build_request("GET", url, timeout=deadline.left())
                response = client.send(request, stream=True)
                try:
                    if not response.is_redirect:
                        return read(response, max_bytes, deadline)
                    url = _redirect_target(response)
                finally:
                    response.close()
            raise BrandFetchError(f"{url} redirects too many times (over {MAX_REDIRECTS})", field="url")
    except httpx.InvalidURL as exc:
        if url == asked:
            raise InvalidInputError(f"{url!r} is not a valid URL: {exc}", field="url") from None
        raise BrandFetchError(
            f"redirected to {url!r}, which is not a valid URL: {exc}", field="url"
        ) from None
    except (httpx.TimeoutException, httpcore.TimeoutException):
        raise BrandFetchError(f"{url} did not answer within {timeout:g} s", field="url") from None
    except httpx.TransportError as exc:
        raise BrandFetchError(
            f"could not reach {url}: {str(exc) or type(exc).__name__}", field="url"
        ) from None
    except httpx.HTTPError as exc:
        raise BrandFetchError(
            f"could not read {url}: {str(exc) or type(exc).__name__}", field="url"
        ) from None


def _redirect_target(response: httpx.Response) -> str:
    location = response.headers.get("location", "").strip()
    target = join_url(str(response.url), location) if location else None
    if not target:
        raise BrandFetchError(f"{response.url} redirects without a usable Location", field="url")
    return target


def _media_type(response: httpx.Response) -> str:
    final = str(response.url)
    if not response.is_success:
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        raise BrandFetchError(f"{final} answered HTTP {response.status_code}{reason}", field="url")
    return str(response.headers.get("content-type", "")).split(";")[0].strip().lower()


def _body(response: httpx.Response, max_bytes: int, deadline: Deadline) -> bytes:
    final = str(response.url)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise BrandFetchError(
            f"{final} is {int(declared):,} bytes, over the {max_bytes:,}-byte limit", field="url"
        )
    body = bytearray()
    for chunk in response.iter_bytes():
        deadline.left()  # a replaced transport has no deadline of its own
        body.extend(chunk)
        if len(body) > max_bytes:
            raise BrandFetchError(f"{final} is larger than the {max_bytes:,}-byte limit", field="url")
    return bytes(body)


def _read_image(response: httpx.Response, max_bytes: int, deadline: Deadline) -> FetchedImage:
    final = str(response.url)
    media = _media_type(response)
    if media not in _EMAIL_IMAGE_TYPES:
        shown = media or "none"
        raise BrandFetchError(
            f"{final} is not a PNG, JPEG, GIF or WebP image (content-type {shown})", field="url"
        )
    body = _body(response, max_bytes, deadline)
    if not body.startswith(_EMAIL_IMAGE_TYPES[media]):
        raise BrandFetchError(f"{final} does not hold the {media} its content-type says", field="url")
    return FetchedImage(url=final, body=body, media_type=media)


def _read(response: httpx.Response, max_bytes: int, deadline: Deadline) -> FetchedPage:
    final = str(response.url)
    media = _media_type(response)
    if media and media not in _HTML_TYPES:
        raise BrandFetchError(f"{final} is not an HTML page (content-type {media})", field="url")
    body = _body(response, max_bytes, deadline)
    if not media and not _looks_like_html(bytes(body[:512])):
        raise BrandFetchError(f"{final} is not an HTML page (no content-type, body is not HTML)", field="url")
    return FetchedPage(url=final, body=bytes(body), charset=response.charset_encoding)


def fetch_brand(
    url: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    max_bytes: int = DEFAULT_MAX_BYTES,
    policy: FetchPolicy | None = None,
    transport: httpx.BaseTransport | None = None,
) -> BrandKit:
    """Fetch a brand's page and read a brand kit from it, resolving links against the final URL."""
    page = fetch_page(url, timeout=timeout, max_bytes=max_bytes, policy=policy, transport=transport)
    return extract_brand(page.body, page.url, encoding=page.charset)
