"""Point-in-time datasets with their manifests: what went in, what came out, and the lineage it covers.

A manifest pins a built dataset: the feature versions and hashes, the TTLs and ``as_of`` used, a
hash of the spine, the spine's time bounds, the row count, a content hash of the result, and the
model and prompt versions of the variants the spine covers. The hashes come from
:func:`frame_hash`, a canonical encoding of the values that depends on column order and row order
but not on the index, on how pandas stores a column (NumPy or Arrow strings, ``int64`` or ``Int64``)
or on the library versions, so the same data hashes the same after a Parquet round trip.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from os import PathLike
from typing import Any, Protocol

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from feedback.errors import FeedbackError, InvalidInputError

# The manifest stores durations exactly as feature definitions do.
from feedback.features import RegisteredFeature, _duration, _seconds
from feedback.pit import point_in_time_join

__all__ = [
    "MANIFEST_METADATA_KEY",
    "DatasetManifest",
    "ManifestError",
    "ManifestFeature",
    "build_dataset",
    "build_manifest",
    "frame_hash",
    "read_parquet",
    "to_parquet",
]

MANIFEST_METADATA_KEY = b"copyloop.dataset_manifest"
_FORMAT_VERSION = 1


class ManifestError(FeedbackError):
    """A dataset file without a readable manifest, or whose content no longer matches it."""

    code = "manifest_invalid"


class _FeatureIdentity(Protocol):
    """Anything naming a feature version: a registered feature or a manifest entry."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def hash(self) -> str: ...


@dataclass(frozen=True)
class ManifestFeature:
    """One feature of a dataset: its version and definition hash, and the TTL the join applied."""

    name: str
    version: int
    hash: str
    ttl: timedelta | None


