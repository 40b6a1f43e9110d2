"""E-mail platform webhooks: a JSON array of delivery events, mapped to outcome events.

The payload is what SendGrid's event webhook posts, and what most platforms can be set to post:
a list of objects with the event name (``event`` or ``type``), the recipient (``email`` or
``recipient``), a time (``timestamp`` in Unix seconds, or ISO 8601) and the variant the message
carried, at the top level or in the custom arguments the platform echoes back (``custom_args``,
``unique_args``, ``metadata``, ``user-variables``). The platform's own event id (``sg_event_id``,
``event_id``, ``id``) becomes the idempotency key, so a redelivered webhook stores nothing new;
without one the key is derived from the event's content and the contact's hash.
Event types that are not outcomes (``deferred``, ``dropped``...) are counted as ignored.
A bad event is reported with its index, never refused with the rest: platforms retry deliveries
that fail.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from feedback.batches import find_unstorable
from feedback.contacts import contact_hash, workspace_secret
from feedback.csv_import import DEFAULT_EVENT_NAMES
from feedback.errors import InvalidInputError
from feedback.events import RejectedEvent
from feedback.ingest import ingest_outcomes

__all__ = [
    "IGNORED_EVENTS",
    "WEBHOOK_EVENT_NAMES",
    "WebhookBatch",
    "WebhookReport",
    "ingest_webhook",
    "map_webhook_events",
]

WEBHOOK_EVENT_NAMES = {
    **DEFAULT_EVENT_NAMES,
    "group_unsubscribe": "unsubscribe",
    "unsub": "unsubscribe",
    "hard_bounced": "bounce",
    "soft_bounced": "bounce",
    "failed": "bounce",
}
IGNORED_EVENTS = frozenset({"deferred", "dropped", "group_resubscribe", "reject", "rejected", "queued"})
_ARG_BAGS = ("custom_args", "unique_args", "metadata", "user-variables", "user_variables")
_ID_FIELDS = ("sg_event_id", "event_id", "id", "_id")
_KEY = re.compile(r"^[\x21-\x7e]{1,180}$")


@dataclass
class WebhookBatch:
    """Outcome events mapped from a payload, the index of the item each came from, and the rest."""

    events: list[dict[str, Any]] = field(default_factory=list)
    sources: list[int] = field(default_factory=list)
    ignored: int = 0
    rejected: list[RejectedEvent] = field(default_factory=list)


@dataclass(frozen=True)
class WebhookReport:
    """What one delivery stored: how many events came, were new, replayed or ignored, and the rejected."""

    received: int
    accepted: int
    duplicates: int
    ignored: int
    rejected: list[RejectedEvent]
    suppressed: int = 0


class _Bad(Exception):
    def __init__(self, where: str, reason: str) -> None:
        super().__init__(reason)
        self.where = where
        self.reason = reason


def _text(item: Mapping[str, Any], *names: str) -> str | None:
    for name in names:
        value = item.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


def _variant(item: Mapping[str, Any]) -> str:
    found = _text(item, "variant_id")
    for bag in _ARG_BAGS:
        nested = item.get(bag)
        if found is None and isinstance(nested, Mapping):
            found = _text(nested, "variant_id")
    if found is None:
        raise _Bad("variant_id", "is missing (top level or in custom_args)")
    return found


def _time(item: Mapping[str, Any]) -> dt.datetime:
    value = item.get("timestamp", item.get("ts", item.get("event_time")))
    try:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int | float):
            if value < 0:
                raise ValueError
            return dt.datetime.fromtimestamp(float(value), dt.UTC)
        if isinstance(value, str) and value.strip():
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            parsed = parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
            if parsed.year >= 1970:
                return parsed
    except (ValueError, OverflowError, OSError):
        pass
    raise _Bad("timestamp", "must be Unix seconds or an ISO 8601 time, in 1970 or later")


def _revenue(item: Mapping[str, Any], kind: str) -> float | None:
    value = item.get("revenue", item.get("amount"))
    if value is None or kind != "conversion":
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise _Bad("revenue", "must be a number") from None


def _key(item: Mapping[str, Any], event: Mapping[str, Any], secret: str) -> str:
    for name in _ID_FIELDS:
        value = item.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and _KEY.match(str(value)):
            return f"webhook:{value}"
    parts = [
        event["variant_id"],
        contact_hash(secret, event["contact"]),
        event["kind"],
        event["event_time"].isoformat(),
        repr(event.get("revenue")),
    ]
    return "webhook:" + hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()[:40]


def _event(item: Mapping[str, Any], secret: str, names: _Names) -> dict[str, Any] | None:
    name = _text(item, "event", "type")
    if name is None:
        raise _Bad("event", "is missing")
    lowered = name.lower()
    if lowered in names.ignored:
        return None
    kind = names.kinds.get(lowered)
    if kind is None:
        raise _Bad("event", f"unknown event {name!r}")
    contact = _text(item, "email", "recipient")
    if contact is None:
        raise _Bad("email", "is missing")
    event: dict[str, Any] = {
        "variant_id": _variant(item),
        "contact": contact,
        "kind": kind,
        "event_time": _time(item),
    }
    revenue = _revenue(item, kind)
    if revenue is not None:
        event["revenue"] = revenue
    event["idempotency_key"] = _key(item, event, secret)
    return event


@dataclass(frozen=True)
class _Names:
    kinds: Mapping[str, str]
    ignored: frozenset[str]


def map_webhook_events(
    items: list[Any],
    secret: str,
    *,
    event_names: Mapping[str, str] = WEBHOOK_EVENT_NAMES,
    ignored: frozenset[str] = IGNORED_EVENTS,
) -> WebhookBatch:
    """Map a webhook payload to outcome events; `secret` is the workspace's contact secret.

    `event_names` maps the platform's (lower-case) event names to outcome kinds, and events named
    in `ignored` are counted, not stored; the defaults are SendGrid's names and most platforms'.
    """
    names = _Names(event_names, ignored)
    batch = WebhookBatch()
    for index, item in enumerate(items):
        if not isinstance(item, Mapping):
            batch.rejected.append(RejectedEvent(index, "event", "must be an object"))
            continue
        problem = find_unstorable(dict(item))
        if problem is not None:
            batch.rejected.append(RejectedEvent(index, *problem))
            continue
        try:
            event = _event(item, secret, names)
        except _Bad as bad:
            batch.rejected.append(RejectedEvent(index, bad.where, bad.reason))
            continue
        if event is None:
            batch.ignored += 1
            continue
        batch.events.append(event)
        batch.sources.append(index)
    return batch


def ingest_webhook(
    sessions: sessionmaker[Session],
    workspace_id: str,
    items: list[Any],
    *,
    limit: int,
    event_names: Mapping[str, str] = WEBHOOK_EVENT_NAMES,
    ignored: frozenset[str] = IGNORED_EVENTS,
) -> WebhookReport:
    """Store a webhook delivery's outcome events in one transaction; rejected events are reported by index."""
    if len(items) > limit:
        raise InvalidInputError(f"has {len(items):,} events; at most {limit:,} per delivery", field="body")
    with sessions() as session, session.begin():
        secret = workspace_secret(session, workspace_id)
        batch = map_webhook_events(items, secret, event_names=event_names, ignored=ignored)
        result = ingest_outcomes(session, workspace_id, batch.events)
    rejected = list(batch.rejected)
    rejected.extend(RejectedEvent(batch.sources[r.index], r.field, r.reason) for r in result.rejected)
    rejected.sort()
    return WebhookReport(
        received=len(items),
        accepted=len(result.accepted),
        duplicates=len(result.duplicates),
        ignored=batch.ignored,
        rejected=rejected,
        suppressed=len(result.suppressed),
    )
