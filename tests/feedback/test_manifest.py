"""Dataset manifests: canonical hashes, lineage, Parquet round trips and reproducible builds."""

from __future__ import annotations

import hashlib
import json
import struct
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from feedback.features import MemoryFeatureRegistry, builtin_features, compute_feature
from feedback.manifest import (
    MANIFEST_METADATA_KEY,
    DatasetManifest,
    ManifestError,
    ManifestFeature,
    build_dataset,
    build_manifest,
    frame_hash,
    read_parquet,
    to_parquet,
)

T0 = pd.Timestamp("2024-06-01", tz="UTC")
CREATED = pd.Timestamp("2024-07-01 12:00", tz="UTC")


def hours(values: list[float]) -> pd.Series:
    """A UTC datetime column of hours after T0."""
    return pd.Series([T0 + pd.Timedelta(hours=v) for v in values], dtype="datetime64[ns, UTC]")


def sample_frame() -> pd.DataFrame:
    """A frame with one column of each kind the hash encodes, missing values included."""
    return pd.DataFrame(
        {
            "variant_id": ["v1", "v2", None],
            "ts": hours([0, 1.5, 3]),
            "score": [0.25, np.nan, -0.0],
            "count": [1, 2, 3],
            "flag": [True, False, True],
            "maybe": pd.array([1, None, 3], dtype="Int64"),
            "kind": pd.Categorical(["a", "b", "a"]),
        }
    )


def spine_with_lineage() -> pd.DataFrame:
    """Variants at send time with the model and prompt that produced them."""
    return pd.DataFrame(
        {
            "variant_id": ["v1", "v2", "v1", "v3"],
            "ts": hours([10, 20, 30, 40]),
            "model_id": ["gemma-3-270m", "qwen2.5-1.5b", "gemma-3-270m", None],
            "prompt_name": ["subject", "subject", "subject", "body"],
            "prompt_version": ["2", "3", "2", "1"],
        }
    )


# frame_hash


def test_frame_hash_is_pinned_so_it_stays_stable_across_runs_and_versions() -> None:
    assert frame_hash(sample_frame()) == "182bcff2a3f30661c4388df3365d20edd73e45199cb6ab40e15016f898b82ef2"


def test_frame_hash_follows_its_canonical_encoding() -> None:
    # Header, then per column: length-prefixed name and kind, a missing-value mask, little-endian values.
    expected = hashlib.sha256(b"copyloop-frame-v1:2:1")
    for part in (b"a", b"int"):
        expected.update(struct.pack("<Q", len(part)) + part)
    expected.update(b"\x00\x01" + struct.pack("<qq", 7, 0))
    assert frame_hash(pd.DataFrame({"a": pd.array([7, None], dtype="Int64")})) == expected.hexdigest()


def test_frame_hash_depends_on_row_order_column_order_and_names() -> None:
    frame = sample_frame()
    variants = [
        frame.iloc[[1, 0, 2]],
        frame[list(reversed(frame.columns))],
        frame.rename(columns={"score": "points"}),
    ]
    assert len({frame_hash(f) for f in [frame, *variants]}) == 4


def test_frame_hash_changes_with_any_value() -> None:
    frame = sample_frame()
    changed = []
    for column, value in [("variant_id", "v9"), ("ts", T0), ("score", 0.5), ("count", 7), ("flag", True)]:
        copy = frame.copy()
        copy.loc[1, column] = value
        changed.append(frame_hash(copy))
    assert frame_hash(frame) not in changed
    assert len(set(changed)) == len(changed)


def test_frame_hash_ignores_the_index_and_how_columns_are_stored() -> None:
    frame = sample_frame()
    restored = frame.set_axis([10, 11, 12]).astype(
        {"variant_id": object, "count": "Int64", "ts": "datetime64[us, UTC]"}
    )
    assert frame_hash(restored) == frame_hash(frame)


def test_frame_hash_tells_missing_empty_and_lookalike_values_apart() -> None:
    hashes = {
        frame_hash(pd.DataFrame({"x": pd.Series(values, dtype=object)}))
        for values in ([None], [""], ["None"], [1], ["1"], [True])
    }
    assert len(hashes) == 6