@dataclass(frozen=True, kw_only=True)
class DatasetManifest:
    """The record of one built dataset (see the module doc); JSON-ready through `to_dict`."""

    features: tuple[ManifestFeature, ...]
    spine_hash: str
    spine_time_col: str
    time_start: pd.Timestamp | None
    time_end: pd.Timestamp | None
    row_count: int
    columns: tuple[str, ...]
    content_hash: str
    as_of: pd.Timestamp | None
    created_at: pd.Timestamp
    model_ids: tuple[str, ...]
    prompt_versions: tuple[str, ...]
    format_version: int = _FORMAT_VERSION

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain JSON types: timestamps in ISO 8601, durations in seconds."""
        return {
            "format_version": self.format_version,
            "features": [
                {"name": f.name, "version": f.version, "hash": f.hash, "ttl_seconds": _seconds(f.ttl)}
                for f in self.features
            ],
            "spine_hash": self.spine_hash,
            "spine_time_col": self.spine_time_col,
            "time_start": _iso(self.time_start),
            "time_end": _iso(self.time_end),
            "row_count": self.row_count,
            "columns": list(self.columns),
            "content_hash": self.content_hash,
            "as_of": _iso(self.as_of),
            "created_at": _iso(self.created_at),
            "model_ids": list(self.model_ids),
            "prompt_versions": list(self.prompt_versions),
        }

    def to_json(self) -> str:
        """The manifest as a JSON document with sorted keys."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DatasetManifest:
        """Rebuild a manifest saved with `to_dict`."""
        try:
            if data["format_version"] != _FORMAT_VERSION:
                raise ManifestError(
                    f"unsupported manifest format {data['format_version']!r}", field="format_version"
                )
            created_at = _stamp(data["created_at"])
            if created_at is None:
                raise ManifestError("a manifest needs created_at", field="created_at")
            return cls(
                features=tuple(
                    ManifestFeature(f["name"], int(f["version"]), f["hash"], _duration(f["ttl_seconds"]))
                    for f in data["features"]
                ),
                spine_hash=data["spine_hash"],
                spine_time_col=data["spine_time_col"],
                time_start=_stamp(data["time_start"]),
                time_end=_stamp(data["time_end"]),
                row_count=int(data["row_count"]),
                columns=tuple(data["columns"]),
                content_hash=data["content_hash"],
                as_of=_stamp(data["as_of"]),
                created_at=created_at,
                model_ids=tuple(data["model_ids"]),
                prompt_versions=tuple(data["prompt_versions"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ManifestError(f"not a dataset manifest: missing or bad {exc}", field="manifest") from exc

    @classmethod
    def from_json(cls, text: str | bytes) -> DatasetManifest:
        """Rebuild a manifest saved with `to_json`."""
        try:
            data = json.loads(text)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ManifestError(f"manifest is not valid JSON: {exc}", field="manifest") from exc
        if not isinstance(data, dict):
            raise ManifestError("manifest JSON must be an object", field="manifest")
        return cls.from_dict(data)


def build_manifest(
    dataset: pd.DataFrame,
    spine: pd.DataFrame,
    *,
    features: Sequence[_FeatureIdentity],
    spine_time_col: str = "ts",
    ttl: timedelta | Mapping[str, timedelta | None] | None = None,
    as_of: datetime | None = None,
    created_at: datetime | None = None,
) -> DatasetManifest:
    """Describe a dataset built from `spine` with the given feature versions, TTL(s) and `as_of`.

    ``ttl`` is what was passed to the join: one duration for every feature or one per feature
    name. Lineage comes from the spine's ``model_id``, ``prompt_name`` and ``prompt_version``
    columns where they exist.
    """
    if spine_time_col not in spine.columns:
        raise InvalidInputError(f"missing column {spine_time_col!r}", field=f"spine.{spine_time_col}")
    times = spine[spine_time_col]
    start, end = (times.min(), times.max()) if len(times) else (pd.NaT, pd.NaT)
    entries = tuple(
        ManifestFeature(f.name, f.version, f.hash, ttl.get(f.name) if isinstance(ttl, Mapping) else ttl)
        for f in features
    )
    return DatasetManifest(
        features=entries,
        spine_hash=frame_hash(spine),
        spine_time_col=spine_time_col,
        time_start=None if pd.isna(start) else pd.Timestamp(start),
        time_end=None if pd.isna(end) else pd.Timestamp(end),
        row_count=len(dataset),
        columns=tuple(str(c) for c in dataset.columns),
        content_hash=frame_hash(dataset),
        as_of=None if as_of is None else pd.Timestamp(as_of),
        created_at=pd.Timestamp.now(tz="UTC") if created_at is None else pd.Timestamp(created_at),
        model_ids=_distinct(spine, "model_id"),
        prompt_versions=_prompt_versions(spine),
    )


def build_dataset(
    spine: pd.DataFrame,
    features: Sequence[tuple[RegisteredFeature, pd.DataFrame]],
    *,
    spine_time_col: str = "ts",
    as_of: datetime | None = None,
    created_at: datetime | None = None,
) -> tuple[pd.DataFrame, DatasetManifest]:
    """Join registered features' values onto a spine, each under its name with its entity and TTL.

    Each value frame is what :func:`feedback.features.compute_feature` returns for the feature;
    to rebuild a dataset as it was at ``as_of``, compute the values with that same ``as_of``.
    """
    names = [registered.name for registered, _ in features]
    if len(set(names)) != len(names):
        raise InvalidInputError("each feature may appear once in a dataset", field="features")
    definitions = {registered.name: registered.definition for registered, _ in features}
    ttl = {name: defn.ttl for name, defn in definitions.items()}
    dataset = point_in_time_join(
        spine,
        {registered.name: values for registered, values in features},
        entity_cols={name: defn.entity for name, defn in definitions.items()},
        spine_time_col=spine_time_col,
        ttl=ttl,
        as_of=as_of,
    )
    manifest = build_manifest(
        dataset,
        spine,
        features=[registered for registered, _ in features],
        spine_time_col=spine_time_col,
        ttl=ttl,
        as_of=as_of,
        created_at=created_at,
    )
    return dataset, manifest


def to_parquet(df: pd.DataFrame, manifest: DatasetManifest, path: str | PathLike[str]) -> None:
    """Write the dataset to Parquet with its manifest JSON in the file's metadata."""
    if frame_hash(df) != manifest.content_hash:
        raise ManifestError("the frame does not match the manifest's content hash", field="content_hash")
    table = pa.Table.from_pandas(df)
    metadata = dict(table.schema.metadata or {})
    metadata[MANIFEST_METADATA_KEY] = manifest.to_json().encode("utf-8")
    pq.write_table(table.replace_schema_metadata(metadata), path)


def read_parquet(path: str | PathLike[str], *, verify: bool = True) -> tuple[pd.DataFrame, DatasetManifest]:
    """Read a dataset written by `to_parquet` and its manifest, checking the content hash when `verify`."""
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(MANIFEST_METADATA_KEY)
    if raw is None:
        raise ManifestError("the Parquet file carries no dataset manifest", field="path")
    manifest = DatasetManifest.from_json(raw)
    df = table.to_pandas()
    if verify and frame_hash(df) != manifest.content_hash:
        raise ManifestError("the file's content does not match its manifest", field="content_hash")
    return df, manifest


def frame_hash(df: pd.DataFrame) -> str:
    """The sha256 (hex) of a frame's canonical content: column names, kinds and values in order."""
    digest = hashlib.sha256()
    digest.update(f"copyloop-frame-v1:{len(df)}:{df.shape[1]}".encode())
    for position in range(df.shape[1]):
        column = df.iloc[:, position]
        kind, payload = _encode(column)
        _update(digest, str(df.columns[position]).encode("utf-8"))
        _update(digest, kind.encode("utf-8"))
        digest.update(payload)
    return digest.hexdigest()


def _encode(column: pd.Series) -> tuple[str, bytes]:
    """A column as (kind, bytes); missing values are flagged in a mask, never by a sentinel value."""
    dtype = column.dtype
    missing = column.isna().to_numpy(dtype=bool)
    mask = missing.astype(np.uint8).tobytes()
    if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
        tz = str(dtype.tz) if isinstance(dtype, pd.DatetimeTZDtype) else ""
        ns = column.to_numpy(dtype="datetime64[ns]").view(np.int64)
        return f"datetime[{tz}]", mask + np.where(missing, 0, ns).astype("<i8").tobytes()
    if pd.api.types.is_timedelta64_dtype(dtype):
        ns = column.to_numpy(dtype="timedelta64[ns]").view(np.int64)
        return "timedelta", mask + np.where(missing, 0, ns).astype("<i8").tobytes()
    if pd.api.types.is_bool_dtype(dtype):
        values = column.to_numpy(dtype=object, na_value=False).astype(bool)
        return "bool", mask + values.astype(np.uint8).tobytes()
    if pd.api.types.is_unsigned_integer_dtype(dtype):
        return "uint", mask + column.to_numpy(dtype="<u8", na_value=0).tobytes()
    if pd.api.types.is_integer_dtype(dtype):
        return "int", mask + column.to_numpy(dtype="<i8", na_value=0).tobytes()
    if pd.api.types.is_float_dtype(dtype):
        values = column.to_numpy(dtype="<f8", na_value=np.nan)
        # Adding 0.0 turns -0.0 into 0.0, so equal numbers give equal bytes.
        return "float", mask + (np.where(missing, 0.0, values) + 0.0).astype("<f8").tobytes()
    return "text", b"".join(_encode_object(v) for v in column.to_numpy(dtype=object))


def _encode_object(value: object) -> bytes:
    """One value of a text or object column, tagged by type and length-prefixed."""
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return b"\x00"
    if isinstance(value, str):
        tag, text = b"s", value
    elif isinstance(value, bool | np.bool_):
        tag, text = b"b", str(bool(value))
    elif isinstance(value, int | np.integer):
        tag, text = b"i", str(int(value))
    elif isinstance(value, float | np.floating):
        tag, text = b"f", repr(float(value) + 0.0)
    elif isinstance(value, datetime):
        tag, text = b"t", pd.Timestamp(value).isoformat()
    else:
        # Best effort for other objects: their repr, stable for value types such as Decimal.
        tag, text = b"o", repr(value)
    data = text.encode("utf-8")
    return tag + struct.pack("<Q", len(data)) + data


def _update(digest: Any, data: bytes) -> None:
    """Feed length-prefixed bytes, so that field boundaries cannot shift between inputs."""
    digest.update(struct.pack("<Q", len(data)))
    digest.update(data)


def _distinct(frame: pd.DataFrame, column: str) -> tuple[str, ...]:
    """Sorted distinct non-null values of a column as strings (empty when the column is absent)."""
    if column not in frame.columns:
        return ()
    return tuple(sorted({str(v) for v in frame[column].dropna().unique()}))


def _prompt_versions(spine: pd.DataFrame) -> tuple[str, ...]:
    """Sorted distinct ``name@version`` of the prompts in the spine's lineage columns."""
    if "prompt_name" not in spine.columns:
        return ()
    if "prompt_version" not in spine.columns:
        return _distinct(spine, "prompt_name")
    pairs = spine[["prompt_name", "prompt_version"]].dropna().drop_duplicates()
    return tuple(sorted(f"{name}@{version}" for name, version in pairs.itertuples(index=False)))


def _iso(value: pd.Timestamp | None) -> str | None:
    """A timestamp in ISO 8601, None for None."""
    return None if value is None else value.isoformat()


def _stamp(value: str | None) -> pd.Timestamp | None:
    """ISO 8601 back to a timestamp."""
    return None if value is None else pd.Timestamp(value)
