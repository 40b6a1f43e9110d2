"""Point-in-time datasets from the first-party tables: event frames, spines, features and manifests.

The frames are what :func:`feedback.features.compute_feature` reads, one per feature source:

- ``feedback_events``: each feedback event with its variant's generation request, target segment and
  brand (``variant_id``, ``generation_request_id``, ``segment_id``, ``segment_name``, ``brand_id``).
- ``outcome_events``: each outcome event with its variant's request, brand and target segment
  (``variant_segment_id``) and the segment its contact belongs to (``segment_id``, from the segment
  memberships of one computation version; a contact in several segments gives one row per segment,
  one in none a null ``segment_id``).
- ``variants``: each variant with its lineage and the text fields of its draft (``subject``,
  ``preheader``, ``headline``, ``body``, ``cta_label``), created (``event_time``) and known
  (``ingested_at``) when it was stored.

Every frame has ``event_time`` and ``ingested_at`` as ``datetime64[ns, UTC]``. Reads are filtered by
the workspace. The free text in them was scrubbed of contact details when it was stored.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal

import pandas as pd
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from feedback.errors import InvalidInputError, NotFoundError
from feedback.features import FeatureDefinition, RegisteredFeature, compute_feature
from feedback.manifest import DatasetManifest, build_dataset
from feedback.models import DatasetManifestRow, SegmentMembership, VariantRow
from feedback.pit import time_column
from feedback.preferences import edit_pairs, preference_pairs
from feedback.registry import SqlFeatureRegistry
from feedback.tenancy import ID_CHUNK, get_in_workspace, get_workspace, in_workspace

__all__ = [
    "DATASET_ID_ATTR",
    "DRAFT_TEXT_FIELDS",
    "FEATURE_SOURCES",
    "FeatureRef",
    "StoredDataset",
    "build_dataset_from_db",
    "default_prompt_text",
    "edit_pairs_from_db",
    "event_frame",
    "feedback_events_frame",
    "get_dataset_manifest",
    "get_stored_dataset",
    "latest_membership_version",
    "list_dataset_manifests",
    "list_stored_datasets",
    "outcome_events_frame",
    "preference_pairs_from_db",
    "spine_from_sends",
    "store_manifest",
    "variants_frame",
]

FEATURE_SOURCES = ("feedback_events", "outcome_events", "variants")
DRAFT_TEXT_FIELDS = ("subject", "preheader", "headline", "body", "cta_label")
# Where `build_dataset_from_db` leaves the id of the manifest row it stored, in the frame's attrs.
DATASET_ID_ATTR = "dataset_manifest_id"

# A feature by name (latest version), "name@version", (name, version), or as the registry returned it.
FeatureRef = str | tuple[str, int] | RegisteredFeature

_TIME_COLUMNS = ("event_time", "ingested_at")
_TIME_PARAMS = frozenset({"since", "until", "as_of"})

_FEEDBACK_SQL = """
SELECT fe.id AS event_id, fe.variant_id, v.generation_request_id, s.id AS segment_id, v.segment_name,
       gr.brand_id, fe.kind, fe.rating, fe.edited_text, fe.comment, fe.actor, fe.event_time, fe.ingested_at