# Manifests


def test_manifest_records_features_bounds_counts_and_lineage() -> None:
    spine = spine_with_lineage()
    dataset = spine.assign(feature=[1.0, 2.0, np.nan, 4.0])
    features = [ManifestFeature("acceptance", 2, "abc", None), ManifestFeature("clicks", 1, "def", None)]
    as_of = T0 + pd.Timedelta(days=3)
    manifest = build_manifest(
        dataset,
        spine,
        features=features,
        ttl={"acceptance": timedelta(days=7)},
        as_of=as_of,
        created_at=CREATED,
    )
    assert [(f.name, f.version, f.hash, f.ttl) for f in manifest.features] == [
        ("acceptance", 2, "abc", timedelta(days=7)),
        ("clicks", 1, "def", None),
    ]
    assert manifest.spine_hash == frame_hash(spine)
    assert manifest.content_hash == frame_hash(dataset)
    assert (manifest.time_start, manifest.time_end) == (
        T0 + pd.Timedelta(hours=10),
        T0 + pd.Timedelta(hours=40),
    )
    assert manifest.row_count == 4
    assert manifest.columns == tuple(dataset.columns)
    assert manifest.model_ids == ("gemma-3-270m", "qwen2.5-1.5b")
    assert manifest.prompt_versions == ("body@1", "subject@2", "subject@3")
    assert manifest.as_of == as_of
    assert manifest.created_at == CREATED


def test_manifest_of_an_empty_spine_without_lineage_columns_has_no_bounds_or_lineage() -> None:
    spine = pd.DataFrame({"variant_id": pd.Series([], dtype=str), "ts": hours([])})
    manifest = build_manifest(spine, spine, features=[], ttl=timedelta(hours=1), created_at=CREATED)
    assert (manifest.time_start, manifest.time_end, manifest.row_count) == (None, None, 0)
    assert (manifest.model_ids, manifest.prompt_versions) == ((), ())


def test_manifest_round_trips_through_json() -> None:
    spine = spine_with_lineage()
    manifest = build_manifest(
        spine,
        spine,
        features=[ManifestFeature("acceptance", 1, "abc", None)],
        ttl=timedelta(seconds=90),
        as_of=T0,
        created_at=CREATED,
    )
    text = manifest.to_json()
    assert json.loads(text)["features"][0]["ttl_seconds"] == 90
    assert DatasetManifest.from_json(text) == manifest


def test_manifest_json_that_is_not_a_manifest_is_refused() -> None:
    with pytest.raises(ManifestError):
        DatasetManifest.from_json('{"format_version": 1}')
    with pytest.raises(ManifestError):
        DatasetManifest.from_json("not json")


# Parquet


def test_parquet_round_trip_keeps_the_frame_and_the_manifest(tmp_path: Path) -> None:
    frame = sample_frame()
    manifest = build_manifest(frame, frame, features=[], created_at=CREATED)
    path = tmp_path / "dataset.parquet"
    to_parquet(frame, manifest, path)
    df, restored = read_parquet(path)
    assert restored == manifest
    assert frame_hash(df) == manifest.content_hash
    pd.testing.assert_frame_equal(df, frame, check_dtype=False, check_categorical=False)


def test_writing_a_frame_with_another_frames_manifest_is_refused(tmp_path: Path) -> None:
    frame = sample_frame()
    manifest = build_manifest(frame, frame, features=[], created_at=CREATED)
    with pytest.raises(ManifestError):
        to_parquet(frame.iloc[:2], manifest, tmp_path / "x.parquet")


