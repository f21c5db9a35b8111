"""Events the registry service publishes."""

from datetime import UTC, datetime
from uuid import UUID

from pydantic import Field

from shared.contracts import EventSpec, Payload

TOPIC = "registry.events"
SOURCE = "/city-exchange/registry"


class CityRegistered(Payload):
    city_id: UUID
    name: str
    country_code: str = Field(description="ISO 3166-1 alpha-2")
    region: str | None = None
    population: int | None = None


CITY_REGISTERED = EventSpec(
    "CityRegistered",
    CityRegistered,
    TOPIC,
    SOURCE,
    "A member city registered with the programme.",
    CityRegistered(
        city_id=UUID("5a1c0de0-0000-4000-8000-00000000070e"),
        name="Lomé",
        country_code="TG",
        region="Maritime",
        population=837437,
    ),
)


class CityVerified(Payload):
    city_id: UUID
    verified_by: str = Field(description="subject of the platform administrator")


class RoleGranted(Payload):
    grant_id: UUID
    subject: str = Field(description="the account or client the role was granted to")
    role: str
    scope: str | None = Field(description="the city, network, fund or donor it acts for")
    granted_by: str


class RoleRevoked(Payload):
    grant_id: UUID
    subject: str
    role: str
    scope: str | None
    revoked_by: str
    revoked_at: datetime = Field(description="tokens of `subject` issued before are refused")


class CredentialsRevoked(Payload):
    subject: str
    subject_kind: str = Field(description="'client' (a donor system) or 'user'")
    reason: str
    revoked_by: str
    revoked_at: datetime = Field(description="tokens of `subject` issued before are refused")


_ADMIN = "8d1c4a2e-0000-4000-8000-00000000a0a0"
_AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)

CITY_VERIFIED = EventSpec(
    "CityVerified",
    CityVerified,
    TOPIC,
    SOURCE,
    "A platform administrator verified a registered city.",
    CityVerified(city_id=CITY_REGISTERED.example.city_id, verified_by=_ADMIN),
)
ROLE_GRANTED = EventSpec(
    "RoleGranted",
    RoleGranted,
    TOPIC,
    SOURCE,
    "An account or client was granted a role (an authorization decision, also audited).",
    RoleGranted(
        grant_id=UUID("61a70000-0000-4000-8000-000000000001"),
        subject="8d1c4a2e-0000-4000-8000-0000000000b1",
        role="city_officer",
        scope=str(CITY_REGISTERED.example.city_id),
        granted_by=_ADMIN,
    ),
)
ROLE_REVOKED = EventSpec(
    "RoleRevoked",
    RoleRevoked,
    TOPIC,
    SOURCE,
    "A role was taken away; services refuse the subject's tokens issued before `revoked_at`.",
    RoleRevoked(
        grant_id=UUID("61a70000-0000-4000-8000-000000000001"),
        subject="8d1c4a2e-0000-4000-8000-0000000000b1",
        role="city_officer",
        scope=str(CITY_REGISTERED.example.city_id),
        revoked_by=_ADMIN,
        revoked_at=_AT,
    ),
)
CREDENTIALS_REVOKED = EventSpec(
    "CredentialsRevoked",
    CredentialsRevoked,
    TOPIC,
    SOURCE,
    "A client's credentials (or an account) were revoked; its tokens are refused from then on.",
    CredentialsRevoked(
        subject="c11e0000-0000-4000-8000-000000000001",
        subject_kind="client",
        reason="key leaked",
        revoked_by=_ADMIN,
        revoked_at=_AT,
    ),
)

EVENTS = [CITY_REGISTERED, CITY_VERIFIED, ROLE_GRANTED, ROLE_REVOKED, CREDENTIALS_REVOKED]
