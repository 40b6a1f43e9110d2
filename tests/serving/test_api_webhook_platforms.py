"""Platform webhooks through a real server with signing keys: signed deliveries stored once, others 401."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.support.live_server import LiveServer, api_settings, create_brand, create_generation, variant_ids
from tests.support.platform_webhooks import (
    SENDGRID_EVENTS,
    klaviyo_body,
    klaviyo_headers,
    mailgun_body,
    mandrill_body,
    mandrill_events,
    mandrill_signature,
    public_key,
    sendgrid_headers,
)

SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
KLAVIYO_SECRET = "klaviyo-secret-0123456789"


@pytest.fixture(scope="module")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The API with a signing key configured for every platform."""
    settings = api_settings(
        database_url,
        Path(tmp_path_factory.mktemp("data")),
        mandrill_webhook_key="mandrill-key",
        mailgun_webhook_signing_key="mailgun-key",
        sendgrid_webhook_public_key=public_key(SENDGRID_KEY),
        klaviyo_webhook_secret=KLAVIYO_SECRET,
    )
    live = LiveServer(settings).start()
    try:
        yield live
    finally:
        live.stop()


@pytest.fixture
def variant(api: httpx.Client) -> str:
    """A variant of a fresh generation in the test's workspace."""
    return variant_ids(create_generation(api, create_brand(api)))[0]


def _now() -> str:
    return str(int(time.time()))


def _mailgun(variant: str, key: str = "mailgun-key") -> dict[str, Any]:
    body = mailgun_body(key, variant)
    token = body["signature"]["token"]
    stamp = _now()
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    body["signature"].update(timestamp=stamp, signature=digest)
    return body


def _sendgrid(variant: str) -> tuple[bytes, dict[str, str]]:
    events = [{**e, "custom_args": {"variant_id": variant}} for e in SENDGRID_EVENTS]
    body = json.dumps(events).encode()
    return body, {**sendgrid_headers(SENDGRID_KEY, body, _now()), "Content-Type": "application/json"}


def _mandrill(server: LiveServer, variant: str, key: str = "mandrill-key") -> tuple[bytes, dict[str, str]]:
    body = mandrill_body(mandrill_events(variant))
    url = f"{server.base_url}/v1/outcomes/webhook/mandrill"
    headers = {"X-Mandrill-Signature": mandrill_signature(key, url, body)}
    return body, {**headers, "Content-Type": "application/x-www-form-urlencoded"}


def _klaviyo(variant: str, secret: str = KLAVIYO_SECRET) -> tuple[bytes, dict[str, str]]:
    body = klaviyo_body(variant)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return body, {**klaviyo_headers(secret, body, stamp), "Content-Type": "application/json"}


def _counts(response: httpx.Response) -> tuple[int, int, int]:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["rejected"] == []
    return body["accepted"], body["duplicates"], body["ignored"]


def test_each_platforms_signed_delivery_is_stored_once_even_when_redelivered(
    api: httpx.Client, server: LiveServer, variant: str
) -> None:
    mandrill, mandrill_headers = _mandrill(server, variant)
    sendgrid, sendgrid_signed = _sendgrid(variant)
    klaviyo, klaviyo_signed = _klaviyo(variant)
    deliveries = [
        ("mandrill", {"content": mandrill, "headers": mandrill_headers}, (2, 2)),
        ("mailgun", {"json": _mailgun(variant)}, (1, 0)),
        ("sendgrid", {"content": sendgrid, "headers": sendgrid_signed}, (2, 0)),
        ("klaviyo", {"content": klaviyo, "headers": klaviyo_signed}, (3, 1)),
    ]
    for platform, request, (accepted, ignored) in deliveries:
        first = api.post(f"/v1/outcomes/webhook/{platform}", **request)
        assert _counts(first) == (accepted, 0, ignored), platform
        again = api.post(f"/v1/outcomes/webhook/{platform}", **request)
        assert _counts(again) == (0, accepted, ignored), platform


def test_unsigned_wrongly_signed_and_tampered_deliveries_are_refused_with_401_and_store_nothing(
    api: httpx.Client, server: LiveServer, variant: str
) -> None:
    mandrill, mandrill_headers = _mandrill(server, variant, key="not-the-key")
    sendgrid, sendgrid_signed = _sendgrid(variant)
    klaviyo, klaviyo_signed = _klaviyo(variant)
    refused = [
        ("mandrill", {"content": mandrill, "headers": mandrill_headers}, "X-Mandrill-Signature"),
        ("mailgun", {"json": _mailgun(variant, key="not-the-key")}, "signature.signature"),
        ("mailgun", {"json": {"event-data": _mailgun(variant)["event-data"]}}, "signature"),
        (
            "sendgrid",
            {"content": sendgrid.replace(b"click", b"open"), "headers": sendgrid_signed},
            "X-Twilio-Email-Event-Webhook-Signature",
        ),
        ("sendgrid", {"json": json.loads(sendgrid)}, "X-Twilio-Email-Event-Webhook-Signature"),
        ("klaviyo", {"content": klaviyo + b" ", "headers": klaviyo_signed}, "Klaviyo-Signature"),
    ]
    for platform, request, field in refused:
        response = api.post(f"/v1/outcomes/webhook/{platform}", **request)
        assert response.status_code == 401, (platform, response.text)
        assert response.json()["error"]["field"] == field
    stored = api.post("/v1/outcomes/webhook/sendgrid", content=sendgrid, headers=sendgrid_signed)
    assert _counts(stored) == (2, 0, 0)


def test_a_replayed_signature_older_than_the_tolerance_is_refused(api: httpx.Client, variant: str) -> None:
    body = _mailgun(variant)
    old = str(int(time.time()) - 600)
    digest = hmac.new(b"mailgun-key", (old + body["signature"]["token"]).encode(), hashlib.sha256).hexdigest()
    body["signature"].update(timestamp=old, signature=digest)
    response = api.post("/v1/outcomes/webhook/mailgun", json=body)
    assert response.status_code == 401 and response.json()["error"]["field"] == "signature.timestamp"


def test_an_unknown_platform_is_refused_and_the_platform_route_still_needs_an_api_key(
    api: httpx.Client, server: LiveServer, variant: str
) -> None:
    assert api.post("/v1/outcomes/webhook/postmark", json=[]).status_code == 422
    with server.client() as anonymous:
        assert anonymous.post("/v1/outcomes/webhook/mailgun", json=_mailgun(variant)).status_code == 401
    token = base64.b64encode(b"x:y").decode()
    assert (
        api.post(
            "/v1/outcomes/webhook/mailgun",
            json=_mailgun(variant),
            headers={"Authorization": f"Basic {token}"},
        ).status_code
        == 401
    )
