"""The e-mail platforms' own webhook deliveries: checked against their signatures, read into webhook items.

Each platform's delivery is verified when its key is configured (see `feedback.webhook_signatures`),
then each of its events is read into the item shape `feedback.webhooks` maps to outcome events
(event, email, timestamp, variant_id in the platform's custom variables, the platform's event id),
with the platform's event names. The event id, prefixed with the platform's name, is the
idempotency key, so a redelivered event stores nothing new.

- ``mandrill`` (Mailchimp Transactional): a form field ``mandrill_events``, a JSON array of events;
  ``variant_id`` in the message's ``metadata``.
- ``mailgun``: one JSON object, ``signature`` and ``event-data``; ``variant_id`` in ``user-variables``.
- ``sendgrid``: SendGrid's JSON array as the generic route takes it; ``variant_id`` in ``custom_args``.
- ``klaviyo``: a system webhook's JSON object, ``data`` (events with ``external_id``, ``topic``
  and ``payload``) and ``meta``; ``variant_id`` in the event's properties.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args
from urllib.parse import parse_qsl

from feedback.errors import InvalidInputError, SignatureError
from feedback.webhook_signatures import (
    DEFAULT_TOLERANCE_S,
    load_sendgrid_public_key,
    verify_klaviyo,
    verify_mailgun,
    verify_mandrill,
    verify_sendgrid,
)
from feedback.webhooks import IGNORED_EVENTS, WEBHOOK_EVENT_NAMES

__all__ = ["PLATFORMS", "Platform", "PlatformDelivery", "WebhookKeys", "read_platform_delivery"]

Platform = Literal["mandrill", "mailgun", "sendgrid", "klaviyo"]
PLATFORMS: tuple[str, ...] = get_args(Platform)

_MANDRILL_NAMES = {**WEBHOOK_EVENT_NAMES, "spam": "complaint", "unsub": "unsubscribe"}
_MANDRILL_IGNORED = IGNORED_EVENTS | {"deferral", "inbound", "sync"}
_MAILGUN_NAMES = {**WEBHOOK_EVENT_NAMES, "accepted": "send", "permanent_fail": "bounce"}
_MAILGUN_IGNORED = IGNORED_EVENTS | {"temporary_fail", "stored"}
_KLAVIYO_NAMES = {
    "sent_email": "send",
    "received_email": "delivery",
    "email_delivered": "delivery",
    "opened_email": "open",
    "clicked_email": "click",
    "bounced_email": "bounce",
    "marked_email_as_spam": "complaint",
    "unsubscribed": "unsubscribe",
    "unsubscribed_from_email": "unsubscribe",
    "unsubscribed_from_email_marketing": "unsubscribe",
    "placed_order": "conversion",
}
_KLAVIYO_IGNORED = frozenset({"dropped_email"})
_KLAVIYO_TOPIC = "event:klaviyo."


@dataclass(frozen=True)
class WebhookKeys:
    """The platforms' signing keys; a platform without one takes deliveries unsigned."""

    mandrill_key: str | None = None
    mandrill_url: str | None = None
    mailgun_signing_key: str | None = None
    sendgrid_public_key: str | None = None
    klaviyo_secret: str | None = None
    tolerance_s: float = DEFAULT_TOLERANCE_S


@dataclass(frozen=True)
class PlatformDelivery:
    """A delivery read into webhook items, with the platform's event names and ignored events."""

    items: list[Any]
    event_names: Mapping[str, str]
    ignored: frozenset[str]


def _json(body: bytes, field: str) -> Any:
    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInputError("is not JSON", field=field) from None


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _mandrill_item(event: Any) -> Any:
    if not isinstance(event, Mapping):
        return event
    msg = _mapping(event.get("msg"))
    name = event.get("event") or ("sync" if "type" in event and "action" in event else None)
    item: dict[str, Any] = {
        "event": name,
        "email": msg.get("email"),
        "timestamp": event.get("ts"),
        "metadata": msg.get("metadata"),
    }
    if isinstance(event.get("_id"), str):
        item["event_id"] = f"mandrill:{event['_id']}"
    return item


def _mandrill(body: bytes, headers: Mapping[str, str], url: str, keys: WebhookKeys) -> PlatformDelivery:
    try:
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise InvalidInputError("is not a form-encoded body", field="body") from None
    if keys.mandrill_key:
        verify_mandrill(keys.mandrill_key, keys.mandrill_url or url, params, headers)
    fields = dict(params)
    if "mandrill_events" not in fields:
        raise InvalidInputError("is missing", field="mandrill_events")
    events = _json(fields["mandrill_events"].encode("utf-8"), "mandrill_events")
    if not isinstance(events, list):
        raise InvalidInputError("must be a JSON array of events", field="mandrill_events")
    return PlatformDelivery([_mandrill_item(e) for e in events], _MANDRILL_NAMES, _MANDRILL_IGNORED)


