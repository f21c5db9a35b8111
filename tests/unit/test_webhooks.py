"""Webhook rules: URLs that may receive (literal, resolved, rebinding), signatures that the
Standard Webhooks library verifies, the retry schedule, disabling, and what a recipient is sent."""

import json
import re
import secrets
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import SecretStr, ValidationError
from standardwebhooks import Webhook, WebhookVerificationError

from services.notifications.domain import Audience, RecipientKind
from services.notifications.keys import DEV_SECRET_KEY, DEV_UNSUBSCRIBE_KEY
from services.notifications.settings import NotificationsSettings
from services.notifications.unsubscribe import UnsubscribeLinks
from services.notifications.webhooks import domain
from services.notifications.webhooks.dispatch import cloudevent_body
from services.notifications.webhooks.network import check_destination
from services.notifications.webhooks.sealing import SecretBox
from shared.auth import Grant, Principal
from shared.contracts.funding import CONTRIBUTION_PLEDGED
from shared.contracts.registry.conflict import CONFLICT_PROFILE_ASSESSED
from shared.contracts.registry.identity import ROLE_GRANTED
from shared.events import new_event

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class FakeDns:
    """A resolver whose answers a test sets, and can change (DNS rebinding)."""

    def __init__(self, **answers: list[str]) -> None:
        self.answers = answers

    async def __call__(self, host: str, port: int) -> list[str]:
        if host not in self.answers:
            raise OSError(f"no such host {host}")
        return self.answers[host]


async def check(url: str, dns: FakeDns | None = None, development: bool = False) -> list[str]:
    destination = await check_destination(
        url,
        development=development,
        resolver=dns or FakeDns(**{"donor.example.org": ["93.184.216.34"]}),
    )
    return destination.addresses


# --- URLs ------------------------------------------------------------------------------------


async def test_a_public_https_url_is_accepted_and_pinned_to_its_checked_address() -> None:
    assert await check("https://donor.example.org/hooks?x=1") == ["93.184.216.34"]


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://donor.example.org/hooks", "must use https"),
        ("ftp://donor.example.org/hooks", "must use https"),
        ("https://127.0.0.1/hooks", "non-public address"),
        ("https://10.1.2.3/hooks", "non-public address"),
        ("https://192.168.0.10:8443/hooks", "non-public address"),
        ("https://169.254.169.254/latest/meta-data", "non-public address"),  # cloud metadata
        ("https://100.64.0.1/hooks", "non-public address"),  # carrier-grade NAT
        ("https://0.0.0.0/hooks", "non-public address"),
        ("https://[::1]/hooks", "non-public address"),
        ("https://[fe80::1]/hooks", "non-public address"),
        ("https://[fd00::1]/hooks", "non-public address"),  # unique local
        ("https://[::ffff:127.0.0.1]/hooks", "non-public address"),  # IPv4-mapped loopback
        ("https://[ff02::1]/hooks", "non-public address"),  # multicast
        ("https://localhost/hooks", "local name"),
        ("https://receiver.internal/hooks", "local name"),
        ("https://user:pass@donor.example.org/hooks", "must not carry credentials"),
        ("https://unknown.example.org/hooks", "does not resolve"),
        ("https:///hooks", "names no host"),
    ],
)
async def test_urls_outside_development_are_refused_with_the_reason(url: str, says: str) -> None:
    with pytest.raises(domain.InvalidWebhookUrl, match=says):
        await check(url)


@pytest.mark.parametrize(
    "addresses",
    [["10.0.0.5"], ["93.184.216.34", "127.0.0.1"], ["2001:db8::1"], ["::1"], ["fc00::7"]],
)
async def test_a_name_resolving_to_any_non_public_address_is_refused(addresses: list[str]) -> None:
    # 2001:db8::/32 is the documentation range: not global either.
    with pytest.raises(domain.InvalidWebhookUrl, match="non-public address"):
        await check("https://hooks.example.net/in", FakeDns(**{"hooks.example.net": addresses}))


async def test_a_public_ipv6_address_is_accepted() -> None:
    dns = FakeDns(**{"v6.example.net": ["2606:4700:4700::1111"]})
    assert await check("https://v6.example.net/in", dns) == ["2606:4700:4700::1111"]


