"""Brands: create from a JSON kit, an uploaded HTML page or a URL; read, update, completeness."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, UploadFile

from feedback import catalog
from feedback.models import Brand
from feedback.tenancy import get_in_workspace
from genai.brand import BrandKit, extract_brand
from genai.brand.fetch import fetch_brand
from genai.brand.logo import verify_logo
from genai.errors import BrandFetchError, InvalidInputError
from serving.deps import Marketer, Reader, RuntimeDep, SessionDep
from serving.routes import COMMON_ERRORS, Limit, Offset, errors
from serving.runtime import Runtime
from serving.schemas import BrandCreate, BrandFromUrl, BrandOut, BrandUpdate, CompletenessOut

__all__ = ["router"]

router = APIRouter(prefix="/v1/brands", tags=["brands"], responses=COMMON_ERRORS)
log = logging.getLogger("copyloop.api")

# One answer for every fetch that fails, so the API cannot be used to learn which hosts and ports
# answer inside the server's network; the reason goes to the log.
FETCH_FAILED = "the page could not be fetched: it must be a public http(s) web page that answers with HTML"


def _kit(data: dict[str, Any]) -> BrandKit:
    """A validated brand kit; errors name the field under ``kit``."""
    try:
        return BrandKit.from_dict(data)
    except InvalidInputError as exc:
        field = exc.field or "brand"
        raise InvalidInputError(exc.message, field="kit" + field.removeprefix("brand")) from None


def completeness(kit: BrandKit) -> CompletenessOut:
    """The completeness report of a kit, as the API shows it."""
    report = kit.completeness()
    return CompletenessOut(
        missing=report.missing, warnings=report.warnings, score=report.score, complete=report.complete
    )


def brand_out(brand: Brand) -> BrandOut:
    """A stored brand as the API shows it."""
    return BrandOut(
        id=brand.id,
        name=brand.name,
        kit=brand.kit,
        completeness=completeness(BrandKit.from_dict(brand.kit)),
        created_at=brand.created_at,
    )


def _store(session: SessionDep, workspace_id: str, kit: BrandKit) -> BrandOut:
    with session.begin():
        brand = catalog.create_brand(session, workspace_id, kit.name, kit.to_dict())
        return brand_out(brand)


@router.post("", status_code=201, responses=errors(409))
def create_brand_from_kit(body: BrandCreate, key: Marketer, session: SessionDep) -> BrandOut:
    """Create a brand from a brand-kit JSON object."""
    return _store(session, key.workspace_id, _kit(body.kit))


def _with_checked_logo(kit: BrandKit, runtime: Runtime) -> BrandKit:
    """The kit without a logo that does not load as an e-mail image (the brand name stands in)."""
    return verify_logo(
        kit,
        timeout=runtime.settings.brand_fetch_timeout_s,
        policy=runtime.settings.fetch_policy(),
        transport=runtime.fetch_transport,
    )


@router.post("/from-html", status_code=201, responses=errors(409))
def create_brand_from_html(
    key: Marketer,
    session: SessionDep,
    runtime: RuntimeDep,
    file: Annotated[UploadFile, File(description="The brand's saved web page.")],
    url: Annotated[str | None, Form(max_length=2000, description="Where the page lives.")] = None,
) -> BrandOut:
    """Create a brand from an uploaded HTML page (name, palette, fonts, logo, products, address).

    The logo is kept only when it loads as an image a mail client shows; else the brand's name in
    its colour stands in for it, and the completeness report says why.
    """
    kit = _with_checked_logo(extract_brand(file.file.read(), url or None), runtime)
    return _store(session, key.workspace_id, kit)


@router.post("/from-url", status_code=201, responses=errors(409))
def create_brand_from_url(
    body: BrandFromUrl, key: Marketer, session: SessionDep, runtime: RuntimeDep
) -> BrandOut:
    """Create a brand from its public web page, fetched by the server (its logo checked likewise)."""
    try:
        kit = fetch_brand(
            body.url,
            timeout=runtime.settings.brand_fetch_timeout_s,
            policy=runtime.settings.fetch_policy(),
            transport=runtime.fetch_transport,
        )
    except BrandFetchError as exc:
        log.warning("brand page fetch failed for workspace %s: %s", key.workspace_id, exc.message)
        raise BrandFetchError(FETCH_FAILED, field="url") from None
    return _store(session, key.workspace_id, _with_checked_logo(kit, runtime))


@router.get("")
def list_brands(key: Reader, session: SessionDep, limit: Limit = 100, offset: Offset = 0) -> list[BrandOut]:
    """The workspace's brands, by name."""
    with session.begin():
        brands = catalog.list_brands(session, key.workspace_id, limit=limit, offset=offset)
        return [brand_out(brand) for brand in brands]


@router.get("/{brand_id}")
def get_brand(brand_id: str, key: Reader, session: SessionDep) -> BrandOut:
    """One brand with its kit and completeness report."""
    with session.begin():
        return brand_out(get_in_workspace(session, Brand, key.workspace_id, brand_id))


@router.patch("/{brand_id}", responses=errors(409))
def update_brand(brand_id: str, body: BrandUpdate, key: Marketer, session: SessionDep) -> BrandOut:
    """Change some fields of a brand's kit; a new kit name renames the brand."""
    with session.begin():
        brand = get_in_workspace(session, Brand, key.workspace_id, brand_id)
        kit = _kit({**brand.kit, **body.kit})
        return brand_out(catalog.update_brand(session, brand, kit.name, kit.to_dict()))


@router.get("/{brand_id}/completeness")
def get_brand_completeness(brand_id: str, key: Reader, session: SessionDep) -> CompletenessOut:
    """What the brand kit lacks: missing fields, warnings and a score."""
    with session.begin():
        brand = get_in_workspace(session, Brand, key.workspace_id, brand_id)
        return completeness(BrandKit.from_dict(brand.kit))
