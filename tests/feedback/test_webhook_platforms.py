"""The e-mail platforms' own webhooks: their documented payloads mapped, their signatures enforced."""

from __future__ import annotations

import datetime as dt
import json
from urllib.parse import urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session, sessionmaker

from feedback.errors import InvalidInputError, SignatureError
from feedback.webhook_platforms import WebhookKeys, read_platform_delivery
from feedback.webhooks import ingest_webhook, map_webhook_events
from tests.support.platform_webhooks import (
    KLAVIYO_TIME,
    MAILGUN_TIME,
    SENDGRID_EVENTS,
    SENDGRID_TIME,
    klaviyo_body,
    klaviyo_headers,
    mailgun_body,
    mandrill_body,
    mandrill_events,
    mandrill_signature,
    public_key,
    sendgrid_headers,
)

Workspace = tuple[str, list[str]]
SECRET = "s" * 32
URL = "https://copyloop.example/v1/outcomes/webhook/mandrill"


def kinds(
    platform: str, body: bytes, headers: dict[str, str], keys: WebhookKeys, now: dt.datetime
) -> list[tuple[str, str, str]]:
    """(kind, contact, idempotency key) of each event a delivery maps to; none may be rejected."""
    delivery = read_platform_delivery(platform, body, headers, url=URL, keys=keys, now=now)
    batch = map_webhook_events(
        delivery.items, SECRET, event_names=delivery.event_names, ignored=delivery.ignored
    )
    assert batch.rejected == []
    return [(e["kind"], e["contact"], e["idempotency_key"]) for e in batch.events]


def test_a_signed_mandrill_delivery_maps_bounces_and_opens_and_ignores_deferrals_and_syncs() -> None:
    body = mandrill_body(mandrill_events())
    headers = {"X-Mandrill-Signature": mandrill_signature("mkey", URL, body)}
    delivery = read_platform_delivery(
        "mandrill", body, headers, url=URL, keys=WebhookKeys(mandrill_key="mkey")
    )
    batch = map_webhook_events(
        delivery.items, SECRET, event_names=delivery.event_names, ignored=delivery.ignored
    )
    assert batch.ignored == 2 and batch.rejected == []
    assert [(e["kind"], e["contact"], e["idempotency_key"]) for e in batch.events] == [
        ("bounce", "example.webhook@mandrillapp.com", "webhook:mandrill:id2"),
        ("open", "example.webhook@mandrillapp.com", "webhook:mandrill:id3"),
    ]
    assert batch.events[0]["event_time"] == dt.datetime.fromtimestamp(1384954004, dt.UTC)


def test_mandrill_signs_the_configured_url_and_refuses_a_tampered_body_or_another_key() -> None:
    body = mandrill_body(mandrill_events())
    signed = {"X-Mandrill-Signature": mandrill_signature("mkey", URL, body)}
    configured = WebhookKeys(mandrill_key="mkey", mandrill_url=URL)
    assert read_platform_delivery("mandrill", body, signed, url="http://10.0.0.5/x", keys=configured).items
    tampered = mandrill_body(mandrill_events("v2"))
    for case_body, headers, keys in [
        (tampered, signed, configured),
        (body, signed, WebhookKeys(mandrill_key="other")),
        (body, {}, configured),
        (body, signed, WebhookKeys(mandrill_key="mkey", mandrill_url=URL + "/")),
    ]:
        with pytest.raises(SignatureError) as info:
            read_platform_delivery("mandrill", case_body, headers, url=URL, keys=keys)
        assert info.value.field == "X-Mandrill-Signature"