async def test_rebinding_after_registration_is_caught_when_sending() -> None:
    dns = FakeDns(**{"donor.example.org": ["93.184.216.34"]})
    assert await check("https://donor.example.org/hooks", dns)  # registration passes
    dns.answers["donor.example.org"] = ["169.254.169.254"]  # then the name is re-pointed
    with pytest.raises(domain.InvalidWebhookUrl, match=re.escape("169.254.169.254")):
        await check("https://donor.example.org/hooks", dns)  # the check made at each attempt


async def test_development_accepts_http_and_localhost_without_resolving() -> None:
    assert await check("http://localhost:9000/hooks", FakeDns(), development=True) == []
    assert await check("http://127.0.0.1:9000/hooks", FakeDns(), development=True) == []
    with pytest.raises(domain.InvalidWebhookUrl, match="must use https"):
        await check("ftp://localhost/hooks", FakeDns(), development=True)


# --- Signing ---------------------------------------------------------------------------------


def test_a_new_secret_follows_the_spec() -> None:
    secret = domain.new_secret()
    assert secret.startswith("whsec_")
    assert len(Webhook(secret)._whsecret) == 32  # 24 to 64 bytes, says the spec
    assert domain.new_secret() != secret


def _headers(
    signature: str, webhook_id: str = "wh-1", at: datetime | None = None
) -> dict[str, str]:
    at = at or datetime.now(UTC)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def test_the_signature_verifies_with_the_standard_webhooks_library() -> None:
    secret, body, at = domain.new_secret(), '{"type":"FundCreated"}', datetime.now(UTC)
    signature = domain.signature_header([secret], "wh-1", at, body)
    assert Webhook(secret).verify(body, _headers(signature, at=at)) == {"type": "FundCreated"}
    with pytest.raises(WebhookVerificationError):
        Webhook(domain.new_secret()).verify(body, _headers(signature, at=at))
    with pytest.raises(WebhookVerificationError):  # the id is signed: it cannot be swapped
        Webhook(secret).verify(body, _headers(signature, webhook_id="wh-2", at=at))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body.replace("Fund", "Func"), _headers(signature, at=at))


def test_during_a_rotation_both_secrets_verify() -> None:
    old, new, body, at = domain.new_secret(), domain.new_secret(), "{}", datetime.now(UTC)
    signature = domain.signature_header([new, old], "wh-1", at, body)
    assert len(signature.split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(body, _headers(signature, at=at))


# --- Schedule and disabling ------------------------------------------------------------------

SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000]


def test_the_retry_schedule_spaces_attempts_then_stops() -> None:
    due = [domain.next_attempt_at(SCHEDULE, made, NOW) for made in range(8)]
    assert [(at - NOW).total_seconds() for at in due[:7] if at] == SCHEDULE
    assert due[7] is None  # seven attempts made: the delivery has failed


def test_an_endpoint_is_disabled_after_failing_for_the_whole_period() -> None:
    five_days = timedelta(days=5)
    assert not domain.should_disable(NOW, NOW + timedelta(days=4, hours=23), five_days)
    assert domain.should_disable(NOW, NOW + five_days, five_days)


# --- Event types, owners -------------------------------------------------------------------


def test_unknown_event_types_are_refused_naming_the_known_ones() -> None:
    with pytest.raises(domain.DomainError) as refused:
        domain.checked_event_types(["FundCreated", "FundCreatd"])
    assert "FundCreatd" in refused.value.message
    assert "ContributionPledged" in refused.value.message
    assert domain.checked_event_types(["FundCreated", "FundCreated"]) == ["FundCreated"]
    assert domain.checked_event_types([]) is None
    with pytest.raises(domain.DomainError, match="RoleGranted"):  # never sent to integrations
        domain.checked_event_types(["RoleGranted"])


