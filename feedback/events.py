"""The formats of incoming feedback and outcome events, and their validation row by row.

`FeedbackEventIn` and `OutcomeEventIn` are the wire models (extra fields are refused). Batches are
validated against `FeedbackEventDict` and `OutcomeEventDict`, typed dicts with exactly the same fields
and constraints, because checking a dict is about three times faster than building a model per row;
both are built from the same annotated types, and a test keeps them in step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NotRequired

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    with_config,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from genai.errors import invalid_input

__all__ = [
    "EARLIEST_EVENT",
    "MAX_CLOCK_SKEW",
    "FeedbackEventDict",
    "FeedbackEventIn",
    "OutcomeEventDict",
    "OutcomeEventIn",
    "RejectedEvent",
    "validate_feedback",
    "validate_outcomes",
]

# The field a rejection names when the problem is the event as a whole (not an object, say).
_WHOLE_EVENT = "event"
# Client clocks drift; an event further in the future than this is a unit or timezone mistake.
MAX_CLOCK_SKEW = dt.timedelta(days=1)
EARLIEST_EVENT = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

FeedbackKind = Literal["accept", "reject", "edit", "rating", "comment"]
OutcomeKind = Literal["send", "delivery", "open", "click", "conversion", "unsubscribe", "bounce", "complaint"]
IdempotencyKey = Annotated[str, StringConstraints(pattern=r"^[\x21-\x7e]+$", min_length=1, max_length=200)]
EntityId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
ReasonCodes = Annotated[
    list[Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]*$", max_length=64)]],
    Field(max_length=20),
]
Actor = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
EditedText = Annotated[str, StringConstraints(min_length=1, max_length=50_000)]
Comment = Annotated[str, StringConstraints(max_length=5_000)]


def _not_a_bool(value: Any) -> Any:
    # JSON's true and false are not 1 and 0: a client sending them has a bug to hear about
    if isinstance(value, bool):
        raise PydanticCustomError("number_not_bool", "must be a number, not true or false")
    return value


Rating = Annotated[int, BeforeValidator(_not_a_bool), Field(ge=1, le=5)]
ContactRef = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=320),
    Field(description="The contact's external id (e-mail address or customer id); only its HMAC is stored."),
]
Revenue = Annotated[float, BeforeValidator(_not_a_bool), Field(ge=0, le=1e9, allow_inf_nan=False)]


class FeedbackEventIn(BaseModel):
    """A marketer's verdict on a variant, as a client sends it."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: IdempotencyKey
    variant_id: EntityId
    kind: FeedbackKind
    event_time: AwareDatetime
    actor: Actor | None = None
    edited_text: EditedText | None = None
    rating: Rating | None = None
    comment: Comment | None = None
    reason_codes: ReasonCodes = Field(default_factory=list)


class OutcomeEventIn(BaseModel):
    """What happened to a variant sent to a contact, as an ESP or a client reports it."""

    model_config = ConfigDict(extra="forbid")

    idempotency_key: IdempotencyKey
    variant_id: EntityId
    contact: ContactRef
    kind: OutcomeKind
    event_time: AwareDatetime
    revenue: Revenue | None = None


@with_config(ConfigDict(extra="forbid"))
class FeedbackEventDict(TypedDict):
    """`FeedbackEventIn` as a plain dict (optional fields may be absent)."""

    idempotency_key: IdempotencyKey
    variant_id: EntityId
    kind: FeedbackKind
    event_time: AwareDatetime
    actor: NotRequired[Actor | None]
    edited_text: NotRequired[EditedText | None]
    rating: NotRequired[Rating | None]
    comment: NotRequired[Comment | None]
    reason_codes: NotRequired[ReasonCodes]


@with_config(ConfigDict(extra="forbid"))
class OutcomeEventDict(TypedDict):
    """`OutcomeEventIn` as a plain dict (revenue may be absent)."""

    idempotency_key: IdempotencyKey
    variant_id: EntityId
    contact: ContactRef
    kind: OutcomeKind
    event_time: AwareDatetime
    revenue: NotRequired[Revenue | None]