FROM feedback_events fe
JOIN variants v ON v.workspace_id = fe.workspace_id AND v.id = fe.variant_id
JOIN generation_requests gr ON gr.workspace_id = v.workspace_id AND gr.id = v.generation_request_id
LEFT JOIN segments s ON s.workspace_id = v.workspace_id AND s.name = v.segment_name
WHERE fe.workspace_id = :ws {bounds}
ORDER BY fe.id
"""

# Outcome events are the largest table: they are read bare, and the few variants and memberships are
# joined in pandas, which spares the database a join and the driver a string per row and column.
_OUTCOME_SQL = """
SELECT oe.id AS event_id, oe.variant_id, oe.contact_id, oe.kind, oe.revenue, oe.event_time, oe.ingested_at
FROM outcome_events oe
WHERE oe.workspace_id = :ws {bounds}
ORDER BY oe.id
"""

_OUTCOME_VARIANTS_SQL = """
SELECT v.id AS variant_id, v.generation_request_id, gr.brand_id, v.segment_name, vs.id AS variant_segment_id
FROM variants v
JOIN generation_requests gr ON gr.workspace_id = v.workspace_id AND gr.id = v.generation_request_id
LEFT JOIN segments vs ON vs.workspace_id = v.workspace_id AND vs.name = v.segment_name
WHERE v.workspace_id = :ws
"""

_MEMBERSHIP_SQL = """
SELECT contact_id, segment_id FROM segment_memberships WHERE workspace_id = :ws AND version = :version
"""

_OUTCOME_COLUMNS = (
    "event_id",
    "variant_id",
    "generation_request_id",
    "brand_id",
    "segment_name",
    "variant_segment_id",
    "segment_id",
    "contact_id",
    "kind",
    "revenue",
    "event_time",
    "ingested_at",
)

_VARIANT_COLUMNS = """
v.id AS variant_id, v.generation_request_id, gr.brand_id, gr.campaign_id, s.id AS segment_id,
v.segment_name, v.rank, v.score, v.backend, v.model_id, v.checkpoint_sha256, v.prompt_name,
v.prompt_version, v.prompt_sha256, v.seed
"""

_VARIANT_JOINS = """
JOIN generation_requests gr ON gr.workspace_id = v.workspace_id AND gr.id = v.generation_request_id
LEFT JOIN segments s ON s.workspace_id = v.workspace_id AND s.name = v.segment_name
"""

_VARIANTS_SQL = f"""
SELECT {_VARIANT_COLUMNS}, v.draft, v.created_at
FROM variants v {_VARIANT_JOINS}
WHERE v.workspace_id = :ws {{bounds}}
ORDER BY v.created_at, v.id
"""

_SENDS_BY_VARIANT_SQL = f"""
SELECT {_VARIANT_COLUMNS}, f.ts
FROM (SELECT variant_id, MIN(event_time) AS ts FROM outcome_events
      WHERE workspace_id = :ws AND kind = 'send' {{bounds}} GROUP BY variant_id) f
JOIN variants v ON v.workspace_id = :ws AND v.id = f.variant_id {_VARIANT_JOINS}
"""

_SENDS_SQL = f"""
SELECT oe.id AS event_id, oe.contact_id, {_VARIANT_COLUMNS}, oe.event_time AS ts
FROM outcome_events oe
JOIN variants v ON v.workspace_id = oe.workspace_id AND v.id = oe.variant_id {_VARIANT_JOINS}
WHERE oe.workspace_id = :ws AND oe.kind = 'send' {{bounds}}
"""

_PREFERENCE_SQL = """
SELECT v.generation_request_id, v.segment_name, v.id AS variant_id, v.draft, gr.brief,
       fe.kind, fe.edited_text, fe.event_time
FROM feedback_events fe
JOIN variants v ON v.workspace_id = fe.workspace_id AND v.id = fe.variant_id
JOIN generation_requests gr ON gr.workspace_id = v.workspace_id AND gr.id = v.generation_request_id
WHERE fe.workspace_id = :ws AND fe.kind IN ({kinds})
ORDER BY fe.event_time, fe.id
"""


def feedback_events_frame(
    session: Session, workspace_id: str, *, until: datetime | None = None, as_of: datetime | None = None
) -> pd.DataFrame:
    """The workspace's feedback events joined to their variants' requests, segments and brands.

    ``until`` and ``as_of`` leave out events after that event time and events ingested after that moment.
    """
    get_workspace(session, workspace_id)
    bounds, params = _bounds("fe", until, as_of)
    frame = _read(session, _FEEDBACK_SQL.format(bounds=bounds), {"ws": workspace_id, **params})
    frame["rating"] = frame["rating"].astype("Int64")
    return frame


def latest_membership_version(session: Session, workspace_id: str) -> str | None:
    """The version of the workspace's most recently computed segment memberships, None if there are none."""
    stmt = (
        select(SegmentMembership.version)
        .where(SegmentMembership.workspace_id == workspace_id)
        .order_by(SegmentMembership.computed_at.desc(), SegmentMembership.id.desc())
        .limit(1)
    )
    return session.scalar(stmt)


