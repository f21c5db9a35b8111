"""Events about identity and access: roles and credentials. Every service consumes the
revocations, so that a revoked token is refused everywhere."""

from datetime import UTC, datetime
from uuid import UUID

from pydantic import Field

from shared.contracts import EventSpec, Payload
from shared.contracts.registry.cities import CITY_REGISTERED
from shared.contracts.registry.topic import SOURCE, TOPIC


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

EVENTS = [ROLE_GRANTED, ROLE_REVOKED, CREDENTIALS_REVOKED]
