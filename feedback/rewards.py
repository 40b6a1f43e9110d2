"""A workspace's reward models: the labelled drafts they learn from, point in time, and their store.

A draft's label comes from what the workspace knew at the training instant (`as_of`): only
feedback and outcomes that happened *and* were received at or before it count, so a model
trained at `as_of` can be rebuilt later from the same tables and never saw the future.

- The marketer's latest verdict on a variant: accept (1) or reject (0); an edit keeps the draft
  with changes, a weaker accept (label 1, weight 0.5).
- Its outcomes, once it has been sent to at least `MIN_SENDS` contacts: clicks and conversions
  per send (never opens: privacy proxies open every e-mail) at or above the median rate of the
  workspace's variants with that many sends is a 1, below it a 0.

Trained models are stored immutable (a database trigger refuses updates), versioned per
workspace, with the manifest of what they learned from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from feedback.errors import NotFoundError
from feedback.models import (
    Brand,
    FeedbackEvent,
    GenerationRequestRow,
    OutcomeEvent,
    RewardModelRow,
    VariantRow,
    utcnow,
)
from feedback.tenancy import get_workspace
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.embed import Embedder
from genai.errors import CopyloopError
from genai.reward import LabelledDraft, RewardModel, train_reward

__all__ = [
    "EDIT_WEIGHT",
    "MIN_SENDS",
    "StoredRewardModel",
    "get_reward_model",
    "labelled_drafts",
    "latest_reward_model",
    "list_reward_models",
    "train_reward_model",
]

MIN_SENDS = 30  # sends before a variant's click and conversion rate is a label
EDIT_WEIGHT = 0.5
_VERDICTS = {"accept": (1.0, 1.0), "reject": (0.0, 1.0), "edit": (1.0, EDIT_WEIGHT)}


@dataclass(frozen=True)
class StoredRewardModel:
    """A stored reward model with its version and what it learned from."""

    id: str
    workspace_id: str
    version: int
    trained_until: dt.datetime
    model: RewardModel
    metrics: dict[str, Any]
    manifest: dict[str, Any]
    created_at: dt.datetime

    @property
    def label(self) -> str:
        """How lineage names it: `<id> v<version>`."""
        return f"{self.id} v{self.version}"


@dataclass(frozen=True)
class _Known:
    variant: VariantRow
    brief: dict[str, Any]
    products: tuple[str, ...]


def labelled_drafts(
    session: Session, workspace_id: str, as_of: dt.datetime | None = None
) -> tuple[list[LabelledDraft], dict[str, Any]]:
    """The workspace's drafts with a label known at `as_of` (default now), and a summary of them."""
    get_workspace(session, workspace_id)
    as_of = as_of or utcnow()
    verdicts = _verdicts(session, workspace_id, as_of)
    rates = _outcome_rates(session, workspace_id, as_of)
    median = statistics.median(rates.values()) if rates else None
    labels: dict[str, tuple[float, float, str]] = {}
    for variant_id, (label, weight) in verdicts.items():
        labels[variant_id] = (label, weight, "feedback")
    for variant_id, rate in rates.items():
        if variant_id not in labels and median is not None:
            labels[variant_id] = (1.0 if rate >= median else 0.0, 1.0, "outcomes")
    known = _variants(session, workspace_id, list(labels))
    examples = []
    unreadable = 0
    for variant_id in sorted(labels):
        item = known.get(variant_id)
        if item is None:
            continue
        label, weight, _ = labels[variant_id]
        try:  # stored by the API, so valid; a brief stored by an older version may not be
            brief = Brief.model_validate(item.brief)
            draft = EmailDraft.from_dict(item.variant.draft)
        except (ValidationError, CopyloopError, KeyError, TypeError):
            unreadable += 1
            continue
        examples.append(
            LabelledDraft(
                draft=draft,
                brief=brief,
                products=item.products,
                label=label,
                weight=weight,
                group=f"{item.variant.generation_request_id}/{item.variant.segment_name}",
            )
        )
    summary = {
        "as_of": as_of.isoformat(),
        "labelled": len(examples),
        "from_feedback": sum(1 for v in labels.values() if v[2] == "feedback"),
        "from_outcomes": sum(1 for v in labels.values() if v[2] == "outcomes"),
        "positives": sum(1 for e in examples if e.label >= 0.5),
        "unreadable": unreadable,
        "min_sends": MIN_SENDS,
        "outcome_rate_median": median,
        "variants_sha256": hashlib.sha256(
            "\n".join(f"{k}:{labels[k][0]}:{labels[k][1]}" for k in sorted(labels)).encode()
        ).hexdigest(),
        "label_rules": "latest accept=1, reject=0, edit=1 at weight 0.5; else (clicks+conversions)/sends "
        f">= the median over variants with >= {MIN_SENDS} sends",
    }
    return examples, summary