def outcome_events_frame(
    session: Session,
    workspace_id: str,
    *,
    membership_version: str | None = None,
    until: datetime | None = None,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """The workspace's outcome events joined to their variants and their contacts' segment membership.

    ``membership_version`` picks the segment computation whose memberships give ``segment_id``; by
    default the most recently computed one. ``until`` and ``as_of`` leave out events after that
    event time and events ingested after that moment.
    """
    get_workspace(session, workspace_id)
    version = membership_version or latest_membership_version(session, workspace_id)
    bounds, params = _bounds("oe", until, as_of)
    events = _read(session, _OUTCOME_SQL.format(bounds=bounds), {"ws": workspace_id, **params})
    variants = _read(session, _OUTCOME_VARIANTS_SQL, {"ws": workspace_id}, times=())
    # Every stored event's variant is in its workspace (ingestion checks it), so nothing is dropped.
    frame = events.merge(variants, on="variant_id", how="left", validate="many_to_one")
    if version is None:
        frame["segment_id"] = None
    else:
        members = _read(session, _MEMBERSHIP_SQL, {"ws": workspace_id, "version": version}, times=())
        # A contact in several segments counts for each of them; one in none keeps a null segment.
        frame = frame.merge(members, on="contact_id", how="left")
    frame = frame[list(_OUTCOME_COLUMNS)]
    # PostgreSQL returns numeric as Decimal; the frame holds floats like the ORM does.
    frame["revenue"] = pd.to_numeric(frame["revenue"].astype(object), errors="coerce").astype("float64")
    return frame


def variants_frame(
    session: Session, workspace_id: str, *, until: datetime | None = None, as_of: datetime | None = None
) -> pd.DataFrame:
    """The workspace's variants with their lineage and draft text, timed by when they were stored.

    ``until`` and ``as_of`` both leave out variants stored after that moment.
    """
    get_workspace(session, workspace_id)
    bounds, params = _bounds("v", until, as_of, time="created_at", ingest="created_at")
    frame = _read(session, _VARIANTS_SQL.format(bounds=bounds), {"ws": workspace_id, **params}, times=())
    created = _utc(frame.pop("created_at"))
    drafts = [_json(value) for value in frame.pop("draft")]
    for name in DRAFT_TEXT_FIELDS:
        frame[name] = [_draft_text(draft, name) for draft in drafts]
    frame["event_time"] = created
    frame["ingested_at"] = created
    return frame


def event_frame(
    session: Session,
    workspace_id: str,
    source: str,
    *,
    membership_version: str | None = None,
    until: datetime | None = None,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """The frame of one feature source (``feedback_events``, ``outcome_events`` or ``variants``)."""
    if source == "feedback_events":
        return feedback_events_frame(session, workspace_id, until=until, as_of=as_of)
    if source == "outcome_events":
        return outcome_events_frame(
            session, workspace_id, membership_version=membership_version, until=until, as_of=as_of
        )
    if source == "variants":
        return variants_frame(session, workspace_id, until=until, as_of=as_of)
    raise InvalidInputError(
        f"unknown source {source!r}: use one of {', '.join(FEATURE_SOURCES)}", field="computation.source"
    )


def spine_from_sends(
    session: Session,
    workspace_id: str,
    *,
    per: Literal["variant", "send"] = "variant",
    since: datetime | None = None,
    until: datetime | None = None,
) -> pd.DataFrame:
    """A spine of variants at the moment they were sent, from the ``send`` outcome events.

    ``per="variant"`` gives one row per variant at its first send; ``per="send"`` one row per send
    event (with ``event_id`` and ``contact_id``). Each row has the time in ``ts``, the variant's
    request, brand and target segment (``segment_id``) and its lineage (``model_id``,
    ``prompt_name``, ``prompt_version``...). ``since`` and ``until`` bound the send times
    (inclusive). Rows are sorted by time, then variant (and event).
    """
    get_workspace(session, workspace_id)
    if per not in ("variant", "send"):
        raise InvalidInputError(f"must be 'variant' or 'send', got {per!r}", field="per")
    params: dict[str, Any] = {"ws": workspace_id}
    column = "event_time" if per == "variant" else "oe.event_time"
    clauses = []
    if since is not None:
        clauses.append(f"AND {column} >= :since")
        params["since"] = since
    if until is not None:
        clauses.append(f"AND {column} <= :until")
        params["until"] = until
    sql = _SENDS_BY_VARIANT_SQL if per == "variant" else _SENDS_SQL
    frame = _read(session, sql.format(bounds=" ".join(clauses)), params, times=("ts",))
    order = ["ts", "variant_id"] if per == "variant" else ["ts", "variant_id", "event_id"]
    columns = [*order, *(c for c in frame.columns if c not in order)]
    return frame[columns].sort_values(order, kind="stable", ignore_index=True)


def build_dataset_from_db(
    session: Session,
    workspace_id: str,
    spine: pd.DataFrame,
    feature_names_or_versions: Sequence[FeatureRef],
    *,
    as_of: datetime | None = None,
    spine_time_col: str = "ts",
    membership_version: str | None = None,
    store: bool = True,
) -> tuple[pd.DataFrame, DatasetManifest]:
    """Build a point-in-time dataset from the workspace's tables and record its manifest.

    Each feature is resolved in the workspace's registry (a name means its latest version), its
    values are computed from its source frame with ``as_of``, and they are joined onto the spine
    under the feature's name with its entity column and TTL (see :mod:`feedback.pit`). The manifest
    lists the model ids and prompt versions of the spine's variants (its ``variant_id`` column) as
    well as those in the spine's own lineage columns. With ``store`` it is saved in the caller's
    transaction, and the new row's id is left in ``dataset.attrs[DATASET_ID_ATTR]``.
    """
    if not isinstance(spine, pd.DataFrame):
        raise InvalidInputError(f"must be a pandas DataFrame, got {type(spine).__name__}", field="spine")
    if not time_column(spine, spine_time_col, "spine").aware:
        raise InvalidInputError(
            "must hold timezone-aware timestamps, like the store's", field=f"spine.{spine_time_col}"
        )
    registry = SqlFeatureRegistry(session, workspace_id)
    features = [_resolve(registry, ref) for ref in _refs(feature_names_or_versions)]
    for registered in features:
        entity = registered.definition.entity
        if entity not in spine.columns:
            raise InvalidInputError(
                f"feature {registered.name!r} is keyed on {entity!r}, which the spine lacks",
                field=f"spine.{entity}",
            )
    # Values after the spine's last moment can never be joined, so they need not be read.
    times = spine[spine_time_col]
    until = None if len(times) == 0 or times.isna().all() else pd.Timestamp(times.max()).to_pydatetime()
    frames: dict[str, pd.DataFrame] = {}
    values: list[tuple[RegisteredFeature, pd.DataFrame]] = []
    for registered in features:
        source = registered.definition.computation.source
        if source not in frames:
            frames[source] = event_frame(
                session, workspace_id, source, membership_version=membership_version, until=until, as_of=as_of
            )
        values.append((registered, _compute(registered.definition, frames[source], as_of)))
    dataset, manifest = build_dataset(spine, values, spine_time_col=spine_time_col, as_of=as_of)
    manifest = _with_db_lineage(session, workspace_id, spine, manifest)
    if store:
        dataset.attrs[DATASET_ID_ATTR] = store_manifest(session, workspace_id, manifest)
    return dataset, manifest


@dataclasses.dataclass(frozen=True)
class StoredDataset:
    """A stored manifest: its id, when it was stored, the manifest and the spine definition it records.

    The spine definition is what the API's build was asked for (empty for a dataset built from a
    frame), kept so the build can be repeated.
    """

    id: str
    created_at: datetime
    manifest: DatasetManifest
    spine_definition: dict[str, Any]


def store_manifest(
    session: Session,
    workspace_id: str,
    manifest: DatasetManifest,
    *,
    dataset_id: str | None = None,
    spine_definition: Mapping[str, Any] | None = None,
) -> str:
    """Save a manifest in the workspace's dataset manifest table (caller's transaction); return its id."""
    get_workspace(session, workspace_id)
    record = manifest.to_dict()
    if spine_definition is not None:
        record["spine_definition"] = dict(spine_definition)
    row = DatasetManifestRow(workspace_id=workspace_id, manifest=record)
    if dataset_id is not None:
        row.id = dataset_id
    session.add(row)
    session.flush()
    return row.id


def _stored(row: DatasetManifestRow) -> StoredDataset:
    record = dict(row.manifest)
    spine = record.pop("spine_definition", {})
    return StoredDataset(row.id, row.created_at, DatasetManifest.from_dict(record), spine)


def get_stored_dataset(session: Session, workspace_id: str, dataset_id: str) -> StoredDataset:
    """One stored manifest of the workspace, or NotFoundError."""
    return _stored(get_in_workspace(session, DatasetManifestRow, workspace_id, dataset_id))


def list_stored_datasets(
    session: Session,
    workspace_id: str,
    *,
    newest_first: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> list[StoredDataset]:
    """The workspace's stored manifests, oldest (or newest) first, ties by id."""
    created = DatasetManifestRow.created_at
    stmt = (
        in_workspace(DatasetManifestRow, workspace_id)
        .order_by(created.desc() if newest_first else created, DatasetManifestRow.id)
        .limit(limit)
        .offset(offset)
    )
    return [_stored(row) for row in session.scalars(stmt)]


def get_dataset_manifest(session: Session, workspace_id: str, manifest_id: str) -> DatasetManifest:
    """One stored manifest of the workspace, or NotFoundError."""
    try:
        return get_stored_dataset(session, workspace_id, manifest_id).manifest
    except NotFoundError:
        raise NotFoundError(
            f"no dataset manifest {manifest_id!r} in this workspace", field="manifest_id"
        ) from None


def list_dataset_manifests(session: Session, workspace_id: str) -> list[tuple[str, DatasetManifest]]:
    """The workspace's stored manifests as ``(id, manifest)``, oldest first."""
    get_workspace(session, workspace_id)
    return [(stored.id, stored.manifest) for stored in list_stored_datasets(session, workspace_id)]


def default_prompt_text(brief: Mapping[str, Any], segment: str) -> str:
    """The prompt of a pair: the request's brief and the variant's segment as canonical JSON."""
    return json.dumps({"brief": dict(brief), "segment": segment}, sort_keys=True, ensure_ascii=False)


PromptText = Callable[[Mapping[str, Any], str], str]


def preference_pairs_from_db(
    session: Session, workspace_id: str, *, prompt_text: PromptText = default_prompt_text
) -> pd.DataFrame:
    """(prompt, chosen, rejected) pairs from generation requests with accepted and rejected variants.

    Variants are compared within one request and segment (they share a prompt); a variant's latest
    accept or reject counts. Texts are the drafts' visible text (subject, preheader, headline, body,
    call to action, one per line). Columns as :func:`feedback.preferences.preference_pairs`, plus
    ``segment``; ``request_id`` is the generation request.
    """
    frame = _decisions(session, workspace_id, ("accept", "reject"), prompt_text)
    frame = frame.rename(columns={"kind": "decision"})
    pairs = preference_pairs(frame)
    return _split_request_key(pairs)


def edit_pairs_from_db(
    session: Session, workspace_id: str, *, prompt_text: PromptText = default_prompt_text
) -> pd.DataFrame:
    """(prompt, edited) pairs from marketers' edits, with the draft text they started from.

    Columns as :func:`feedback.preferences.edit_pairs`, plus ``segment``; ``request_id`` is the
    generation request.
    """
    frame = _decisions(session, workspace_id, ("edit",), prompt_text)
    pairs = edit_pairs(frame)
    return _split_request_key(pairs)


# Internals.

_KEY_SEPARATOR = "\x1f"


def _decisions(
    session: Session, workspace_id: str, kinds: tuple[str, ...], prompt_text: PromptText
) -> pd.DataFrame:
    """Feedback events of `kinds` with the prompt and text of their variants, keyed by request and segment."""
    get_workspace(session, workspace_id)
    # The kinds are fixed by this module, never user input.
    sql = _PREFERENCE_SQL.format(kinds=", ".join(f"'{kind}'" for kind in kinds))
    frame = _read(session, sql, {"ws": workspace_id}, times=("event_time",))
    briefs = [_json(value) for value in frame["brief"]]
    drafts = [_json(value) for value in frame["draft"]]
    segments = frame["segment_name"].tolist()
    return pd.DataFrame(
        {
            # A request's variants for different segments come from different prompts: never pair them.
            "request_id": [
                f"{request}{_KEY_SEPARATOR}{segment}"
                for request, segment in zip(frame["generation_request_id"], segments, strict=True)
            ],
            "prompt": [prompt_text(brief, segment) for brief, segment in zip(briefs, segments, strict=True)],
            "variant_id": frame["variant_id"],
            "text": [_visible_text(draft) for draft in drafts],
            "kind": frame["kind"],
            "edited_text": frame["edited_text"],
            "event_time": frame["event_time"],
        }
    )


def _split_request_key(pairs: pd.DataFrame) -> pd.DataFrame:
    """Turn the composite request key back into ``request_id`` and ``segment`` columns."""
    parts = pairs["request_id"].astype(str).str.split(_KEY_SEPARATOR, n=1, expand=True)
    out = pairs.copy()
    out["request_id"] = parts[0] if len(pairs) else pairs["request_id"]
    out["segment"] = parts[1] if len(pairs) else pd.Series([], dtype=object)
    return out


def _visible_text(draft: Mapping[str, Any] | None) -> str | None:
    """A draft's visible text, one field (or body paragraph) per line."""
    if not draft:
        return None
    parts = [draft.get("subject"), draft.get("preheader"), draft.get("headline")]
    body = draft.get("body")
    parts.extend(body if isinstance(body, list) else [body])
    parts.append(draft.get("cta_label"))
    return "\n".join(str(p) for p in parts if p is not None)


def _draft_text(draft: Mapping[str, Any] | None, name: str) -> str | None:
    """One text field of a draft; the body's paragraphs joined by blank lines."""
    if not draft:
        return None
    value = draft.get(name)
    if isinstance(value, list):
        return "\n\n".join(str(v) for v in value)
    return None if value is None else str(value)


def _refs(refs: Sequence[FeatureRef]) -> list[FeatureRef]:
    """The feature references as a list, refusing a bare string (a common slip for a list of one)."""
    if isinstance(refs, str) or not isinstance(refs, Sequence):
        raise InvalidInputError("must be a list of feature names or versions", field="features")
    if not refs:
        raise InvalidInputError("needs at least one feature", field="features")
    return list(refs)


def _resolve(registry: SqlFeatureRegistry, ref: FeatureRef) -> RegisteredFeature:
    """A feature reference as the registered version it names."""
    if isinstance(ref, RegisteredFeature):
        stored = registry.get(ref.name, ref.version)
        if stored.hash != ref.hash:
            raise InvalidInputError(
                f"feature {ref.name!r} version {ref.version} is registered with another definition",
                field="features",
            )
        return stored
    if isinstance(ref, tuple) and len(ref) == 2:
        name, version = ref
        if not isinstance(name, str) or isinstance(version, bool) or not isinstance(version, int):
            raise InvalidInputError(f"not a (name, version) pair: {ref!r}", field="features")
        return registry.get(name, version)
    if isinstance(ref, str):
        name, sep, version_text = ref.partition("@")
        if not sep:
            return registry.get(name)
        if not version_text.isdigit():
            raise InvalidInputError(f"not a feature version: {ref!r}", field="features")
        return registry.get(name, int(version_text))
    raise InvalidInputError(f"not a feature name or version: {ref!r}", field="features")


def _compute(definition: FeatureDefinition, frame: pd.DataFrame, as_of: datetime | None) -> pd.DataFrame:
    """A feature's values, checking first that its source frame has the columns it reads."""
    comp = definition.computation
    for column in (definition.entity, comp.column):
        if column is not None and column not in frame.columns:
            raise InvalidInputError(
                f"feature {definition.name!r} reads column {column!r}, which {comp.source} lacks",
                field="computation",
            )
    return compute_feature(definition, frame, as_of=as_of)


def _with_db_lineage(
    session: Session, workspace_id: str, spine: pd.DataFrame, manifest: DatasetManifest
) -> DatasetManifest:
    """The manifest with the model ids and prompt versions of the spine's variants added."""
    if "variant_id" not in spine.columns:
        return manifest
    ids = sorted({str(v) for v in spine["variant_id"].dropna().unique()})
    models = set(manifest.model_ids)
    prompts = set(manifest.prompt_versions)
    for start in range(0, len(ids), ID_CHUNK):
        stmt = (
            select(VariantRow.model_id, VariantRow.prompt_name, VariantRow.prompt_version)
            .where(VariantRow.workspace_id == workspace_id, VariantRow.id.in_(ids[start : start + ID_CHUNK]))
            .distinct()
        )
        for model_id, prompt_name, prompt_version in session.execute(stmt):
            models.add(model_id)
            prompts.add(f"{prompt_name}@{prompt_version}")
    return dataclasses.replace(
        manifest, model_ids=tuple(sorted(models)), prompt_versions=tuple(sorted(prompts))
    )


def _bounds(
    alias: str,
    until: datetime | None,
    as_of: datetime | None,
    *,
    time: str = "event_time",
    ingest: str = "ingested_at",
) -> tuple[str, dict[str, Any]]:
    """SQL conditions (and their parameters) for ``event time <= until`` and ``ingest time <= as_of``."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    if until is not None:
        clauses.append(f"AND {alias}.{time} <= :until")
        params["until"] = until
    if as_of is not None:
        clauses.append(f"AND {alias}.{ingest} <= :as_of")
        params["as_of"] = as_of
    return " ".join(clauses), params


def _read(
    session: Session, sql: str, params: dict[str, Any], *, times: Sequence[str] = _TIME_COLUMNS
) -> pd.DataFrame:
    """Run a query and return its rows as a frame, with `times` as UTC datetimes.

    The rows come straight from the driver, without per-value conversion in Python: timestamps are
    converted a column at a time afterwards, which is what makes a million events load quickly.
    """
    bound = {
        key: _bind_time(session, value, key) if key in _TIME_PARAMS else value
        for key, value in params.items()
    }
    result = session.connection().execute(text(sql), bound)
    columns = list(result.keys())
    # The driver's own fetchall gives plain tuples in one call, several times faster than row objects.
    rows = result.cursor.fetchall() if result.cursor is not None else []
    result.close()
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for column in times:
        frame[column] = _utc(frame[column])
    return frame


def _bind_time(session: Session, value: datetime, field: str) -> Any:
    """A timestamp parameter as the store keeps it: UTC text on SQLite, aware on PostgreSQL."""
    if not isinstance(value, datetime):
        raise InvalidInputError(f"must be a timestamp, got {value!r}", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInputError("must be timezone-aware", field=field)
    stamp = pd.Timestamp(value).tz_convert("UTC")
    if session.get_bind().dialect.name == "sqlite":
        # Stored values are "YYYY-MM-DD HH:MM:SS.ffffff" text, which compares in time order.
        return stamp.strftime("%Y-%m-%d %H:%M:%S.%f")
    return stamp.to_pydatetime()


def _utc(values: pd.Series) -> pd.Series:
    """Driver timestamps (SQLite text or aware datetimes) as ``datetime64[ns, UTC]``."""
    if len(values) == 0:
        return pd.Series([], dtype="datetime64[ns, UTC]", index=values.index)
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.dt.tz_convert("UTC").astype("datetime64[ns, UTC]")
    first = values.dropna()
    fmt = "ISO8601" if len(first) and isinstance(first.iloc[0], str) else None
    parsed = pd.to_datetime(values, utc=True, format=fmt)
    return parsed.astype("datetime64[ns, UTC]")


def _json(value: Any) -> Any:
    """A JSON column's value: parsed on SQLite (text), as the driver gave it on PostgreSQL (JSONB)."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value
