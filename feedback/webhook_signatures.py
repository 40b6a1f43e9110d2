"""The signature checks of the e-mail platforms' webhooks, one function per platform.

Each check raises SignatureError when the delivery is unsigned, signed with another key, altered
after signing, or (where the platform signs a time) signed longer ago than the tolerance:

- Mailchimp Transactional (Mandrill): ``X-Mandrill-Signature`` is the base64 HMAC-SHA1, under the
  webhook's key, of the webhook URL followed by every POST parameter's name and value, sorted by name.
- Mailgun: the body's ``signature`` object holds a timestamp, a token and the hex HMAC-SHA256 of the
  timestamp and token under the signing key (Mailgun signs these two, not ``event-data``).
- SendGrid (signed event webhook): ``X-Twilio-Email-Event-Webhook-Signature`` is the base64 DER
  ECDSA P-256 signature (SHA-256) of ``X-Twilio-Email-Event-Webhook-Timestamp`` followed by the raw
  body, checked with the public key SendGrid shows (base64 DER SubjectPublicKeyInfo).
- Klaviyo: ``Klaviyo-Signature`` is the hex HMAC-SHA256, under the webhook's secret, of the raw
  body followed by the ``Klaviyo-Timestamp`` header.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from collections.abc import Iterable, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from feedback.errors import InvalidInputError, SignatureError

__all__ = [
    "DEFAULT_TOLERANCE_S",
    "check_fresh",
    "load_sendgrid_public_key",
    "verify_klaviyo",
    "verify_mailgun",
    "verify_mandrill",
    "verify_sendgrid",
]

DEFAULT_TOLERANCE_S = 300.0


def _header(headers: Mapping[str, str], name: str) -> str:
    value = headers.get(name) or headers.get(name.lower())
    if not value or not value.strip():
        raise SignatureError(f"is missing: the request carries no {name} header", field=name)
    return value.strip()


def _signed_time(value: str | int | float, where: str) -> dt.datetime:
    try:
        if isinstance(value, str) and not value.strip().lstrip("-").replace(".", "", 1).isdigit():
            parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)
        return dt.datetime.fromtimestamp(float(value), dt.UTC)
    except (ValueError, OverflowError, OSError):
        raise SignatureError("is not a Unix time or an ISO 8601 time", field=where) from None


def check_fresh(
    value: str | int | float, where: str, *, tolerance_s: float, now: dt.datetime | None = None
) -> None:
    """Refuse a signed time further than `tolerance_s` from now (a replayed or forged delivery)."""
    signed = _signed_time(value, where)
    current = now or dt.datetime.now(dt.UTC)
    if abs((current - signed).total_seconds()) > tolerance_s:
        raise SignatureError(
            f"is {signed.isoformat()}, more than {tolerance_s:g} s from now: a replayed delivery",
            field=where,
        )


def _same(expected: str, given: str, where: str) -> None:
    if not hmac.compare_digest(expected.encode("ascii"), given.strip().encode("utf-8", "replace")):
        raise SignatureError("does not match the configured key", field=where)


def verify_mandrill(
    key: str, url: str, params: Iterable[tuple[str, str]], headers: Mapping[str, str]
) -> None:
    """Check ``X-Mandrill-Signature`` over the webhook URL and the sorted POST parameters."""
    given = _header(headers, "X-Mandrill-Signature")
    signed = url + "".join(name + value for name, value in sorted(params, key=lambda pair: pair[0]))
    digest = hmac.new(key.encode("utf-8"), signed.encode("utf-8"), hashlib.sha1).digest()
    _same(base64.b64encode(digest).decode("ascii"), given, "X-Mandrill-Signature")


def verify_mailgun(
    key: str, signature: object, *, tolerance_s: float, now: dt.datetime | None = None
) -> None:
    """Check a Mailgun body's ``signature`` object: its HMAC, then the age of its timestamp."""
    if not isinstance(signature, Mapping):
        raise SignatureError("is missing: the body carries no signature object", field="signature")
    parts = {}
    for name in ("timestamp", "token", "signature"):
        value = signature.get(name)
        if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
            raise SignatureError("is missing", field=f"signature.{name}")
        parts[name] = str(value).strip()
    signed = (parts["timestamp"] + parts["token"]).encode("utf-8")
    expected = hmac.new(key.encode("utf-8"), signed, hashlib.sha256).hexdigest()
    _same(expected, parts["signature"], "signature.signature")
    check_fresh(parts["timestamp"], "signature.timestamp", tolerance_s=tolerance_s, now=now)


def load_sendgrid_public_key(key: str) -> ec.EllipticCurvePublicKey:
    """SendGrid's verification key (base64 DER SubjectPublicKeyInfo, PEM armour allowed) as a P-256 key."""
    body = "".join(line for line in key.strip().splitlines() if not line.startswith("-----"))
    try:
        public = load_der_public_key(base64.b64decode(body, validate=True))
    except (ValueError, binascii.Error):
        raise InvalidInputError(
            "is not a base64 DER public key (SendGrid's verification key)",
            field="sendgrid_webhook_public_key",
        ) from None
    if not isinstance(public, ec.EllipticCurvePublicKey) or public.curve.name != "secp256r1":
        raise InvalidInputError("is not an ECDSA P-256 public key", field="sendgrid_webhook_public_key")
    return public


def verify_sendgrid(
    public_key: ec.EllipticCurvePublicKey,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_s: float,
    now: dt.datetime | None = None,
) -> None:
    """Check SendGrid's ECDSA signature over the timestamp header and the raw body, then its age."""
    given = _header(headers, "X-Twilio-Email-Event-Webhook-Signature")
    timestamp = _header(headers, "X-Twilio-Email-Event-Webhook-Timestamp")
    try:
        signature = base64.b64decode(given, validate=True)
        public_key.verify(signature, timestamp.encode("utf-8") + body, ec.ECDSA(hashes.SHA256()))
    except (binascii.Error, ValueError, InvalidSignature):
        raise SignatureError(
            "does not match the configured key", field="X-Twilio-Email-Event-Webhook-Signature"
        ) from None
    check_fresh(timestamp, "X-Twilio-Email-Event-Webhook-Timestamp", tolerance_s=tolerance_s, now=now)


def verify_klaviyo(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_s: float,
    now: dt.datetime | None = None,
) -> None:
    """Check ``Klaviyo-Signature`` over the raw body and ``Klaviyo-Timestamp``, then the timestamp's age."""
    given = _header(headers, "Klaviyo-Signature")
    timestamp = _header(headers, "Klaviyo-Timestamp")
    expected = hmac.new(secret.encode("utf-8"), body + timestamp.encode("utf-8"), hashlib.sha256).hexdigest()
    _same(expected, given.lower(), "Klaviyo-Signature")
    check_fresh(timestamp, "Klaviyo-Timestamp", tolerance_s=tolerance_s, now=now)
