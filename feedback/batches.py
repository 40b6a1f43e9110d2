"""The rules of an incoming event batch: its size cap, the rows the store cannot take, all or nothing.

Rows holding text that no database can store (a NUL character, which PostgreSQL refuses, or a lone
surrogate such as a JSON ``"\\ud800"`` escape, which is not Unicode text and cannot be encoded) and
event times before 1970 are refused before the store sees them, each named by its index in the batch;
the rest go to `feedback.ingest`. An atomic batch with any rejected row stores nothing. A single
event is refused with the error that names its field.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from feedback.errors import InvalidInputError, NotFoundError
from feedback.events import FeedbackEventIn, OutcomeEventIn, RejectedEvent
from feedback.ingest import BatchResult, ingest_feedback, ingest_outcomes

__all__ = ["EARLIEST_EVENT", "find_unstorable", "ingest_batch", "ingest_event"]

# No e-mail event predates this; older times are unit mistakes, and datasets cannot hold the oldest.
EARLIEST_EVENT = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_TOO_EARLY = "must be in 1970 or later"


class _Rejected(Exception):
    """Rolls an all-or-nothing batch back."""

    def __init__(self, result: BatchResult) -> None:
        super().__init__("batch rejected")
        self.result = result


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
_NUL = "must not contain NUL characters"
_SURROGATE = "must be Unicode text: it holds a lone surrogate (a \\ud800 to \\udfff escape without its pair)"


def _printable(key: str) -> str:
    """A key as it can appear in an error's field: lone surrogates written as escapes."""
    return key.encode("utf-8", "backslashreplace").decode("utf-8")


def find_unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """The path and reason of the first string in `value` (nested dicts and lists) no database can store.

    That is text holding a NUL character or a lone surrogate (JSON decoders turn a ``"\\ud800"``
    escape into one; it cannot be encoded as UTF-8).
    """
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        if found is None:
            return None
        return (path or "body"), (_NUL if found.group() == "\x00" else _SURROGATE)
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{_printable(str(key))}" if path else _printable(str(key))
            problem = find_unstorable(key, where) or find_unstorable(item, where)
            if problem:
                return problem
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            problem = find_unstorable(item, f"{path}.{index}" if path else str(index))
            if problem:
                return problem
    return None


def _too_early(value: Any) -> bool:
    """Whether an event time (parsed, or as ISO 8601 text) is before `EARLIEST_EVENT`."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return False  # the store's own validation names the problem
    if isinstance(value, dt.datetime):
        aware = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return aware < EARLIEST_EVENT
    return False


def _prescreen(events: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[int], list[RejectedEvent]]:
    """The rows the store can take, their indexes in the batch, and the others as rejected rows.

    Refused here: text no database can store (`find_unstorable`) and event times before 1970.
    """
    kept: list[dict[str, Any]] = []
    positions: list[int] = []
    refused: list[RejectedEvent] = []
    for index, event in enumerate(events):
        problem = find_unstorable(event)
        if problem is not None:
            refused.append(RejectedEvent(index, *problem))
        elif isinstance(event, dict) and _too_early(event.get("event_time")):
            refused.append(RejectedEvent(index, "event_time", _TOO_EARLY))
        else:
            kept.append(event)
            positions.append(index)
    return kept, positions, refused


def _reindexed(result: BatchResult, positions: list[int], refused: list[RejectedEvent]) -> BatchResult:
    """A result over the kept rows, with indexes of the whole batch again."""
    return BatchResult(
        accepted={positions[i]: v for i, v in result.accepted.items()},
        duplicates={positions[i]: v for i, v in result.duplicates.items()},
        rejected=sorted(
            [*refused, *(RejectedEvent(positions[r.index], r.field, r.reason) for r in result.rejected)]
        ),
        suppressed=[positions[i] for i in result.suppressed],
    )


def ingest_batch(
    sessions: sessionmaker[Session],
    kind: str,
    workspace_id: str,
    events: list[dict[str, Any]],
    *,
    atomic: bool,
    limit: int,
) -> BatchResult:
    """Store a feedback or outcome batch; with `atomic`, a rejected row stores nothing."""
    if len(events) > limit:
        raise InvalidInputError(f"has {len(events):,} events; at most {limit:,} per batch", field="events")
    ingest = ingest_feedback if kind == "feedback" else ingest_outcomes
    kept, positions, refused = _prescreen(events)
    if not atomic:
        return _reindexed(ingest(sessions, workspace_id, kept), positions, refused)
    try:
        with sessions() as session, session.begin():
            result = _reindexed(ingest(session, workspace_id, kept), positions, refused)
            if result.rejected:
                raise _Rejected(result)
            return result
    except _Rejected as rejected:
        first = rejected.result.rejected[0]
        more = len(rejected.result.rejected) - 1
        tail = f" (and {more} more rejected row{'s' if more > 1 else ''})" if more else ""
        raise InvalidInputError(
            f"{first.reason}{tail}; nothing was stored", field=f"events.{first.index}.{first.field}"
        ) from None


def ingest_event(
    sessions: sessionmaker[Session], workspace_id: str, event: FeedbackEventIn | OutcomeEventIn
) -> BatchResult:
    """Store one event; a rejected event raises the error that names its field."""
    unstorable = find_unstorable(event.model_dump(mode="json"))
    if unstorable is not None:
        raise InvalidInputError(unstorable[1], field=unstorable[0])
    if _too_early(event.event_time):
        raise InvalidInputError(_TOO_EARLY, field="event_time")
    if isinstance(event, FeedbackEventIn):
        result = ingest_feedback(sessions, workspace_id, [event])
    else:
        result = ingest_outcomes(sessions, workspace_id, [event])
    if result.rejected:
        problem = result.rejected[0]
        if problem.field == "variant_id":
            raise NotFoundError(f"no variant {event.variant_id!r} in this workspace", field="variant_id")
        raise InvalidInputError(problem.reason, field=problem.field)
    return result