def _mailgun(body: bytes, keys: WebhookKeys, now: dt.datetime | None) -> PlatformDelivery:
    payload = _json(body, "body")
    if not isinstance(payload, Mapping):
        raise InvalidInputError("must be a JSON object with signature and event-data", field="body")
    if keys.mailgun_signing_key:
        verify_mailgun(
            keys.mailgun_signing_key, payload.get("signature"), tolerance_s=keys.tolerance_s, now=now
        )
    data = payload.get("event-data")
    if not isinstance(data, Mapping):
        raise InvalidInputError("must be an object", field="event-data")
    name = data.get("event")
    if name == "failed":
        name = "permanent_fail" if data.get("severity") == "permanent" else "temporary_fail"
    item: dict[str, Any] = {
        "event": name,
        "email": data.get("recipient"),
        "timestamp": data.get("timestamp"),
        "user-variables": data.get("user-variables"),
    }
    if isinstance(data.get("id"), str):
        item["event_id"] = f"mailgun:{data['id']}"
    return PlatformDelivery([item], _MAILGUN_NAMES, _MAILGUN_IGNORED)


def _sendgrid(
    body: bytes, headers: Mapping[str, str], keys: WebhookKeys, now: dt.datetime | None
) -> PlatformDelivery:
    if keys.sendgrid_public_key:
        public = load_sendgrid_public_key(keys.sendgrid_public_key)
        verify_sendgrid(public, body, headers, tolerance_s=keys.tolerance_s, now=now)
    events = _json(body, "body")
    if not isinstance(events, list):
        raise InvalidInputError("must be a JSON array of events", field="body")
    return PlatformDelivery(events, WEBHOOK_EVENT_NAMES, IGNORED_EVENTS)


def _klaviyo_contact(payload: Mapping[str, Any], event: Mapping[str, Any]) -> Any:
    properties = _mapping(_mapping(event.get("attributes")).get("event_properties"))
    for included in payload.get("included") or []:
        email = _mapping(_mapping(included).get("attributes")).get("email")
        if _mapping(included).get("type") == "profile" and email:
            return email
    profile = _mapping(_mapping(_mapping(event.get("relationships")).get("profile")).get("data"))
    return properties.get("$email") or properties.get("email") or profile.get("id")


def _klaviyo_item(entry: Any) -> Any:
    if not isinstance(entry, Mapping):
        return entry
    payload = _mapping(entry.get("payload"))
    event = _mapping(payload.get("data", payload))
    attributes = _mapping(event.get("attributes"))
    properties = _mapping(attributes.get("event_properties"))
    topic = entry.get("topic")
    name = topic.removeprefix(_KLAVIYO_TOPIC) if isinstance(topic, str) else None
    item: dict[str, Any] = {
        "event": name,
        "email": _klaviyo_contact(payload, event),
        "timestamp": attributes.get("datetime", attributes.get("timestamp")),
        "metadata": properties,
        "revenue": properties.get("$value"),
    }
    if isinstance(entry.get("external_id"), str | int):
        item["event_id"] = f"klaviyo:{entry['external_id']}"
    return item


def _klaviyo(
    body: bytes, headers: Mapping[str, str], keys: WebhookKeys, now: dt.datetime | None
) -> PlatformDelivery:
    if keys.klaviyo_secret:
        verify_klaviyo(keys.klaviyo_secret, body, headers, tolerance_s=keys.tolerance_s, now=now)
    payload = _json(body, "body")
    if not isinstance(payload, Mapping) or not isinstance(payload.get("data"), list):
        raise InvalidInputError("must be a JSON object whose data is an array of events", field="data")
    hook = _mapping(payload.get("meta")).get("klaviyo_webhook_id")
    header = headers.get("Klaviyo-Webhook-Id") or headers.get("klaviyo-webhook-id")
    if keys.klaviyo_secret and hook is not None and header is not None and str(hook) != header.strip():
        raise SignatureError("does not match the Klaviyo-Webhook-Id header", field="meta.klaviyo_webhook_id")
    return PlatformDelivery([_klaviyo_item(e) for e in payload["data"]], _KLAVIYO_NAMES, _KLAVIYO_IGNORED)


def read_platform_delivery(
    platform: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    url: str,
    keys: WebhookKeys,
    now: dt.datetime | None = None,
) -> PlatformDelivery:
    """Verify one platform's delivery (when its key is configured) and read it into webhook items.

    `url` is the URL the request came to (Mandrill signs the URL it posts to); raises
    SignatureError for a missing, wrong or stale signature and InvalidInputError for a bad body.
    """
    if platform == "mandrill":
        return _mandrill(body, headers, url, keys)
    if platform == "mailgun":
        return _mailgun(body, keys, now)
    if platform == "sendgrid":
        return _sendgrid(body, headers, keys, now)
    if platform == "klaviyo":
        return _klaviyo(body, headers, keys, now)
    raise InvalidInputError(f"must be one of {', '.join(PLATFORMS)}", field="platform")
