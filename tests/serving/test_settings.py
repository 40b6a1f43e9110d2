"""Settings read from the environment."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from serving.settings import Settings


def test_brand_fetch_allow_lists_read_comma_separated_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPYLOOP_BRAND_FETCH_ALLOW_HOSTS", "127.0.0.1, intranet.example,10.0.0.0/8")
    monkeypatch.setenv("COPYLOOP_BRAND_FETCH_ALLOW_PORTS", "8080,8443")

    settings = Settings()

    assert settings.brand_fetch_allow_hosts == ["127.0.0.1", "intranet.example", "10.0.0.0/8"]
    assert settings.brand_fetch_allow_ports == [8080, 8443]


def test_brand_fetches_reach_only_public_hosts_on_default_ports_unless_configured() -> None:
    settings = Settings()

    assert settings.brand_fetch_allow_hosts == [] and settings.brand_fetch_allow_ports == []


@pytest.mark.parametrize(
    ("variable", "value"),
    [("COPYLOOP_BRAND_FETCH_ALLOW_HOSTS", "10.0.0.0/33"), ("COPYLOOP_BRAND_FETCH_ALLOW_PORTS", "70000")],
)
def test_a_bad_brand_fetch_allow_entry_fails_when_the_settings_load(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as info:
        Settings()

    assert variable.removeprefix("COPYLOOP_").lower() in str(info.value)


def test_a_sendgrid_webhook_key_that_is_not_a_p256_public_key_fails_when_the_settings_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COPYLOOP_SENDGRID_WEBHOOK_PUBLIC_KEY", "bm90IGEga2V5")

    with pytest.raises(ValidationError) as info:
        Settings()

    assert "sendgrid_webhook_public_key" in str(info.value) and "public key" in str(info.value)


def test_webhook_signing_keys_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COPYLOOP_MAILGUN_WEBHOOK_SIGNING_KEY", "mailgun-key")
    monkeypatch.setenv("COPYLOOP_WEBHOOK_TOLERANCE_S", "120")

    keys = Settings().webhook_keys()

    assert keys.mailgun_signing_key == "mailgun-key" and keys.tolerance_s == 120
    assert keys.mandrill_key is None and keys.sendgrid_public_key is None and keys.klaviyo_secret is None
