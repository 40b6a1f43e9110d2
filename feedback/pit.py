"""Point-in-time joins: for each spine row, the latest feature value known at its time, never a later one.

Semantics of :func:`point_in_time_join`, which the tests pin against a brute-force reference:

- A feature row matches a spine row when every entity column is equal (a null key never matches
  anything) and its event time is at or before the spine time: ``feature_ts <= spine_ts``.
- Of the matching rows the latest event time wins. Ties (one entity, several rows at the same
  event time) go to the row ingested last; rows ingested at the same moment (or frames without an
  ingest column) go to the one that comes last in the feature frame. A missing ingest time counts
  as earlier than any other.
- The TTL bound is inclusive: a value is used when ``spine_ts - ttl <= feature_ts``, so ``ttl=0``
  accepts only rows at exactly the spine time. When the latest value is older than the TTL the
  result is missing; an older row is never used instead, since it would be older still.
- ``as_of`` keeps only rows with ``ingested_at <= as_of`` (inclusive; a row without an ingest time
  is dropped), so a dataset rebuilt later ignores backfills that arrived after that moment.
- Timestamps are timezone-aware (any zone; they compare as instants) or all naive (compared as
  they are); mixing the two is refused, naming the column.
- Feature rows with a missing event time or a null entity key are ignored. A spine row with a
  missing time or a null key gets missing values. Missing values are pandas' fill for the column
  (NaN, None or NaT; integer columns become float when something is missing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from genai.errors import InvalidInputError

__all__ = ["NAT", "TimeColumn", "asof_positions", "point_in_time_join", "time_column"]

IntArray = npt.NDArray[np.int64]
# pandas stores NaT as the smallest int64.
NAT = np.iinfo(np.int64).min

EntityCols = str | Sequence[str]


@dataclass(frozen=True)
class TimeColumn:
    """Timestamps of one column as int64 nanoseconds since the epoch (UTC when timezone-aware); NaT is NAT."""

    ns: IntArray
    aware: bool


def point_in_time_join(
    spine: pd.DataFrame,
    features: pd.DataFrame | Mapping[str, pd.DataFrame],
    *,
    entity_cols: EntityCols | Mapping[str, EntityCols],
    spine_time_col: str = "ts",
    feature_time_col: str = "event_time",
    ingest_time_col: str = "ingested_at",
    ttl: timedelta | Mapping[str, timedelta | None] | None = None,
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """Return the spine with, on each row, the latest feature values at or before its time (see module doc).

    ``features`` is one frame or a mapping of feature name to frame. Every column of a feature frame
    other than the entity, event-time and ingest-time columns is a value column. From a mapping, a
    frame with a single value column gives an output column named by its key, and one with several
    gives ``<key>__<column>``. ``entity_cols`` and ``ttl`` may be mappings from feature name, for
    features keyed on different entities or with their own TTL. The result keeps the spine's
    index, order and duplicate rows; its extra columns follow the spine's.
    """
    _require_frame(spine, "spine")
    frames = _named_frames(features)
    spine_times = time_column(spine, spine_time_col, "spine")
    reference = f"spine.{spine_time_col}"
    as_of_ns = None
    if as_of is not None:
        as_of_ns = _instant_ns(as_of, "as_of")
        if _is_aware(as_of) != spine_times.aware:
            raise _awareness_error("as_of", spine_times.aware, reference)

    columns: dict[str, Any] = {}
    for name, frame in frames:
        label = "features" if name is None else f"features[{name!r}]"
        keys = _entity_list(entity_cols, name)
        _require_columns(spine, keys, "spine")
        _require_columns(frame, keys, label)
        event = time_column(frame, feature_time_col, label, like=spine_times, reference=reference)
        ingest = None
        if ingest_time_col in frame.columns:
            ingest = time_column(frame, ingest_time_col, label, like=spine_times, reference=reference)
        elif as_of is not None:
            raise InvalidInputError(
                f"missing column {ingest_time_col!r}, which as_of needs", field=f"{label}.{ingest_time_col}"
            )

        left_codes, right_codes = _entity_codes(spine, frame, keys)
        if as_of_ns is not None and ingest is not None:
            known = (ingest.ns != NAT) & (ingest.ns <= as_of_ns)
            right_codes = np.where(known, right_codes, -1)
        tiebreak = None if ingest is None else ingest.ns
        positions = asof_positions(left_codes, spine_times.ns, right_codes, event.ns, tiebreak)
        ttl_ns = _ttl_ns(ttl, name)
        if ttl_ns is not None:
            found = np.flatnonzero(positions >= 0)
            age = spine_times.ns[found] - event.ns[positions[found]]
            positions[found[age > ttl_ns]] = -1

        value_cols = [c for c in frame.columns if c not in {*keys, feature_time_col, ingest_time_col}]
        for col in value_cols:
            out_name = col if name is None else (name if len(value_cols) == 1 else f"{name}__{col}")
            if out_name in spine.columns or out_name in columns:
                raise InvalidInputError(
                    "output column already exists in the spine or another feature; rename it", field=out_name
                )
            columns[out_name] = frame[col].array.take(positions, allow_fill=True)

    added = pd.DataFrame(columns, index=pd.RangeIndex(len(spine)))
    out = pd.concat([spine.reset_index(drop=True), added], axis=1)
    out.index = spine.index
    return out


def asof_positions(
    left_codes: IntArray,
    left_times: IntArray,
    right_codes: IntArray,
    right_times: IntArray,
    right_tiebreak: IntArray | None = None,
) -> IntArray:
    """For each left row, the position of the latest right row with its code at or before its time, else -1.

    Codes are non-negative integers (-1 never matches); times are int64 nanoseconds with NaT as the
    smallest int64. Ties on time go to the largest ``right_tiebreak``, then to the last position.
    """
    positions = np.full(len(left_codes), -1, dtype=np.int64)
    kept = np.flatnonzero((right_codes >= 0) & (right_times != NAT))
    if len(kept) == 0:
        return positions
    codes = right_codes[kept]
    # Ranking the distinct right times lets (code, time) pack into one int64 sort key without overflow.
    uniq, rank = np.unique(right_times[kept], return_inverse=True)
    width = np.int64(len(uniq) + 1)
    keys = codes * width + rank.astype(np.int64) + 1
    if right_tiebreak is None:
        order = np.argsort(keys, kind="stable")
    else:
        # lexsort is stable, so rows equal on (key, tiebreak) stay in frame order and the last one wins.
        order = np.lexsort((right_tiebreak[kept], keys))
    sorted_keys = keys[order]

    # One plus the rank of the latest right time at or before each left time (0 when there is none).
    left_rank = np.searchsorted(uniq, left_times, side="right").astype(np.int64)
    hit = np.searchsorted(sorted_keys, left_codes * width + left_rank, side="right") - 1
    safe = np.maximum(hit, 0)
    matched = (
        (hit >= 0)
        & (left_codes >= 0)
        & (left_times != NAT)
        & (left_rank > 0)
        & (codes[order[safe]] == left_codes)
    )
    positions[matched] = kept[order[safe[matched]]]
    return positions


def _named_frames(
    features: pd.DataFrame | Mapping[str, pd.DataFrame],
) -> list[tuple[str | None, pd.DataFrame]]:
    """The feature frames with their names (None for a single unnamed frame)."""
    if isinstance(features, pd.DataFrame):
        return [(None, features)]
    if not isinstance(features, Mapping):
        raise InvalidInputError("must be a DataFrame or a mapping of name to DataFrame", field="features")
    named: list[tuple[str | None, pd.DataFrame]] = []
    for name, frame in features.items():
        if not isinstance(name, str) or not name:
            raise InvalidInputError(f"names must be non-empty strings, got {name!r}", field="features")
        _require_frame(frame, f"features[{name!r}]")
        named.append((name, frame))
    return named


def _entity_list(entity_cols: EntityCols | Mapping[str, EntityCols], name: str | None) -> list[str]:
    """The entity columns that apply to one feature frame."""
    cols: EntityCols
    if isinstance(entity_cols, Mapping):
        if name is None or name not in entity_cols:
            raise InvalidInputError(f"no entity columns given for feature {name!r}", field="entity_cols")
        cols = entity_cols[name]
    else:
        cols = entity_cols
    keys = [cols] if isinstance(cols, str) else list(cols)
    if not keys or not all(isinstance(k, str) for k in keys):
        raise InvalidInputError("must name at least one column", field="entity_cols")
    return keys


def _ttl_ns(ttl: timedelta | Mapping[str, timedelta | None] | None, name: str | None) -> int | None:
    """The TTL of one feature in nanoseconds, None when unbounded."""
    value = ttl.get(name) if isinstance(ttl, Mapping) and name is not None else ttl
    if isinstance(value, Mapping):
        raise InvalidInputError("a TTL per feature needs features given as a mapping", field="ttl")
    if value is None:
        return None
    try:
        delta = pd.Timedelta(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"must be a duration, got {value!r}", field="ttl") from exc
    if pd.isna(delta) or delta < pd.Timedelta(0):
        raise InvalidInputError(f"must be a duration >= 0, got {value!r}", field="ttl")
    return int(delta.as_unit("ns").value)


def _entity_codes(left: pd.DataFrame, right: pd.DataFrame, keys: list[str]) -> tuple[IntArray, IntArray]:
    """Integer codes of the entity keys, equal on both sides for equal keys, -1 for null keys.

    Codes come from the spine's distinct keys, so feature rows of entities the spine never asks
    about get -1 and drop out before the sort.
    """
    left_codes = np.zeros(len(left), dtype=np.int64)
    right_codes = np.zeros(len(right), dtype=np.int64)
    for key in keys:
        codes, uniques = pd.factorize(left[key])
        other = pd.Index(uniques).get_indexer(right[key])
        size = max(len(uniques), 1)
        packed_left = np.where((left_codes < 0) | (codes < 0), -1, left_codes * size + codes)
        packed_right = np.where((right_codes < 0) | (other < 0), -1, right_codes * size + other)
        # Renumbering keeps the codes below the spine's length, so packing the next key cannot overflow.
        renumbered, distinct = pd.factorize(packed_left)
        left_codes = np.where(packed_left < 0, -1, renumbered).astype(np.int64)
        lookup = pd.Index(distinct).get_indexer(packed_right)
        right_codes = np.where(packed_right < 0, -1, lookup).astype(np.int64)
    return left_codes, right_codes


def time_column(
    frame: pd.DataFrame, column: str, label: str, *, like: TimeColumn | None = None, reference: str = ""
) -> TimeColumn:
    """A datetime column as int64 nanoseconds; refuses a missing column, other dtypes and mixed timezones."""
    _require_columns(frame, [column], label)
    series = frame[column]
    dtype = series.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        aware = True
    elif pd.api.types.is_datetime64_dtype(dtype):
        aware = False
    else:
        raise InvalidInputError(
            f"must hold timezone-aware UTC timestamps (datetime64[ns, UTC]), got dtype {dtype}",
            field=f"{label}.{column}",
        )
    if like is not None and aware != like.aware:
        raise _awareness_error(f"{label}.{column}", like.aware, reference)
    # to_numpy converts aware values to UTC; the ns unit puts every column on one scale.
    values = series.to_numpy(dtype="datetime64[ns]").view(np.int64)
    return TimeColumn(ns=np.asarray(values, dtype=np.int64), aware=aware)


def _instant_ns(value: datetime, field: str) -> int:
    """One timestamp as int64 nanoseconds since the epoch."""
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"must be a timestamp, got {value!r}", field=field) from exc
    if pd.isna(stamp):
        raise InvalidInputError("must be a timestamp, got NaT", field=field)
    return int(stamp.as_unit("ns").value)


def _is_aware(value: datetime) -> bool:
    """Whether a timestamp carries a timezone."""
    return pd.Timestamp(value).tzinfo is not None


def _awareness_error(field: str, expected_aware: bool, reference: str) -> InvalidInputError:
    """The error for mixing timezone-naive and timezone-aware timestamps."""
    state = "timezone-naive" if expected_aware else "timezone-aware"
    other = "timezone-aware" if expected_aware else "timezone-naive"
    return InvalidInputError(
        f"is {state} but {reference} is {other}; use timezone-aware UTC timestamps everywhere", field=field
    )


def _require_frame(frame: object, label: str) -> None:
    """Refuse anything but a DataFrame."""
    if not isinstance(frame, pd.DataFrame):
        raise InvalidInputError(f"must be a pandas DataFrame, got {type(frame).__name__}", field=label)


def _require_columns(frame: pd.DataFrame, columns: Sequence[str], label: str) -> None:
    """Refuse a frame that lacks one of the columns, naming the first missing one."""
    for column in columns:
        if column not in frame.columns:
            raise InvalidInputError(f"missing column {column!r}", field=f"{label}.{column}")