def test_a_mailgun_delivery_maps_its_event_and_permanent_failures_are_bounces() -> None:
    keys = WebhookKeys(mailgun_signing_key="gkey")
    body = json.dumps(mailgun_body("gkey")).encode()
    assert kinds("mailgun", body, {}, keys, MAILGUN_TIME) == [
        ("delivery", "recipient@sample.mailgun.com", "webhook:mailgun:MXcc2gEpS-eN8HfkOnmK2w")
    ]
    failed = mailgun_body("gkey")
    failed["event-data"].update(event="failed", severity="permanent", id="f1")
    assert kinds("mailgun", json.dumps(failed).encode(), {}, keys, MAILGUN_TIME)[0][0] == "bounce"
    failed["event-data"].update(severity="temporary")
    delivery = read_platform_delivery(
        "mailgun", json.dumps(failed).encode(), {}, url=URL, keys=keys, now=MAILGUN_TIME
    )
    assert (
        map_webhook_events(
            delivery.items, SECRET, event_names=delivery.event_names, ignored=delivery.ignored
        ).ignored
        == 1
    )


def test_mailgun_refuses_a_forged_token_another_key_no_signature_and_an_old_timestamp() -> None:
    keys = WebhookKeys(mailgun_signing_key="gkey")
    cases = [
        (mailgun_body("gkey", token="f" * 50), "signature.signature"),
        (mailgun_body("other"), "signature.signature"),
        ({"event-data": mailgun_body("gkey")["event-data"]}, "signature"),
    ]
    for body, field in cases:
        with pytest.raises(SignatureError) as info:
            read_platform_delivery(
                "mailgun", json.dumps(body).encode(), {}, url=URL, keys=keys, now=MAILGUN_TIME
            )
        assert info.value.field == field
    late = MAILGUN_TIME + dt.timedelta(minutes=6)
    with pytest.raises(SignatureError) as old:
        read_platform_delivery(
            "mailgun", json.dumps(mailgun_body("gkey")).encode(), {}, url=URL, keys=keys, now=late
        )
    assert old.value.field == "signature.timestamp" and "replayed" in old.value.message


def test_a_signed_sendgrid_delivery_is_verified_with_the_public_key() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    keys = WebhookKeys(sendgrid_public_key=public_key(private))
    body = json.dumps(SENDGRID_EVENTS).encode()
    assert kinds("sendgrid", body, sendgrid_headers(private, body), keys, SENDGRID_TIME) == [
        ("send", "example@test.com", "webhook:sg_event_id"),
        ("click", "example@test.com", "webhook:sg_event_id_2"),
    ]


def test_sendgrid_refuses_a_tampered_body_another_key_no_signature_and_a_replay() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    keys = WebhookKeys(sendgrid_public_key=public_key(private))
    body = json.dumps(SENDGRID_EVENTS).encode()
    headers = sendgrid_headers(private, body)
    stranger = sendgrid_headers(ec.generate_private_key(ec.SECP256R1()), body)
    signature = "X-Twilio-Email-Event-Webhook-Signature"
    for case_body, case_headers, field in [
        (body.replace(b"click", b"open"), headers, signature),
        (body, stranger, signature),
        (body, {}, signature),
        (body, {**headers, "X-Twilio-Email-Event-Webhook-Timestamp": "1600112503"}, signature),
    ]:
        with pytest.raises(SignatureError) as info:
            read_platform_delivery("sendgrid", case_body, case_headers, url=URL, keys=keys, now=SENDGRID_TIME)
        assert info.value.field == field
    with pytest.raises(SignatureError) as old:
        read_platform_delivery(
            "sendgrid", body, headers, url=URL, keys=keys, now=SENDGRID_TIME + dt.timedelta(seconds=301)
        )
    assert old.value.field == "X-Twilio-Email-Event-Webhook-Timestamp"


def test_a_sendgrid_key_that_is_not_p256_is_refused_naming_the_setting() -> None:
    with pytest.raises(InvalidInputError) as info:
        read_platform_delivery(
            "sendgrid", b"[]", {}, url=URL, keys=WebhookKeys(sendgrid_public_key="bm90IGEga2V5")
        )
    assert info.value.field == "sendgrid_webhook_public_key"