def test_an_owner_is_whoever_holds_the_scoped_role() -> None:
    donor, fund = uuid.uuid4(), uuid.uuid4()
    principal = Principal(
        "client-1",
        "client",
        frozenset({Grant.parse(f"donor:{donor}"), Grant.parse(f"fund_admin:{fund}")}),
        0,
    )
    assert domain.owns(principal, Audience(RecipientKind.DONOR, donor))
    assert domain.owns(principal, Audience(RecipientKind.FUND, fund))
    assert not domain.owns(principal, Audience(RecipientKind.FUND, donor))
    assert not domain.owns(principal, Audience(RecipientKind.PLATFORM, uuid.UUID(int=0)))
    assert domain.owners_of(principal) == {
        Audience(RecipientKind.DONOR, donor),
        Audience(RecipientKind.FUND, fund),
    }


# --- What is sent ----------------------------------------------------------------------------


def test_the_body_is_the_cloudevent_with_only_the_published_fields() -> None:
    event = new_event(CONTRIBUTION_PLEDGED, "fund-1", CONTRIBUTION_PLEDGED.example)
    leaky = replace(event, data={**event.data, "donor_iban": "CH93..."})
    fund = Audience(RecipientKind.FUND, CONTRIBUTION_PLEDGED.example.fund_id)  # type: ignore[attr-defined]
    data = domain.webhook_data(leaky, fund)
    assert data is not None and "donor_iban" not in data
    body = json.loads(cloudevent_body(replace(leaky, data=data)))
    assert body["specversion"] == "1.0"
    assert (body["id"], body["type"], body["subject"]) == (event.id, event.type, "fund-1")
    assert body["data"]["amount"] == "25000.00"


def test_identity_events_are_never_sent_and_conflict_profiles_only_to_the_city() -> None:
    granted = new_event(ROLE_GRANTED, "grant-1", ROLE_GRANTED.example)
    assert domain.webhook_data(granted, Audience(RecipientKind.DONOR, uuid.uuid4())) is None
    assessed = new_event(CONFLICT_PROFILE_ASSESSED, "c", CONFLICT_PROFILE_ASSESSED.example)
    city = CONFLICT_PROFILE_ASSESSED.example.city_id  # type: ignore[attr-defined]
    assert domain.webhook_data(assessed, Audience(RecipientKind.CITY, city)) is not None
    assert domain.webhook_data(assessed, Audience(RecipientKind.CITY, uuid.uuid4())) is None
    assert domain.webhook_data(assessed, Audience(RecipientKind.NETWORK, city)) is None


def _non_development(**fields: object) -> NotificationsSettings:
    token_key = Ed25519PrivateKey.generate().public_key()
    public_pem = token_key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    return NotificationsSettings(
        environment="test",
        auth_public_key=public_pem,
        database_url="postgresql+asyncpg://db/notifications",
        **fields,  # type: ignore[arg-type]
    )


def test_outside_development_the_committed_keys_are_refused() -> None:
    own_secret_key, own_link_key = Fernet.generate_key().decode(), secrets.token_urlsafe(32)
    mine = {"webhook_secret_keys": own_secret_key, "unsubscribe_keys": own_link_key}
    assert _non_development(**mine).webhook_secret_keys.get_secret_value() == own_secret_key
    for field, dev, variable in [
        ("webhook_secret_keys", DEV_SECRET_KEY, "NOTIFICATIONS_WEBHOOK_SECRET_KEYS"),
        ("unsubscribe_keys", DEV_UNSUBSCRIBE_KEY, "NOTIFICATIONS_UNSUBSCRIBE_KEYS"),
    ]:
        refused = f"refuses the development key in {variable}"
        with pytest.raises(ValidationError, match=refused):
            _non_development(**(mine | {field: dev}))
        with pytest.raises(ValidationError, match=refused):  # not even as an old key
            _non_development(**(mine | {field: f"{mine[field]},{dev}"}))


def test_a_key_that_is_not_one_is_named() -> None:
    with pytest.raises(ValueError, match="key 2 of NOTIFICATIONS_WEBHOOK_SECRET_KEYS is not"):
        SecretBox(SecretStr(f"{Fernet.generate_key().decode()},hunter2"))
    with pytest.raises(ValueError, match="NOTIFICATIONS_UNSUBSCRIBE_KEYS needs 32 characters"):
        UnsubscribeLinks(SecretStr("short"))