def test_reading_a_file_whose_content_no_longer_matches_its_manifest_fails(tmp_path: Path) -> None:
    frame = sample_frame()
    manifest = build_manifest(frame, frame, features=[], created_at=CREATED)
    table = pa.Table.from_pandas(frame.assign(count=[1, 2, 4]))
    table = table.replace_schema_metadata(
        {**table.schema.metadata, MANIFEST_METADATA_KEY: manifest.to_json()}
    )
    path = tmp_path / "tampered.parquet"
    pq.write_table(table, path)
    with pytest.raises(ManifestError):
        read_parquet(path)
    df, _ = read_parquet(path, verify=False)
    assert df["count"].tolist() == [1, 2, 4]


def test_reading_a_parquet_file_without_a_manifest_fails(tmp_path: Path) -> None:
    path = tmp_path / "plain.parquet"
    sample_frame().to_parquet(path)
    with pytest.raises(ManifestError) as err:
        read_parquet(path)
    assert err.value.field == "path"


# Building datasets


def feedback_events(rows: list[tuple[str, str, float, float]]) -> pd.DataFrame:
    """Feedback events from (variant, kind, event hour, ingest hour) tuples."""
    return pd.DataFrame(
        {
            "variant_id": [r[0] for r in rows],
            "kind": [r[1] for r in rows],
            "event_time": hours([r[2] for r in rows]),
            "ingested_at": hours([r[3] for r in rows]),
        }
    )


def test_build_dataset_names_columns_after_features_and_records_their_versions() -> None:
    acceptance, _, _, subject_length = builtin_features()
    registry = MemoryFeatureRegistry()
    acc = registry.register(acceptance)
    length = registry.register(subject_length)
    events = feedback_events([("v1", "accept", 5, 5), ("v1", "reject", 15, 15), ("v2", "reject", 1, 1)])
    variants = pd.DataFrame(
        {
            "variant_id": ["v1", "v2"],
            "subject": ["Hi", "Sale"],
            "event_time": hours([0, 0]),
            "ingested_at": hours([0, 0]),
        }
    )
    spine = spine_with_lineage()
    dataset, manifest = build_dataset(
        spine,
        [(acc, compute_feature(acceptance, events)), (length, compute_feature(subject_length, variants))],
        created_at=CREATED,
    )
    assert list(dataset.columns) == [*spine.columns, "variant_acceptance_rate", "subject_length"]
    assert dataset["variant_acceptance_rate"].tolist()[:3] == [1.0, 0.0, 0.5]
    assert np.isnan(dataset["variant_acceptance_rate"].iloc[3])
    assert dataset["subject_length"].tolist()[:3] == [2.0, 4.0, 2.0]
    assert [(f.name, f.version, f.hash) for f in manifest.features] == [
        (acc.name, 1, acc.hash),
        (length.name, 1, length.hash),
    ]
    assert manifest.content_hash == frame_hash(dataset)


def test_rebuilding_as_of_a_past_moment_ignores_later_backfills_and_reproduces_the_dataset() -> None:
    acceptance = builtin_features()[0]
    registered = MemoryFeatureRegistry().register(acceptance)
    spine = spine_with_lineage()
    as_of = T0 + pd.Timedelta(hours=50)
    known = feedback_events([("v1", "accept", 5, 6), ("v1", "reject", 25, 26), ("v2", "accept", 12, 12)])
    first, first_manifest = build_dataset(
        spine,
        [(registered, compute_feature(acceptance, known, as_of=as_of))],
        as_of=as_of,
        created_at=CREATED,
    )
    # Events arrive afterwards that describe moments inside the spine's range.
    backfilled = pd.concat(
        [known, feedback_events([("v1", "reject", 8, 70), ("v2", "reject", 15, 80)])], ignore_index=True
    )
    again, again_manifest = build_dataset(
        spine,
        [(registered, compute_feature(acceptance, backfilled, as_of=as_of))],
        as_of=as_of,
        created_at=CREATED,
    )
    pd.testing.assert_frame_equal(again, first)
    assert again_manifest == first_manifest
    latest, latest_manifest = build_dataset(
        spine, [(registered, compute_feature(acceptance, backfilled))], created_at=CREATED
    )
    assert latest_manifest.content_hash != first_manifest.content_hash
    assert latest["variant_acceptance_rate"].tolist()[:2] == [0.5, 0.5]