def test_a_klaviyo_delivery_maps_email_events_and_orders_with_their_value() -> None:
    keys = WebhookKeys(klaviyo_secret="k" * 16)
    body = klaviyo_body()
    delivery = read_platform_delivery(
        "klaviyo", body, klaviyo_headers("k" * 16, body), url=URL, keys=keys, now=KLAVIYO_TIME
    )
    batch = map_webhook_events(
        delivery.items, SECRET, event_names=delivery.event_names, ignored=delivery.ignored
    )
    assert batch.ignored == 1 and batch.rejected == []
    assert [(e["kind"], e["contact"], e["idempotency_key"]) for e in batch.events] == [
        ("delivery", "sarah.mason@klaviyo-demo.com", "webhook:klaviyo:4vPBvzXh7w4"),
        ("open", "sarah.mason@klaviyo-demo.com", "webhook:klaviyo:4vPBvzXh7w5"),
        ("conversion", "sarah.mason@klaviyo-demo.com", "webhook:klaviyo:4vPBvzXh7w6"),
    ]
    assert batch.events[2]["revenue"] == 42.5


def test_klaviyo_refuses_a_tampered_body_another_secret_a_foreign_webhook_id_and_a_replay() -> None:
    secret = "k" * 16
    keys = WebhookKeys(klaviyo_secret=secret)
    body = klaviyo_body()
    headers = klaviyo_headers(secret, body)
    for case_body, case_headers, field in [
        (klaviyo_body("v2"), headers, "Klaviyo-Signature"),
        (body, klaviyo_headers("x" * 16, body), "Klaviyo-Signature"),
        (body, {"Klaviyo-Timestamp": headers["Klaviyo-Timestamp"]}, "Klaviyo-Signature"),
        (body, {**headers, "Klaviyo-Webhook-Id": "01HOTHER"}, "meta.klaviyo_webhook_id"),
    ]:
        with pytest.raises(SignatureError) as info:
            read_platform_delivery("klaviyo", case_body, case_headers, url=URL, keys=keys, now=KLAVIYO_TIME)
        assert info.value.field == field
    with pytest.raises(SignatureError) as old:
        read_platform_delivery(
            "klaviyo", body, headers, url=URL, keys=keys, now=KLAVIYO_TIME + dt.timedelta(minutes=10)
        )
    assert old.value.field == "Klaviyo-Timestamp"


def test_without_a_configured_key_a_platform_delivery_is_read_unsigned() -> None:
    body = mandrill_body(mandrill_events())
    assert len(read_platform_delivery("mandrill", body, {}, url=URL, keys=WebhookKeys()).items) == 4


def test_a_body_that_is_not_the_platforms_shape_names_the_field() -> None:
    for platform, body, field in [
        ("mandrill", b"other=1", "mandrill_events"),
        ("mandrill", urlencode({"mandrill_events": "{}"}).encode(), "mandrill_events"),
        ("mailgun", b"[]", "body"),
        ("mailgun", b'{"signature": {}}', "event-data"),
        ("sendgrid", b"{", "body"),
        ("klaviyo", b'{"data": {}}', "data"),
    ]:
        with pytest.raises(InvalidInputError) as info:
            read_platform_delivery(platform, body, {}, url=URL, keys=WebhookKeys())
        assert info.value.field == field


def test_a_redelivered_platform_event_stores_nothing_new(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws, variants = workspace
    keys = WebhookKeys(mailgun_signing_key="gkey")
    body = json.dumps(mailgun_body("gkey", variants[0])).encode()
    for accepted, duplicates in [(1, 0), (0, 1)]:
        delivery = read_platform_delivery("mailgun", body, {}, url=URL, keys=keys, now=MAILGUN_TIME)
        report = ingest_webhook(
            factory, ws, delivery.items, limit=10, event_names=delivery.event_names, ignored=delivery.ignored
        )
        assert (report.accepted, report.duplicates, report.rejected) == (accepted, duplicates, [])
