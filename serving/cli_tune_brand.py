"""The corpus of `copyloop tune --brand`: a brand's approved drafts, read from the feedback store."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from feedback.approved import approved_drafts
from feedback.models import Brand
from genai.brand import BrandKit
from genai.errors import InvalidInputError
from genai.tuning.corpus import Example
from genai.tuning.from_feedback import FeedbackCorpus, examples_from_approved
from serving.settings import Settings

__all__ = ["BrandCorpus", "approved_corpus", "brand_corpus"]


@dataclass(frozen=True)
class BrandCorpus:
    """What `copyloop tune --brand` trains on, and whose it is."""

    brand: str
    train: list[Example]
    held_out: list[Example]
    scope: dict[str, str | None]  # workspace_id, brand_id, brand, as_of


def _moment(value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputError(f"{value!r} is not an ISO 8601 time", field="as_of") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def approved_corpus(
    session: Session, workspace_id: str, brand: Brand, as_of: dt.datetime | None
) -> FeedbackCorpus:
    """The brand's approved drafts known at `as_of`, as training and held-out e-mails."""
    kit, approved = approved_drafts(session, workspace_id, brand.id, as_of=as_of)
    return examples_from_approved(BrandKit.from_dict({"name": brand.name, **kit}), approved)


def brand_corpus(
    settings: Settings,
    workspace: str,
    brand: str,
    as_of: str | None,
    min_drafts: int,
    say: Callable[[str], None],
) -> BrandCorpus:
    """The brand's training and held-out e-mails, and whose they are; too few approved drafts is an
    error naming the field."""
    from feedback.db import session_factory, upgrade
    from feedback.tenancy import get_workspace_by_name

    moment = _moment(as_of)
    engine = settings.make_engine()
    try:
        upgrade(engine)
        with session_factory(engine)() as session, session.begin():
            workspace_id = get_workspace_by_name(session, workspace).id
            found = session.scalar(
                select(Brand).where(
                    Brand.workspace_id == workspace_id, or_(Brand.id == brand, Brand.name == brand)
                )
            )
            if found is None:
                raise InvalidInputError(f"no brand {brand!r} in workspace {workspace!r}", field="brand")
            corpus = approved_corpus(session, workspace_id, found, moment)
            brand_name, brand_id = found.name, found.id
    finally:
        engine.dispose()
    for variant_id, reason in corpus.skipped.items():
        say(f"left out variant {variant_id}: {reason}")
    corpus.require(min_drafts, brand_name, "brand")
    say(
        f"{len(corpus.train)} training and {len(corpus.held_out)} held-out e-mails "
        f"from {brand_name!r}'s feedback"
    )
    scope = {
        "workspace_id": workspace_id,
        "brand_id": brand_id,
        "brand": brand_name,
        "as_of": moment.isoformat() if moment else None,
    }
    return BrandCorpus(brand_name, corpus.train, corpus.held_out, scope)
