"""Stored datasets: spines from a definition, the build through the store, and the Parquet file.

The store (`feedback.datasets`) reads the source frames, resolves features in the workspace's
registry, joins them point in time and keeps the manifests; this module turns the API's spine
definition into a spine frame, builds the dataset with `build_dataset_from_db`, writes it to Parquet
under the data directory (manifest inside) and stores the manifest with `store_manifest`, the spine
definition beside it so the build can be repeated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy.orm import Session

from feedback.datasets import (
    StoredDataset,
    build_dataset_from_db,
    get_stored_dataset,
    spine_from_sends,
    store_manifest,
    variants_frame,
)
from feedback.errors import InvalidInputError, NotFoundError, StateError
from feedback.features import FeatureDefinition, RegisteredFeature, builtin_features
from feedback.manifest import to_parquet
from feedback.models import VariantRow, new_id
from feedback.registry import SqlFeatureRegistry
from feedback.tenancy import existing_ids

__all__ = [
    "SPINE_COLUMNS",
    "SpineDefinition",
    "build_and_store",
    "builtin_by_name",
    "dataset_file",
    "dataset_path",
    "register_builtins",
]

# Every spine carries the variant's keys for the built-in features' entities and its lineage.
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
_ATTRIBUTES = [c for c in SPINE_COLUMNS if c != "ts"]


@dataclass(frozen=True)
class SpineDefinition:
    """Which rows a dataset has: every variant when stored, at its first send, or explicit rows."""

    source: str
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    rows: tuple[tuple[str, dt.datetime], ...] = ()


def builtin_by_name() -> dict[str, FeatureDefinition]:
    """The built-in feature definitions by name."""
    return {definition.name: definition for definition in builtin_features()}


def register_builtins(session: Session, workspace_id: str) -> list[RegisteredFeature]:
    """The built-in features at their registered versions (registered on first use)."""
    registry = SqlFeatureRegistry(session, workspace_id)
    return [registry.register(definition) for definition in builtin_features()]


def _variant_spine(session: Session, workspace_id: str) -> pd.DataFrame:
    variants = variants_frame(session, workspace_id)
    return variants.rename(columns={"event_time": "ts"})[list(SPINE_COLUMNS)]


def _spine(session: Session, workspace_id: str, spec: SpineDefinition) -> pd.DataFrame:
    if spec.source == "sends":
        spine = spine_from_sends(session, workspace_id, per="variant", since=spec.start, until=spec.end)
        return spine[list(SPINE_COLUMNS)]
    if spec.source == "variants":
        spine = _variant_spine(session, workspace_id)
    else:
        ids = [variant_id for variant_id, _ in spec.rows]
        known = existing_ids(session, VariantRow, workspace_id, ids)
        for index, variant_id in enumerate(ids):
            if variant_id not in known:
                raise NotFoundError(
                    f"no variant {variant_id!r} in this workspace", field=f"spine.rows.{index}.variant_id"
                )
        times = pd.Series(pd.to_datetime([ts for _, ts in spec.rows], utc=True)).astype("datetime64[ns, UTC]")
        given = pd.DataFrame({"variant_id": pd.Series(ids, dtype=object), "ts": times})
        attributes = _variant_spine(session, workspace_id)[_ATTRIBUTES]
        spine = given.merge(attributes, on="variant_id", how="left")[list(SPINE_COLUMNS)]
    if spec.start is not None:
        spine = spine[spine["ts"] >= pd.Timestamp(spec.start)]
    if spec.end is not None:
        spine = spine[spine["ts"] <= pd.Timestamp(spec.end)]
    if spec.source == "variants":
        spine = spine.sort_values(["ts", "variant_id"], kind="stable")
    return spine.reset_index(drop=True)


def dataset_path(data_dir: Path, workspace_id: str, dataset_id: str) -> Path:
    """Where a dataset's Parquet file lives."""
    return data_dir / "datasets" / workspace_id / f"{dataset_id}.parquet"


def dataset_file(session: Session, data_dir: Path, workspace_id: str, dataset_id: str) -> Path:
    """The Parquet file of one of the workspace's datasets, or NotFoundError (no such dataset or file)."""
    get_stored_dataset(session, workspace_id, dataset_id)
    path = dataset_path(data_dir, workspace_id, dataset_id)
    if not path.is_file():
        raise NotFoundError(f"the file of dataset {dataset_id!r} is missing", field="dataset_id")
    return path


def _check(spec: SpineDefinition, feature_names: Sequence[str] | None) -> list[str]:
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
            known = ", ".join(sorted(builtins))
            raise InvalidInputError(f"unknown feature {name!r}; known: {known}", field=f"features.{index}")
        if names.index(name) != index:
            raise InvalidInputError(f"feature {name!r} is named twice", field=f"features.{index}")
    return names


def build_and_store(
    session: Session,
    workspace_id: str,
    spec: SpineDefinition,
    feature_names: Sequence[str] | None,
    *,
    as_of: dt.datetime | None,
    data_dir: Path,
    spine_record: dict[str, Any],
) -> StoredDataset:
    """Build a point-in-time dataset, write its Parquet file and store its manifest (caller commits)."""
    names = _check(spec, feature_names)
    register_builtins(session, workspace_id)
    try:
        spine = _spine(session, workspace_id, spec)
        dataset, manifest = build_dataset_from_db(
            session, workspace_id, spine, names, as_of=as_of, store=False
        )
    except pd.errors.OutOfBoundsDatetime as exc:
        raise StateError(
            "the workspace holds event times that datasets cannot represent "
            f"(before 1677 or after 2262): {exc}",
            field="spine",
        ) from None
    dataset_id = new_id()
    path = dataset_path(data_dir, workspace_id, dataset_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    to_parquet(dataset, manifest, path)
    try:
        store_manifest(session, workspace_id, manifest, dataset_id=dataset_id, spine_definition=spine_record)
    except Exception:
        path.unlink(missing_ok=True)
        raise
    return get_stored_dataset(session, workspace_id, dataset_id)