def train_reward_model(
    session: Session,
    workspace_id: str,
    embedder: Embedder,
    *,
    as_of: dt.datetime | None = None,
    seed: int = 0,
) -> StoredRewardModel:
    """Train on the feedback known at `as_of` and store the result as the workspace's next version.

    Raises `InvalidInputError` (field `feedback`) with fewer than `genai.reward.MIN_LABELLED`
    labelled drafts, or when they all carry the same verdict.
    """
    as_of = as_of or utcnow()
    examples, summary = labelled_drafts(session, workspace_id, as_of)
    model = train_reward(examples, embedder, seed=seed)
    version = (
        session.scalar(
            select(func.max(RewardModelRow.version)).where(RewardModelRow.workspace_id == workspace_id)
        )
        or 0
    ) + 1
    manifest = {**summary, "embedder": embedder.name, "features": list(model.feature_names[:9]), "seed": seed}
    row = RewardModelRow(
        workspace_id=workspace_id,
        version=version,
        trained_until=as_of,
        model=model.to_dict(),
        metrics=model.metrics,
        manifest=manifest,
    )
    session.add(row)
    session.flush()
    return _stored(row)


def latest_reward_model(session: Session, workspace_id: str) -> StoredRewardModel | None:
    """The workspace's newest reward model, or None."""
    row = session.scalars(
        select(RewardModelRow)
        .where(RewardModelRow.workspace_id == workspace_id)
        .order_by(RewardModelRow.version.desc())
        .limit(1)
    ).first()
    return None if row is None else _stored(row)


def get_reward_model(session: Session, workspace_id: str, model_id: str) -> StoredRewardModel:
    """One of the workspace's reward models; `NotFoundError` if it has none of that id."""
    row = session.scalars(
        select(RewardModelRow).where(
            RewardModelRow.workspace_id == workspace_id, RewardModelRow.id == model_id
        )
    ).first()
    if row is None:
        raise NotFoundError(f"no reward model {model_id!r} in this workspace", field="reward_model_id")
    return _stored(row)


def list_reward_models(session: Session, workspace_id: str) -> list[StoredRewardModel]:
    """The workspace's reward models, newest first."""
    rows = session.scalars(
        select(RewardModelRow)
        .where(RewardModelRow.workspace_id == workspace_id)
        .order_by(RewardModelRow.version.desc())
    )
    return [_stored(row) for row in rows]


def _stored(row: RewardModelRow) -> StoredRewardModel:
    return StoredRewardModel(
        id=row.id,
        workspace_id=row.workspace_id,
        version=row.version,
        trained_until=row.trained_until,
        model=RewardModel.from_dict(row.model),
        metrics=dict(row.metrics),
        manifest=dict(row.manifest),
        created_at=row.created_at,
    )


def _verdicts(session: Session, workspace_id: str, as_of: dt.datetime) -> dict[str, tuple[float, float]]:
    """Each variant's latest accept, reject or edit known at `as_of`."""
    rows = session.execute(
        select(FeedbackEvent.variant_id, FeedbackEvent.kind)
        .where(
            FeedbackEvent.workspace_id == workspace_id,
            FeedbackEvent.kind.in_(tuple(_VERDICTS)),
            FeedbackEvent.event_time <= as_of,
            FeedbackEvent.ingested_at <= as_of,
        )
        .order_by(FeedbackEvent.event_time, FeedbackEvent.id)
    )
    latest: dict[str, tuple[float, float]] = {}
    for variant_id, kind in rows:
        latest[variant_id] = _VERDICTS[kind]
    return latest


def _outcome_rates(session: Session, workspace_id: str, as_of: dt.datetime) -> dict[str, float]:
    """(clicks + conversions) per send of each variant sent to at least `MIN_SENDS` contacts."""
    rows = session.execute(
        select(OutcomeEvent.variant_id, OutcomeEvent.kind, func.count())
        .where(
            OutcomeEvent.workspace_id == workspace_id,
            OutcomeEvent.kind.in_(("send", "click", "conversion")),
            OutcomeEvent.event_time <= as_of,
            OutcomeEvent.ingested_at <= as_of,
        )
        .group_by(OutcomeEvent.variant_id, OutcomeEvent.kind)
    )
    counts: dict[str, dict[str, int]] = {}
    for variant_id, kind, n in rows:
        counts.setdefault(variant_id, {})[kind] = int(n)
    return {
        variant_id: (c.get("click", 0) + c.get("conversion", 0)) / c["send"]
        for variant_id, c in counts.items()
        if c.get("send", 0) >= MIN_SENDS
    }


def _product_names(kit: Any) -> tuple[str, ...]:
    """The product names of a stored brand kit (any JSON object: a kit may predate a field)."""
    products = kit.get("products") if isinstance(kit, dict) else None
    if not isinstance(products, list):
        return ()
    return tuple(str(p["name"]) for p in products if isinstance(p, dict) and p.get("name"))


def _variants(session: Session, workspace_id: str, ids: Sequence[str]) -> dict[str, _Known]:
    """The variants of `ids` with their request's brief and their brand's product names."""
    out: dict[str, _Known] = {}
    for start in range(0, len(ids), 500):
        chunk = list(ids[start : start + 500])
        rows = session.execute(
            select(VariantRow, GenerationRequestRow.brief, Brand.kit)
            .join(
                GenerationRequestRow,
                (GenerationRequestRow.workspace_id == VariantRow.workspace_id)
                & (GenerationRequestRow.id == VariantRow.generation_request_id),
            )
            .outerjoin(
                Brand,
                (Brand.workspace_id == GenerationRequestRow.workspace_id)
                & (Brand.id == GenerationRequestRow.brand_id),
            )
            .where(VariantRow.workspace_id == workspace_id, VariantRow.id.in_(chunk))
        )
        for variant, brief, kit in rows:
            out[variant.id] = _Known(variant, brief, _product_names(kit))
    return out
