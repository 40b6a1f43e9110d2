"""E-mail platforms' webhook deliveries as their documentation shows them, signed with test keys.

The payloads follow each platform's documented examples (Mailchimp Transactional's message event
format, Mailgun's webhook payloads and signature object, SendGrid's event webhook, Klaviyo's system
webhook request structure), with the ``variant_id`` custom variable that copyloop's sends carry.
The signatures are computed as each platform documents its scheme.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qsl, urlencode

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec


def mandrill_events(variant: str = "v1") -> list[dict[str, Any]]:
    """Mailchimp Transactional's documented hard-bounce example, and an open of the same message."""
    msg = {
        "ts": 1365109999,
        "subject": "This an example webhook message",
        "email": "example.webhook@mandrillapp.com",
        "sender": "example.sender@mandrillapp.com",
        "tags": ["webhook-example"],
        "state": "bounced",
        "metadata": {"user_id": 111, "variant_id": variant},
        "_id": "exampleaaaaaaaaaaaaaaaaaaaaaaaaa2",
        "_version": "exampleaaaaaaaaaaaaaaa",
        "bounce_description": "bad_mailbox",
        "bgtools_code": 10,
        "diag": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
    }
    return [
        {"event": "hard_bounce", "msg": msg, "_id": "id2", "ts": 1384954004},
        {"event": "open", "msg": {**msg, "state": "sent"}, "_id": "id3", "ts": 1384954100},
        {"event": "deferral", "msg": msg, "_id": "id4", "ts": 1384954200},
        {"type": "blacklist", "action": "add", "reject": {"email": "x@example.com"}},
    ]


def mandrill_body(events: list[dict[str, Any]]) -> bytes:
    """The form-encoded body Mailchimp Transactional posts."""
    return urlencode({"mandrill_events": json.dumps(events)}).encode()


def mandrill_signature(key: str, url: str, body: bytes) -> str:
    """X-Mandrill-Signature as documented: base64 HMAC-SHA1 of the URL and the sorted parameters."""
    signed = url + "".join(k + v for k, v in sorted(parse_qsl(body.decode())))
    return base64.b64encode(hmac.new(key.encode(), signed.encode(), hashlib.sha1).digest()).decode()


MAILGUN_TIME = dt.datetime.fromtimestamp(1770920772, dt.UTC)


def mailgun_body(key: str, variant: str = "v1", **signature: str) -> dict[str, Any]:
    """Mailgun's documented delivered event with its signature object, signed with `key`."""
    token = "e0b5477167110d68991efc6b9f89f0a11066af27834600e123"
    stamp = "1770920772"
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {
        "signature": {"token": token, "timestamp": stamp, "signature": digest, **signature},
        "event-data": {
            "event": "delivered",
            "id": "MXcc2gEpS-eN8HfkOnmK2w",
            "timestamp": 1770146431.6585283,
            "log-level": "info",
            "recipient": "recipient@sample.mailgun.com",
            "recipient-domain": "sample.mailgun.com",
            "tags": ["webhook_payload"],
            "user-variables": {"variant_id": variant},
        },
    }


SENDGRID_EVENTS = [
    {
        "email": "example@test.com",
        "timestamp": 1513299569,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": "processed",
        "category": "cat facts",
        "sg_event_id": "sg_event_id",
        "sg_message_id": "sg_message_id",
        "custom_args": {"variant_id": "v1"},
    },
    {
        "email": "example@test.com",
        "timestamp": 1513299570,
        "event": "click",
        "url": "https://example.com/sale",
        "sg_event_id": "sg_event_id_2",
        "sg_message_id": "sg_message_id",
        "custom_args": {"variant_id": "v1"},
    },
]
SENDGRID_TIME = dt.datetime.fromtimestamp(1600112502, dt.UTC)


def sendgrid_headers(
    private: ec.EllipticCurvePrivateKey, body: bytes, stamp: str = "1600112502"
) -> dict[str, str]:
    """The signed event webhook's headers: base64 DER ECDSA over the timestamp and the body."""
    signature = private.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


def public_key(private: ec.EllipticCurvePrivateKey) -> str:
    """The key as SendGrid shows it: base64 DER SubjectPublicKeyInfo."""
    der = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


KLAVIYO_TIME = dt.datetime(2026, 12, 1, 10, 0, 30, tzinfo=dt.UTC)


def klaviyo_body(variant: str = "v1") -> bytes:
    """A system webhook request as Klaviyo documents its structure: data (events) and meta."""

    def event(external_id: str, topic: str, when: str, **properties: Any) -> dict[str, Any]:
        return {
            "external_id": external_id,
            "topic": topic,
            "payload": {
                "data": {
                    "type": "event",
                    "id": external_id,
                    "attributes": {
                        "datetime": when,
                        "event_properties": {"variant_id": variant, "Subject": "Holiday sale", **properties},
                    },
                    "relationships": {
                        "profile": {"data": {"type": "profile", "id": "01GDDKASAP8TKDDA2GRZDSVP4H"}}
                    },
                },
                "included": [
                    {
                        "type": "profile",
                        "id": "01GDDKASAP8TKDDA2GRZDSVP4H",
                        "attributes": {"email": "sarah.mason@klaviyo-demo.com"},
                    }
                ],
            },
        }

    day = "2026-12-01T09:"
    payload = {
        "data": [
            event("4vPBvzXh7w4", "event:klaviyo.received_email", day + "00:00+00:00"),
            event("4vPBvzXh7w5", "event:klaviyo.opened_email", day + "30:00+00:00"),
            event("4vPBvzXh7w6", "event:klaviyo.placed_order", day + "45:00+00:00", **{"$value": 42.5}),
            event("4vPBvzXh7w7", "event:klaviyo.dropped_email", day + "50:00+00:00"),
        ],
        "meta": {
            "klaviyo_account_id": "AbC123",
            "klaviyo_webhook_id": "01HXYZWEBHOOK",
            "timestamp": "2026-12-01T10:00:30+00:00",
        },
    }
    return json.dumps(payload).encode()


def klaviyo_headers(secret: str, body: bytes, stamp: str = "2026-12-01T10:00:30Z") -> dict[str, str]:
    """Klaviyo's headers: the hex HMAC-SHA256 of the body and the timestamp."""
    digest = hmac.new(secret.encode(), body + stamp.encode(), hashlib.sha256).hexdigest()
    return {"Klaviyo-Signature": digest, "Klaviyo-Timestamp": stamp, "Klaviyo-Webhook-Id": "01HXYZWEBHOOK"}
