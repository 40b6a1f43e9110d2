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

Two kinds (`REWARD_KINDS`): the logistic model of `genai.reward`, stored whole as JSON, and the
fine-tuned cross-encoder of `genai.reward_cross`, whose files are written once into a folder of its
own under a root the caller names (`CrossEncoderTraining`: the deployment's data directory) and
whose JSON holds that folder, relative to the root, and the sha256 of its weights. `auto` trains the
cross-encoder from `CROSS_ENCODER_MIN` labelled drafts on, when the caller says where to store one,
and the logistic model below that. A stored model without a kind is a logistic one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
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
    new_id,
    utcnow,
)
from feedback.tenancy import get_workspace
from genai.brief import Brief
from genai.draft import EmailDraft
from genai.embed import Embedder
from genai.errors import CopyloopError, InvalidInputError
from genai.reward import NAMED_FEATURES, LabelledDraft, RewardModel, train_reward
from genai.reward_cross import CROSS_KIND, CrossRewardModel, train_cross_reward

__all__ = [
    "ARTIFACTS_DIR",
    "CROSS_ENCODER_MIN",
    "EDIT_WEIGHT",
    "MIN_SENDS",
    "REWARD_KINDS",
    "CrossEncoderTraining",
    "StoredRewardModel",
    "choose_kind",
    "cross_encoder_dir",
    "get_reward_model",
    "labelled_drafts",
    "latest_reward_model",
    "list_reward_models",
    "train_reward_model",
]

MIN_SENDS = 30  # sends before a variant's click and conversion rate is a label
EDIT_WEIGHT = 0.5
_VERDICTS = {"accept": (1.0, 1.0), "reject": (0.0, 1.0), "edit": (1.0, EDIT_WEIGHT)}
REWARD_KINDS = ("auto", "logistic", CROSS_KIND)
# labelled drafts from which `auto` trains a cross-encoder: on the simulated feedback of
# bench/learning.py it trailed the logistic model at 500 and 1,000 (held-out AUC 0.52 against
# 0.70), so `auto` keeps the logistic model well past that; `kind="cross-encoder"` asks for one
CROSS_ENCODER_MIN = 5000
ARTIFACTS_DIR = "reward_models"  # under the root: <workspace id>/v<version>-<model id>


@dataclass(frozen=True)
class CrossEncoderTraining:
    """Where cross-encoder reward models are written and what they are fine-tuned from."""

    root: Path  # stored folders are relative to it
    base: Path  # the checkpoint fine-tuned
    epochs: int = 2
    batch_size: int = 16


@dataclass(frozen=True)
class StoredRewardModel:
    """A stored reward model with its version and what it learned from."""

    id: str
    workspace_id: str
    version: int
    trained_until: dt.datetime
    model: RewardModel | CrossRewardModel
    metrics: dict[str, Any]
    manifest: dict[str, Any]
    created_at: dt.datetime

    @property
    def label(self) -> str:
        """How lineage names it: `<id> v<version>`."""
        return f"{self.id} v{self.version}"

    @property
    def kind(self) -> str:
        """`logistic` or `cross-encoder`."""
        return self.model.kind


def choose_kind(kind: str, labelled: int, *, cross_possible: bool = True) -> str:
    """The kind a training of `labelled` drafts makes: `auto` is the cross-encoder from
    `CROSS_ENCODER_MIN` on (when one can be stored), else logistic; the others are themselves."""
    if kind not in REWARD_KINDS:
        raise InvalidInputError(f"must be one of {', '.join(REWARD_KINDS)}", field="kind")
    if kind != "auto":
        return kind
    return CROSS_KIND if cross_possible and labelled >= CROSS_ENCODER_MIN else "logistic"


def cross_encoder_dir(root: Path, model: CrossRewardModel) -> Path:
    """The folder of a stored cross-encoder under `root`; `InvalidInputError` (field `path`) for a
    stored path that would leave it."""
    relative = PurePosixPath(model.path)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise InvalidInputError(f"{model.path!r} is not a folder under the data directory", field="path")
    return root.joinpath(*relative.parts)


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
                segment=item.variant.segment_name,
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
    kind: str = "auto",
    cross: CrossEncoderTraining | None = None,
) -> StoredRewardModel:
    """Train on the feedback known at `as_of` and store the result as the workspace's next version.

    `kind` is `auto`, `logistic` or `cross-encoder` (see `choose_kind`); a cross-encoder is written
    under `cross.root` (without `cross`, `auto` trains the logistic model and `cross-encoder` is
    refused). Raises `InvalidInputError` (field `feedback`) with fewer than
    `genai.reward.MIN_LABELLED` labelled drafts, or when they all carry the same verdict, and
    (field `kind`) for a kind that cannot be trained.
    """
    as_of = as_of or utcnow()
    examples, summary = labelled_drafts(session, workspace_id, as_of)
    chosen = choose_kind(kind, len(examples), cross_possible=cross is not None)
    version = (
        session.scalar(
            select(func.max(RewardModelRow.version)).where(RewardModelRow.workspace_id == workspace_id)
        )
        or 0
    ) + 1
    model_id = new_id()
    written: Path | None = None
    model: RewardModel | CrossRewardModel
    reads: dict[str, Any]
    if chosen == CROSS_KIND:
        if cross is None:
            raise InvalidInputError("this caller cannot store a cross-encoder reward model", field="kind")
        relative = PurePosixPath(ARTIFACTS_DIR, workspace_id, f"v{version}-{model_id}")
        written = cross.root.joinpath(*relative.parts)
        trained = train_cross_reward(
            examples, cross.base, written, epochs=cross.epochs, batch_size=cross.batch_size, seed=seed
        )
        model = replace(trained, path=relative.as_posix())
        reads = {"base": model.base, "base_sha256": model.base_sha256, "pair": _PAIR}
    else:
        model = train_reward(examples, embedder, seed=seed)
        reads = {"embedder": embedder.name, "features": list(NAMED_FEATURES)}
    manifest = {
        **summary,
        "kind": chosen,
        "kind_asked": kind,
        "cross_encoder_min": CROSS_ENCODER_MIN,
        **reads,
        "seed": seed,
    }
    row = RewardModelRow(
        id=model_id,
        workspace_id=workspace_id,
        version=version,
        trained_until=as_of,
        model=model.to_dict(),
        metrics=model.metrics,
        manifest=manifest,
    )
    try:
        session.add(row)
        session.flush()
    except BaseException:
        if written is not None:  # no row names it: nothing would ever read it
            shutil.rmtree(written, ignore_errors=True)
        raise
    return _stored(row)


_PAIR = "the brief's goal, offer and facts with the draft's segment | the draft's full text"


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
        model=_model(row.model),
        metrics=dict(row.metrics),
        manifest=dict(row.manifest),
        created_at=row.created_at,
    )


def _model(data: dict[str, Any]) -> RewardModel | CrossRewardModel:
    """A stored model of either kind (one stored before models had a kind is logistic)."""
    kind = data.get("kind", "logistic")
    if kind == CROSS_KIND:
        return CrossRewardModel.from_dict(data)
    if kind == "logistic":
        return RewardModel.from_dict(data)
    raise InvalidInputError(f"no reward model kind {kind!r}", field="kind")


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
