"""Point-in-time datasets from the store: feature registration, source frames, spines and files.

Feature definitions are registered in the ``feature_definitions`` table: the identical definition
keeps its version, a changed one gets the next. Source frames are read from the workspace's
tables with the entity columns the built-in features use (``variant_id``, ``segment_id`` through
the variant's segment name, ``brand_id`` through its generation request). A built dataset is
written to Parquet under the data directory with its manifest inside, and the manifest is stored
in ``dataset_manifests``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from feedback.errors import InvalidInputError, NotFoundError
from feedback.features import (
    FeatureDefinition,
    RegisteredFeature,
    builtin_features,
    compute_feature,
    definition_from_dict,
    definition_hash,
    definition_to_dict,
)
from feedback.manifest import build_dataset, to_parquet
from feedback.models import DatasetManifest as ManifestRow
from feedback.models import FeatureDefinition as FeatureRow
from feedback.models import FeedbackEvent, GenerationRequest, OutcomeEvent, Segment, Variant, new_id
from feedback.tenancy import existing_ids

__all__ = [
    "SPINE_COLUMNS",
    "SpineDefinition",
    "build_and_store",
    "builtin_by_name",
    "dataset_path",
    "register_feature",
]

SPINE_COLUMNS = (
    "variant_id",
    "ts",
    "brand_id",
    "segment_id",
    "segment_name",
    "generation_request_id",
    "model_id",
    "prompt_name",
    "prompt_version",
)
_VARIANT_COLUMNS = [c for c in SPINE_COLUMNS if c != "ts"]


@dataclass(frozen=True)
class SpineDefinition:
    """Which rows a dataset has: every variant at creation, at first send, or explicit rows."""

    source: str
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    rows: tuple[tuple[str, dt.datetime], ...] = ()


def builtin_by_name() -> dict[str, FeatureDefinition]:
    """The built-in feature definitions by name."""
    return {definition.name: definition for definition in builtin_features()}


def _registered(row: FeatureRow) -> RegisteredFeature:
    return RegisteredFeature(row.name, row.version, row.definition_hash, definition_from_dict(row.definition))


def register_feature(session: Session, workspace_id: str, definition: FeatureDefinition) -> RegisteredFeature:
    """The definition's version in the workspace: the stored one if identical, else the next."""
    digest = definition_hash(definition)

    def find() -> FeatureRow | None:
        return session.scalar(
            select(FeatureRow).where(
                FeatureRow.workspace_id == workspace_id,
                FeatureRow.name == definition.name,
                FeatureRow.definition_hash == digest,
            )
        )

    for _ in range(3):
        found = find()
        if found is not None:
            return _registered(found)
        latest = session.scalar(
            select(func.max(FeatureRow.version)).where(
                FeatureRow.workspace_id == workspace_id, FeatureRow.name == definition.name
            )
        )
        row = FeatureRow(
            workspace_id=workspace_id,
            name=definition.name,
            version=(latest or 0) + 1,
            definition_hash=digest,
            definition=definition_to_dict(definition),
            description=definition.description,
            owner=definition.owner,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            continue  # another request registered it (or took the version) first
        return _registered(row)
    raise InvalidInputError(f"could not register feature {definition.name!r}; try again", field="features")


def _utc(values: Sequence[Any]) -> pd.Series:
    return pd.Series(pd.to_datetime(list(values), utc=True), dtype="datetime64[ns, UTC]")


def _variants_frame(session: Session, workspace_id: str) -> pd.DataFrame:
    stmt = (
        select(
            Variant.id,
            Variant.generation_request_id,
            GenerationRequest.brand_id,
            Variant.segment_name,
            Variant.model_id,
            Variant.prompt_name,
            Variant.prompt_version,
            Variant.created_at,
            Variant.draft,
        )
        .join(
            GenerationRequest,
            (GenerationRequest.id == Variant.generation_request_id)
            & (GenerationRequest.workspace_id == Variant.workspace_id),
        )
        .where(Variant.workspace_id == workspace_id)
    )
    rows = session.execute(stmt).all()
    segments = dict(session.execute(select(Segment.name, Segment.id).where(Segment.workspace_id == workspace_id)).all())
    created = _utc([r.created_at for r in rows])
    return pd.DataFrame(
        {
            "variant_id": pd.Series([r.id for r in rows], dtype=object),
            "generation_request_id": pd.Series([r.generation_request_id for r in rows], dtype=object),
            "brand_id": pd.Series([r.brand_id for r in rows], dtype=object),
            "segment_name": pd.Series([r.segment_name for r in rows], dtype=object),
            "segment_id": pd.Series([segments.get(r.segment_name) for r in rows], dtype=object),
            "model_id": pd.Series([r.model_id for r in rows], dtype=object),
            "prompt_name": pd.Series([r.prompt_name for r in rows], dtype=object),
            "prompt_version": pd.Series([r.prompt_version for r in rows], dtype=object),
            "subject": pd.Series([(r.draft or {}).get("subject") for r in rows], dtype=object),
            "event_time": created,
            "ingested_at": created,
        }
    )


def _events_frame(session: Session, workspace_id: str, model: Any, variants: pd.DataFrame) -> pd.DataFrame:
    columns = [model.variant_id, model.kind, model.event_time, model.ingested_at]
    if model is OutcomeEvent:
        columns.append(OutcomeEvent.revenue)
    rows = session.execute(select(*columns).where(model.workspace_id == workspace_id)).all()
    frame = pd.DataFrame(
        {
            "variant_id": pd.Series([r.variant_id for r in rows], dtype=object),
            "kind": pd.Series([r.kind for r in rows], dtype=object),
            "event_time": _utc([r.event_time for r in rows]),
            "ingested_at": _utc([r.ingested_at for r in rows]),
        }
    )
    if model is OutcomeEvent:
        frame["revenue"] = pd.Series([r.revenue for r in rows], dtype=float)
    keys = variants[["variant_id", "brand_id", "segment_id"]]
    return frame.merge(keys, on="variant_id", how="left")


def _spine(session: Session, workspace_id: str, spec: SpineDefinition, variants: pd.DataFrame) -> pd.DataFrame:
    attrs = variants[_VARIANT_COLUMNS]
    if spec.source == "variants":
        spine = attrs.assign(ts=variants["event_time"])
    elif spec.source == "sends":
        stmt = (
            select(OutcomeEvent.variant_id, func.min(OutcomeEvent.event_time))
            .where(OutcomeEvent.workspace_id == workspace_id, OutcomeEvent.kind == "send")
            .group_by(OutcomeEvent.variant_id)
        )
        sends = session.execute(stmt).all()
        first = pd.DataFrame(
            {"variant_id": pd.Series([r[0] for r in sends], dtype=object), "ts": _utc([r[1] for r in sends])}
        )
        spine = attrs.merge(first, on="variant_id", how="inner")
    else:
        ids = [variant_id for variant_id, _ in spec.rows]
        known = existing_ids(session, Variant, workspace_id, ids)
        for index, variant_id in enumerate(ids):
            if variant_id not in known:
                raise NotFoundError(
                    f"no variant {variant_id!r} in this workspace", field=f"spine.rows.{index}.variant_id"
                )
        given = pd.DataFrame(
            {"variant_id": pd.Series(ids, dtype=object), "ts": _utc([ts for _, ts in spec.rows])}
        )
        spine = given.merge(attrs, on="variant_id", how="left")
    if spec.start is not None:
        spine = spine[spine["ts"] >= pd.Timestamp(spec.start)]
    if spec.end is not None:
        spine = spine[spine["ts"] <= pd.Timestamp(spec.end)]
    if spec.source != "rows":
        spine = spine.sort_values(["ts", "variant_id"], kind="stable")
    return spine[list(SPINE_COLUMNS)].reset_index(drop=True)


def dataset_path(data_dir: Path, workspace_id: str, dataset_id: str) -> Path:
    """Where a dataset's Parquet file lives."""
    return data_dir / "datasets" / workspace_id / f"{dataset_id}.parquet"


def build_and_store(
    session: Session,
    workspace_id: str,
    spec: SpineDefinition,
    feature_names: Sequence[str] | None,
    *,
    as_of: dt.datetime | None,
    data_dir: Path,
    spine_record: dict[str, Any],
) -> ManifestRow:
    """Build a point-in-time dataset, write its Parquet file and store its manifest (caller commits)."""
    if spec.start is not None and spec.end is not None and spec.start > spec.end:
        raise InvalidInputError("must not be after end", field="spine.start")
    if spec.source == "rows" and not spec.rows:
        raise InvalidInputError("a spine of rows needs at least one row", field="spine.rows")
    if spec.source != "rows" and spec.rows:
        raise InvalidInputError("rows are only given with source 'rows'", field="spine.rows")
    builtins = builtin_by_name()
    names = list(feature_names) if feature_names is not None else list(builtins)
    if not names:
        raise InvalidInputError("name at least one feature", field="features")
    for index, name in enumerate(names):
        if name not in builtins:
            raise InvalidInputError(
                f"unknown feature {name!r}; known: {', '.join(sorted(builtins))}", field=f"features.{index}"
            )
        if names.index(name) != index:
            raise InvalidInputError(f"feature {name!r} is named twice", field=f"features.{index}")
    variants = _variants_frame(session, workspace_id)
    sources = {"variants": variants}
    needed = {builtins[name].computation.source for name in names}
    if "feedback_events" in needed:
        sources["feedback_events"] = _events_frame(session, workspace_id, FeedbackEvent, variants)
    if "outcome_events" in needed:
        sources["outcome_events"] = _events_frame(session, workspace_id, OutcomeEvent, variants)
    features = []
    for name in names:
        registered = register_feature(session, workspace_id, builtins[name])
        values = compute_feature(registered.definition, sources[registered.definition.computation.source], as_of=as_of)
        features.append((registered, values))
    spine = _spine(session, workspace_id, spec, variants)
    dataset, manifest = build_dataset(spine, features, spine_time_col="ts", as_of=as_of)
    dataset_id = new_id()
    path = dataset_path(data_dir, workspace_id, dataset_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_parquet(dataset, manifest, path)
    try:
        row = ManifestRow(
            id=dataset_id,
            workspace_id=workspace_id,
            manifest={**manifest.to_dict(), "spine_definition": spine_record},
        )
        session.add(row)
        session.flush()
    except Exception:
        path.unlink(missing_ok=True)
        raise
    return row
