"""Feature definitions as immutable, versioned values, their registry, and the computation of their values.

A definition says declaratively how values come from a first-party table, so it serialises to
canonical JSON and hashes; the hash identifies it. Registering the same definition again returns
its existing version and any change (computation, TTL, description or owner) gets the next one.
Definitions are never updated or deleted.

:func:`compute_feature` turns an event frame into the time series the point-in-time join reads:
one row per entity and moment the value changes, with the value from then on.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, NoReturn, Protocol, cast, get_args

import numpy as np
import numpy.typing as npt
import pandas as pd

from feedback.errors import ImmutableError, InvalidInputError, NotFoundError
from feedback.pit import NAT, TimeColumn, asof_positions, time_column

__all__ = [
    "Computation",
    "ComputationKind",
    "FeatureDefinition",
    "FeatureImmutableError",
    "FeatureNotFoundError",
    "FeatureRegistry",
    "MemoryFeatureRegistry",
    "RegisteredFeature",
    "ValueType",
    "builtin_features",
    "compute_feature",
    "definition_from_dict",
    "definition_hash",
    "definition_to_dict",
]

ComputationKind = Literal["rate", "count", "mean", "length"]
ValueType = Literal["float", "int"]

_VALUE_TYPE: dict[str, ValueType] = {"rate": "float", "mean": "float", "count": "int", "length": "int"}
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,199}$")


class FeatureImmutableError(ImmutableError):
    """An attempt to update or delete a registered feature definition."""

    code = "feature_immutable"


class FeatureNotFoundError(NotFoundError):
    """No feature definition with that name (or version) is registered."""

    code = "feature_not_found"


@dataclass(frozen=True, kw_only=True)
class Computation:
    """How a feature's values come from a source table, declaratively.

    - ``rate``: events of kinds ``events`` over events of kinds ``denominator_events``
      (NaN while the denominator is zero), e.g. accepts over accepts + rejects.
    - ``count``: the number of events of kinds ``events`` (every event when empty).
    - ``mean``: the mean of ``column`` over events of kinds ``events`` (every event when empty).
    - ``length``: the length in characters of the text in ``column``, fixed when the row is created.

    ``window`` bounds rate, count and mean to the events in ``(t - window, t]``; without it they
    cover everything so far. ``event_column`` names the column holding the event kind.
    """

    kind: ComputationKind
    source: str
    events: tuple[str, ...] = ()
    denominator_events: tuple[str, ...] = ()
    column: str | None = None
    window: timedelta | None = None
    event_column: str = "kind"

    def __post_init__(self) -> None:
        if self.kind not in get_args(ComputationKind):
            raise InvalidInputError(
                f"must be one of {', '.join(get_args(ComputationKind))}, got {self.kind!r}",
                field="computation.kind",
            )
        for name in ("source", "event_column"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise InvalidInputError("must be a non-empty string", field=f"computation.{name}")
        # Sorted, distinct kinds make the canonical JSON (and so the hash) independent of the order given.
        object.__setattr__(self, "events", _kinds(self.events, "computation.events"))
        object.__setattr__(
            self, "denominator_events", _kinds(self.denominator_events, "computation.denominator_events")
        )
        needs_column = self.kind in ("mean", "length")
        if needs_column and not (isinstance(self.column, str) and self.column):
            raise InvalidInputError(f"a {self.kind} needs the column it reads", field="computation.column")
        if not needs_column and self.column is not None:
            raise InvalidInputError(f"a {self.kind} reads no column", field="computation.column")
        if self.kind == "rate" and not (self.events and self.denominator_events):
            raise InvalidInputError(
                "a rate needs both events and denominator_events", field="computation.denominator_events"
            )
        if self.kind != "rate" and self.denominator_events:
            raise InvalidInputError(
                f"a {self.kind} has no denominator", field="computation.denominator_events"
            )
        if self.window is not None:
            if self.kind == "length":
                raise InvalidInputError(
                    "a length is fixed at creation and takes no window", field="computation.window"
                )
            _positive_duration(self.window, "computation.window")


@dataclass(frozen=True, kw_only=True)
class FeatureDefinition:
    """A feature: its identity, the entity its values belong to, and how they are computed.

    ``entity`` names the key column of the entity (``variant_id``, ``segment_id``, ``brand_id``),
    both in the source events and in the spines joined to the values. ``ttl`` is how long a value
    stays usable in a point-in-time join (None: forever).
    """

    name: str
    description: str
    owner: str
    entity: str
    value_type: ValueType
    ttl: timedelta | None
    computation: Computation

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME_RE.match(self.name):
            raise InvalidInputError(
                f"must be snake_case starting with a letter, at most 200 characters; got {self.name!r}",
                field="name",
            )
        for name in ("description", "owner", "entity"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value.strip():
                raise InvalidInputError("must be a non-empty string", field=name)
        if not isinstance(self.computation, Computation):
            raise InvalidInputError("must be a Computation", field="computation")
        expected = _VALUE_TYPE[self.computation.kind]
        if self.value_type != expected:
            raise InvalidInputError(
                f"a {self.computation.kind} feature has value_type {expected!r}, got {self.value_type!r}",
                field="value_type",
            )
        if self.ttl is not None:
            _positive_duration(self.ttl, "ttl")


@dataclass(frozen=True)
class RegisteredFeature:
    """A definition as the registry holds it: name, version (from 1) and the hash of the definition."""

    name: str
    version: int
    hash: str
    definition: FeatureDefinition


class FeatureRegistry(Protocol):
    """Where feature definitions live: append-only, one version per distinct definition of a name.

    ``register`` returns the existing version for a definition identical to one already stored
    (same hash) and stores a changed one as the next version. ``get`` raises
    :class:`FeatureNotFoundError` for an unknown name or version. ``update`` and ``delete`` always
    raise :class:`FeatureImmutableError`.
    """

    def register(self, definition: FeatureDefinition) -> RegisteredFeature:
        """Store a definition (or find the identical one) and return its version."""
        ...

    def get(self, name: str, version: int | None = None) -> RegisteredFeature:
        """One version of a feature, the latest when `version` is None."""
        ...

    def versions(self, name: str) -> list[RegisteredFeature]:
        """Every version of a feature, oldest first (empty when unknown)."""
        ...

    def names(self) -> list[str]:
        """The names of the registered features, sorted."""
        ...

    def update(self, definition: FeatureDefinition) -> NoReturn:
        """Refuse: definitions are immutable; register a new version instead."""
        ...

    def delete(self, name: str, version: int | None = None) -> NoReturn:
        """Refuse: definitions are immutable and datasets refer to them."""
        ...


class MemoryFeatureRegistry:
    """A thread-safe in-memory :class:`FeatureRegistry`, for notebooks and tests."""

    def __init__(self) -> None:
        self._versions: dict[str, list[RegisteredFeature]] = {}
        self._lock = threading.Lock()

    def register(self, definition: FeatureDefinition) -> RegisteredFeature:
        """Store a definition (or find the identical one) and return its version."""
        digest = definition_hash(definition)
        with self._lock:
            versions = self._versions.setdefault(definition.name, [])
            for existing in versions:
                if existing.hash == digest:
                    return existing
            registered = RegisteredFeature(definition.name, len(versions) + 1, digest, definition)
            versions.append(registered)
            return registered

    def get(self, name: str, version: int | None = None) -> RegisteredFeature:
        """One version of a feature, the latest when `version` is None."""
        with self._lock:
            versions = list(self._versions.get(name, ()))
        if not versions:
            raise FeatureNotFoundError(f"no feature named {name!r}", field="name")
        if version is None:
            return versions[-1]
        if not 1 <= version <= len(versions):
            raise FeatureNotFoundError(f"feature {name!r} has no version {version}", field="version")
        return versions[version - 1]

    def versions(self, name: str) -> list[RegisteredFeature]:
        """Every version of a feature, oldest first (empty when unknown)."""
        with self._lock:
            return list(self._versions.get(name, ()))

    def names(self) -> list[str]:
        """The names of the registered features, sorted."""
        with self._lock:
            return sorted(self._versions)

    def update(self, definition: FeatureDefinition) -> NoReturn:
        """Refuse: definitions are immutable; register a new version instead."""
        raise FeatureImmutableError(
            "feature definitions are immutable; register the changed definition as a new version",
            field=definition.name,
        )

    def delete(self, name: str, version: int | None = None) -> NoReturn:
        """Refuse: definitions are immutable and datasets refer to them."""
        raise FeatureImmutableError("feature definitions are immutable and cannot be deleted", field=name)


def definition_to_dict(definition: FeatureDefinition) -> dict[str, Any]:
    """The definition as plain JSON types, durations in seconds; the input of the hash."""
    comp = definition.computation
    return {
        "name": definition.name,
        "description": definition.description,
        "owner": definition.owner,
        "entity": definition.entity,
        "value_type": definition.value_type,
        "ttl_seconds": _seconds(definition.ttl),
        "computation": {
            "kind": comp.kind,
            "source": comp.source,
            "events": list(comp.events),
            "denominator_events": list(comp.denominator_events),
            "column": comp.column,
            "window_seconds": _seconds(comp.window),
            "event_column": comp.event_column,
        },
    }


def definition_from_dict(data: dict[str, Any]) -> FeatureDefinition:
    """Rebuild a definition saved with :func:`definition_to_dict`."""
    try:
        comp = data["computation"]
        return FeatureDefinition(
            name=data["name"],
            description=data["description"],
            owner=data["owner"],
            entity=data["entity"],
            value_type=data["value_type"],
            ttl=_duration(data["ttl_seconds"]),
            computation=Computation(
                kind=comp["kind"],
                source=comp["source"],
                events=tuple(comp["events"]),
                denominator_events=tuple(comp["denominator_events"]),
                column=comp["column"],
                window=_duration(comp["window_seconds"]),
                event_column=comp["event_column"],
            ),
        )
    except (KeyError, TypeError) as exc:
        raise InvalidInputError(
            f"not a saved feature definition: missing or bad {exc}", field="definition"
        ) from exc


def definition_hash(definition: FeatureDefinition) -> str:
    """The sha256 (hex) of the definition's canonical JSON: sorted keys, no spaces, UTF-8."""
    canonical = json.dumps(
        definition_to_dict(definition), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def builtin_features() -> tuple[FeatureDefinition, ...]:
    """The stock features: acceptance rate, 30-day click rate, rejected drafts and subject length."""
    return (
        FeatureDefinition(
            name="variant_acceptance_rate",
            description="Share of a variant's accept/reject feedback so far that accepted it.",
            owner="copyloop",
            entity="variant_id",
            value_type="float",
            ttl=None,
            computation=Computation(
                kind="rate",
                source="feedback_events",
                events=("accept",),
                denominator_events=("accept", "reject"),
            ),
        ),
        FeatureDefinition(
            name="segment_click_rate_30d",
            description="Clicks over sends to a segment in the last 30 days.",
            owner="copyloop",
            entity="segment_id",
            value_type="float",
            ttl=timedelta(days=30),
            computation=Computation(
                kind="rate",
                source="outcome_events",
                events=("click",),
                denominator_events=("send",),
                window=timedelta(days=30),
            ),
        ),
        FeatureDefinition(
            name="brand_rejected_drafts",
            description="How many drafts of a brand have been rejected so far.",
            owner="copyloop",
            entity="brand_id",
            value_type="int",
            ttl=None,
            computation=Computation(kind="count", source="feedback_events", events=("reject",)),
        ),
        FeatureDefinition(
            name="subject_length",
            description="Length of a variant's subject line in characters.",
            owner="copyloop",
            entity="variant_id",
            value_type="int",
            ttl=None,
            computation=Computation(kind="length", source="variants", column="subject"),
        ),
    )


def compute_feature(
    definition: FeatureDefinition,
    events: pd.DataFrame,
    *,
    time_col: str = "event_time",
    ingest_col: str = "ingested_at",
    as_of: datetime | None = None,
) -> pd.DataFrame:
    """Compute a feature's values as a time series: columns (entity, event_time, ingested_at, value).

    ``events`` holds rows of the definition's source, already carrying the entity column
    (e.g. outcome events joined to segment membership for a segment feature), the event time,
    the ingest time, the event-kind column and the column the computation reads.

    A row is written at every moment the value changes: at each event and, for a window, when an
    event leaves it (``window`` after it). Its value covers the events at or before that moment (in
    the window, if any), and its ``ingested_at`` is the latest ingest time of the events at or
    before that moment: when the value could first be known. ``as_of`` first drops events ingested
    after it, which gives the values exactly as they were known then (join them with the same
    ``as_of``). Rows with no event time or entity are ignored. The result is sorted by entity,
    then time. Entities without events have no rows, so a join gives them a missing value, not 0.
    """
    if not isinstance(events, pd.DataFrame):
        raise InvalidInputError(f"must be a pandas DataFrame, got {type(events).__name__}", field="events")
    comp = definition.computation
    needed = [definition.entity, time_col, ingest_col]
    if comp.events or comp.denominator_events:
        needed.append(comp.event_column)
    if comp.column is not None:
        needed.append(comp.column)
    for column in needed:
        if column not in events.columns:
            raise InvalidInputError(f"missing column {column!r}", field=f"events.{column}")
    event_times = time_column(events, time_col, "events")
    ingest = time_column(events, ingest_col, "events", like=event_times, reference=f"events.{time_col}")
    keep = (event_times.ns != NAT) & events[definition.entity].notna().to_numpy()
    if as_of is not None:
        keep &= (ingest.ns != NAT) & (ingest.ns <= _instant(as_of, event_times.aware))
    if comp.kind == "length":
        return _lengths(definition, events, keep, event_times.ns, ingest.ns, event_times.aware)

    selected = _selected(events, comp.event_column, comp.events)
    if comp.kind == "rate":
        in_denominator = _selected(events, comp.event_column, comp.denominator_events)
        numerator = selected.astype(np.float64)
        denominator = in_denominator.astype(np.float64)
        relevant = keep & (selected | in_denominator)
    elif comp.kind == "count":
        numerator = selected.astype(np.float64)
        denominator = np.zeros(len(events))
        relevant = keep & selected
    else:
        values = pd.to_numeric(events[cast(str, comp.column)], errors="coerce").to_numpy(dtype=np.float64)
        counted = selected & ~np.isnan(values)
        numerator = np.where(counted, values, 0.0)
        denominator = counted.astype(np.float64)
        relevant = keep & counted
    return _series(definition, events, relevant, event_times, ingest.ns, numerator, denominator)


def _series(
    definition: FeatureDefinition,
    events: pd.DataFrame,
    relevant: npt.NDArray[np.bool_],
    event_times: TimeColumn,
    ingest_ns: npt.NDArray[np.int64],
    numerator: npt.NDArray[np.float64],
    denominator: npt.NDArray[np.float64],
) -> pd.DataFrame:
    """Running or windowed sums evaluated at every moment the value changes."""
    comp = definition.computation
    rows = np.flatnonzero(relevant)
    codes, entities = pd.factorize(events[definition.entity].iloc[rows], sort=True)
    codes = codes.astype(np.int64)
    times = event_times.ns[rows]
    order = np.lexsort((times, codes))
    codes, times = codes[order], times[order]
    num = _group_cumsum(numerator[rows][order], codes)
    den = _group_cumsum(denominator[rows][order], codes)
    known = pd.Series(ingest_ns[rows][order]).groupby(codes).cummax().to_numpy(dtype=np.int64)

    window = None if comp.window is None else int(pd.Timedelta(comp.window).as_unit("ns").value)
    change_codes, change_times = codes, times
    if window is not None:
        change_codes = np.concatenate([codes, codes])
        change_times = np.concatenate([times, times + window])
    points = (
        pd.DataFrame({"code": change_codes, "t": change_times}).drop_duplicates().sort_values(["code", "t"])
    )
    at_codes = points["code"].to_numpy(dtype=np.int64)
    at_times = points["t"].to_numpy(dtype=np.int64)
    upto = asof_positions(at_codes, at_times, codes, times)
    num_at, den_at = num[upto], den[upto]
    if window is not None:
        before = asof_positions(at_codes, at_times - window, codes, times)
        num_at = num_at - np.where(before >= 0, num[before], 0.0)
        den_at = den_at - np.where(before >= 0, den[before], 0.0)

    if comp.kind == "count":
        value: npt.NDArray[Any] = np.rint(num_at).astype(np.int64)
    else:
        value = np.where(den_at > 0, num_at / np.where(den_at > 0, den_at, 1.0), np.nan)
    return _frame(definition.entity, entities.take(at_codes), at_times, known[upto], value, event_times.aware)


def _lengths(
    definition: FeatureDefinition,
    events: pd.DataFrame,
    keep: npt.NDArray[np.bool_],
    event_ns: npt.NDArray[np.int64],
    ingest_ns: npt.NDArray[np.int64],
    aware: bool,
) -> pd.DataFrame:
    """One row per source row with text: its length from its creation time on."""
    comp = definition.computation
    text = events[cast(str, comp.column)]
    keep = keep & text.notna().to_numpy() & _selected(events, comp.event_column, comp.events)
    rows = np.flatnonzero(keep)
    lengths = text.iloc[rows].astype(str).str.len().to_numpy(dtype=np.int64)
    out = _frame(
        definition.entity,
        events[definition.entity].iloc[rows],
        event_ns[rows],
        ingest_ns[rows],
        lengths,
        aware,
    )
    return out.sort_values([definition.entity, "event_time", "ingested_at"], kind="stable", ignore_index=True)


def _frame(
    entity: str,
    keys: Any,
    event_ns: npt.NDArray[np.int64],
    ingest_ns: npt.NDArray[np.int64],
    value: Any,
    aware: bool,
) -> pd.DataFrame:
    """The output frame, with times in the unit and timezone convention of the input."""
    return pd.DataFrame(
        {
            entity: pd.Series(keys).reset_index(drop=True),
            "event_time": _stamps(event_ns, aware),
            "ingested_at": _stamps(ingest_ns, aware),
            "value": value,
        }
    )


def _stamps(ns: npt.NDArray[np.int64], aware: bool) -> pd.Series:
    """int64 nanoseconds back to a datetime column (UTC when aware)."""
    series = pd.Series(np.asarray(ns, dtype=np.int64).view("datetime64[ns]"))
    return series.dt.tz_localize("UTC") if aware else series


def _group_cumsum(values: npt.NDArray[np.float64], codes: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Cumulative sums restarting at each group of a code-sorted array."""
    total = np.cumsum(values)
    if len(codes) == 0:
        return total
    starts = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    before = (total - values)[starts]
    return total - np.repeat(before, np.diff(np.r_[starts, len(codes)]))


def _selected(events: pd.DataFrame, column: str, kinds: tuple[str, ...]) -> npt.NDArray[np.bool_]:
    """Rows whose event kind is one of `kinds` (every row when `kinds` is empty)."""
    if not kinds:
        return np.ones(len(events), dtype=bool)
    return np.asarray(events[column].isin(kinds).to_numpy(dtype=bool), dtype=bool)


def _instant(value: datetime, aware: bool) -> int:
    """`as_of` as int64 nanoseconds, refusing a timezone convention unlike the events'."""
    stamp = pd.Timestamp(value)
    if (stamp.tzinfo is not None) != aware:
        raise InvalidInputError(
            "must be timezone-aware like the event times (or naive like them)", field="as_of"
        )
    return int(stamp.as_unit("ns").value)


def _kinds(values: Iterable[str], field: str) -> tuple[str, ...]:
    """Event kinds as a sorted tuple of distinct non-empty strings."""
    if isinstance(values, str):
        raise InvalidInputError("must be a list of event kinds, not a string", field=field)
    kinds = tuple(values)
    if not all(isinstance(k, str) and k for k in kinds):
        raise InvalidInputError("event kinds must be non-empty strings", field=field)
    return tuple(sorted(set(kinds)))


def _positive_duration(value: object, field: str) -> None:
    """Refuse anything but a positive duration."""
    if not isinstance(value, timedelta) or pd.isna(value) or value <= timedelta(0):
        raise InvalidInputError(f"must be a positive duration, got {value!r}", field=field)


def _seconds(value: timedelta | None) -> int | float | None:
    """A duration as seconds: an int when whole, so equal durations serialise identically."""
    if value is None:
        return None
    ns = int(pd.Timedelta(value).as_unit("ns").value)
    return ns // 1_000_000_000 if ns % 1_000_000_000 == 0 else ns / 1e9


def _duration(seconds: float | None) -> timedelta | None:
    """Seconds back to a duration."""
    return None if seconds is None else pd.Timedelta(seconds, unit="s").to_pytimedelta()
