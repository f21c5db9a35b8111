"""Identity tables (accounts, API clients, role grants, refresh tokens, audit log) and schemas."""

import uuid
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, field_validator
from sqlalchemy import JSON, BigInteger, Column, Integer
from sqlmodel import Field, SQLModel

from services.registry.identity import domain
from services.registry.models import RegistryTable
from shared.auth import Role
from shared.db import UTCDateTime, utcnow


class Account(RegistryTable, table=True):
    """A person: a city or network officer, a fund or platform administrator."""

    __tablename__ = "accounts"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    username: str = Field(unique=True, max_length=254)
    display_name: str = Field(max_length=200)
    password_hash: str
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiClient(RegistryTable, table=True):
    """A machine client (a donor's system) using the client-credentials flow."""

    __tablename__ = "api_clients"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    name: str = Field(max_length=200)
    secret_hash: str
    created_by: str
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RoleGrant(RegistryTable, table=True):
    __tablename__ = "role_grants"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    subject: str = Field(index=True, max_length=100)
    role: Role
    scope: str | None = Field(default=None, max_length=100)
    granted_by: str
    granted_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_by: str | None = None
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RefreshToken(RegistryTable, table=True):
    """One use each: a refresh returns a new token of the same family. A token used twice means
    it was stolen, so the whole family is revoked."""

    __tablename__ = "refresh_tokens"

    token_hash: str = Field(primary_key=True, max_length=64)
    account_id: uuid.UUID = Field(index=True)
    family_id: uuid.UUID = Field(index=True)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuditEntry(RegistryTable, table=True):
    """Authorization decisions that change state: who did what to whom, and when."""

    __tablename__ = "audit_log"

    seq: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer, "sqlite")
    )
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str
    action: str
    target: str
    detail: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AccountCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=254, description="an e-mail address")
    display_name: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=domain.MIN_PASSWORD_LENGTH, max_length=256)

    _username = field_validator("username")(domain.username)


class AccountPublic(SQLModel):
    id: uuid.UUID
    username: str
    display_name: str
    active: bool
    created_at: datetime


class Me(SQLModel):
    subject: str
    kind: str
    grants: list[str]
    account: AccountPublic | None


class GrantCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    subject: str = Field(description="an account id or a client id", max_length=100)
    role: Role
    scope: str | None = Field(
        default=None, max_length=100, description="city/network/fund/donor id"
    )


class GrantPublic(SQLModel):
    id: uuid.UUID
    subject: str
    role: Role
    scope: str | None
    granted_by: str
    granted_at: datetime
    revoked_at: datetime | None


class ClientCreate(SQLModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    donor_id: uuid.UUID | None = Field(
        default=None, description="the donor it acts for; a new donor id when omitted"
    )


class ClientCreated(SQLModel):
    client_id: uuid.UUID
    client_secret: str = Field(description="shown once: store it now")
    name: str
    grants: list[str]


class Revocation(SQLModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=3, max_length=200)


class TokenResponse(SQLModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int
    refresh_token: str | None = None
    scope: str = Field(description="the grants, space-separated")


class AuditEntryPublic(SQLModel):
    seq: int
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