_FEEDBACK_DICT: TypeAdapter[FeedbackEventDict] = TypeAdapter(FeedbackEventDict)
_OUTCOME_DICT: TypeAdapter[OutcomeEventDict] = TypeAdapter(OutcomeEventDict)


@dataclass(frozen=True, order=True)
class RejectedEvent:
    """An event of a batch that was not stored: its index, the field at fault and why."""

    index: int
    field: str
    reason: str


Problem = tuple[str, str] | None


def _validate(
    adapter: TypeAdapter[Any],
    model: type[BaseModel],
    events: Sequence[Mapping[str, Any] | BaseModel],
    check: Callable[[Mapping[str, Any]], Problem],
) -> tuple[list[tuple[int, Mapping[str, Any]]], list[RejectedEvent]]:
    validator = adapter.validator
    valid: list[tuple[int, Mapping[str, Any]]] = []
    rejected: list[RejectedEvent] = []
    for index, event in enumerate(events):
        if isinstance(event, model):
            row: Mapping[str, Any] = event.model_dump()
        else:
            try:
                row = validator.validate_python(event)
            except ValidationError as exc:
                error = invalid_input(exc, fallback=_WHOLE_EVENT)
                rejected.append(RejectedEvent(index, error.field or _WHOLE_EVENT, error.message))
                continue
        problem = check(row)
        if problem is not None:
            rejected.append(RejectedEvent(index, *problem))
        else:
            valid.append((index, row))
    return valid, rejected


def _too_late(event_time: dt.datetime, latest: dt.datetime) -> Problem:
    if event_time > latest:
        return ("event_time", "is more than a day in the future")
    if event_time < EARLIEST_EVENT:
        # a negative epoch or a two-digit year: no e-mail event of ours is that old
        return ("event_time", "is before 1970")
    return None


def _check_feedback(row: Mapping[str, Any], latest: dt.datetime) -> Problem:
    kind = row["kind"]
    if kind == "edit" and row.get("edited_text") is None:
        return ("edited_text", "is required for an edit")
    if kind != "edit" and row.get("edited_text") is not None:
        return ("edited_text", "is only allowed on an edit")
    if kind == "rating" and row.get("rating") is None:
        return ("rating", "is required for a rating")
    if kind != "rating" and row.get("rating") is not None:
        return ("rating", "is only allowed on a rating")
    if kind == "comment" and not (row.get("comment") or "").strip():
        return ("comment", "is required for a comment")
    return _too_late(row["event_time"], latest)


def _check_outcome(row: Mapping[str, Any], latest: dt.datetime) -> Problem:
    if row.get("revenue") is not None and row["kind"] != "conversion":
        return ("revenue", "is only allowed on a conversion")
    return _too_late(row["event_time"], latest)


def validate_feedback(
    events: Sequence[Mapping[str, Any] | FeedbackEventIn], now: dt.datetime
) -> tuple[list[tuple[int, Mapping[str, Any]]], list[RejectedEvent]]:
    """Split a batch of feedback events into valid rows (by index) and rejected rows."""
    latest = now + MAX_CLOCK_SKEW
    return _validate(_FEEDBACK_DICT, FeedbackEventIn, events, lambda row: _check_feedback(row, latest))


def validate_outcomes(
    events: Sequence[Mapping[str, Any] | OutcomeEventIn], now: dt.datetime
) -> tuple[list[tuple[int, Mapping[str, Any]]], list[RejectedEvent]]:
    """Split a batch of outcome events into valid rows (by index) and rejected rows."""
    latest = now + MAX_CLOCK_SKEW
    return _validate(_OUTCOME_DICT, OutcomeEventIn, events, lambda row: _check_outcome(row, latest))
