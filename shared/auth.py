"""Who is calling, and what may they do: token verification and access rules, shared by every
service. Tokens are verified here, in each service, from a public key in settings (or a JWKS URL
for an external OpenID Connect provider), never by calling the issuer per request.

Every route declares its access with one `Access` dependency (PUBLIC, AUTHENTICATED or
`allow(roles)`); tests/contract/test_access_matrix.py fails for a route that declares none.
Object-level checks (this city, this fund) are the route's own, with the Principal's helpers."""

import asyncio
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import jwt
from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Column, String, Table, insert, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.contracts.registry import (
    CREDENTIALS_REVOKED,
    ROLE_REVOKED,
    CredentialsRevoked,
    RoleRevoked,
)
from shared.db import PLUMBING_METADATA, UTCDateTime, read_only
from shared.events import Event
from shared.settings import ServiceSettings


class Role(StrEnum):
    PLATFORM_ADMIN = "platform_admin"  # verifies cities and officials, manages roles and clients
    CITY_OFFICER = "city_officer"  # acts for one city (mayor, focal point)
    NETWORK_OFFICER = "network_officer"  # acts for a network of cities
    FUND_ADMIN = "fund_admin"  # runs one fund
    DONOR = "donor"  # a donor's machine client


SCOPED_ROLES = frozenset({Role.CITY_OFFICER, Role.NETWORK_OFFICER, Role.FUND_ADMIN, Role.DONOR})


@dataclass(frozen=True, order=True)
class Grant:
    """A role, and for scoped roles the id of what it acts for: "city_officer:<city id>"."""

    role: Role
    scope: str | None = None

    def __post_init__(self) -> None:
        if (self.role in SCOPED_ROLES) != (self.scope is not None):
            raise ValueError(
                f"{self.role} {'needs' if self.role in SCOPED_ROLES else 'takes no'} scope"
            )

    def __str__(self) -> str:
        return f"{self.role}:{self.scope}" if self.scope else str(self.role)

    @classmethod
    def parse(cls, text: str) -> "Grant":
        role, _, scope = text.partition(":")
        return cls(Role(role), scope or None)


@dataclass(frozen=True)
class Principal:
    subject: str
    kind: str  # "user" (a person, password flow) or "client" (a machine, client credentials)
    grants: frozenset[Grant]
    issued_at: float

    def has_role(self, role: Role) -> bool:
        return any(grant.role == role for grant in self.grants)

    def scopes(self, role: Role) -> set[str]:
        return {grant.scope for grant in self.grants if grant.role == role and grant.scope}

    @property
    def is_platform_admin(self) -> bool:
        return self.has_role(Role.PLATFORM_ADMIN)

    def acts_for_city(self, city_id: object) -> bool:
        return str(city_id) in self.scopes(Role.CITY_OFFICER)

    def administers_fund(self, fund_id: object) -> bool:
        return str(fund_id) in self.scopes(Role.FUND_ADMIN)


class InvalidToken(Exception):
    pass


class TokenVerifier:
    def __init__(self, settings: ServiceSettings) -> None:
        self._settings = settings
        self._jwks = jwt.PyJWKClient(settings.auth_jwks_url) if settings.auth_jwks_url else None

    async def verify(self, token: str) -> Principal:
        settings = self._settings
        try:
            if self._jwks:
                # The JWKS client caches keys; fetching them is blocking I/O, so off the loop.
                key: Any = (await asyncio.to_thread(self._jwks.get_signing_key_from_jwt, token)).key
            else:
                key = settings.auth_public_key
            claims = jwt.decode(
                token,
                key,
                algorithms=settings.auth_algorithms,
                audience=settings.auth_audience,
                issuer=settings.auth_issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
                leeway=settings.auth_clock_leeway_seconds,
            )
            grants = frozenset(
                Grant.parse(text) for text in claims.get(settings.auth_roles_claim, [])
            )
        except (jwt.PyJWTError, ValueError, TypeError) as exc:
            raise InvalidToken(str(exc) or type(exc).__name__) from exc
        return Principal(
            subject=str(claims["sub"]),
            kind=str(claims.get("cx_kind", "user")),
            grants=grants,
            issued_at=float(claims["iat"]),
        )


# Subjects whose tokens issued before `revoked_at` are no longer accepted (a client's credentials
# revoked, an account disabled, a role taken away). Each service fills it from registry events;
# the registry also writes it directly, in the transaction that revokes.
REVOKED_CREDENTIALS = Table(
    "revoked_credentials",
    PLUMBING_METADATA,
    Column("subject", String(100), primary_key=True),
    Column("revoked_at", UTCDateTime, nullable=False),
    Column("reason", String(200), nullable=False),
)


async def record_revocation(
    session: AsyncSession, subject: str, revoked_at: datetime, reason: str
) -> None:
    """Remember the latest revocation of `subject` (idempotent: replaying it changes nothing)."""
    current = (
        await session.exec(
            select(REVOKED_CREDENTIALS.c.revoked_at).where(REVOKED_CREDENTIALS.c.subject == subject)
        )
    ).first()
    if current is None:
        await session.exec(
            insert(REVOKED_CREDENTIALS).values(
                subject=subject, revoked_at=revoked_at, reason=reason
            )
        )
    elif current[0] < revoked_at:
        await session.exec(
            update(REVOKED_CREDENTIALS)
            .where(REVOKED_CREDENTIALS.c.subject == subject)
            .values(revoked_at=revoked_at, reason=reason)
        )


async def _revoked(session: AsyncSession, principal: Principal) -> bool:
    row = (
        await session.exec(
            select(REVOKED_CREDENTIALS.c.revoked_at).where(
                REVOKED_CREDENTIALS.c.subject == principal.subject
            )
        )
    ).first()
    return row is not None and row[0].timestamp() > principal.issued_at


_bearer = HTTPBearer(auto_error=False, description="an access token from registry's /oauth/token")


def _unauthorized(description: str) -> HTTPException:
    header = 'Bearer realm="city-exchange"'
    if description != "missing bearer token":
        header += f', error="invalid_token", error_description="{description}"'
    return HTTPException(
        401, detail=f"not authenticated: {description}", headers={"WWW-Authenticate": header}
    )


class Access:
    """A route's access rule, as a dependency that answers with the caller's Principal."""

    def __init__(
        self,
        name: str,
        roles: frozenset[Role] | None,
        public: bool = False,
        identifies: bool = False,
    ) -> None:
        self.name = name
        self.roles = roles  # None: any authenticated caller
        self.public = public
        # Public, yet a caller who sends a token is identified (and a bad token refused), so that
        # the route can show more to some callers (e.g. a restricted fund to its administrators).
        self.identifies = identifies

    def __repr__(self) -> str:
        return f"Access({self.name})"

    async def __call__(
        self,
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal | None:
        if self.public and (credentials is None or not self.identifies):
            return None
        if credentials is None:
            raise _unauthorized("missing bearer token")
        runtime = request.app.state.runtime
        try:
            principal = await runtime.verifier.verify(credentials.credentials)
        except InvalidToken as exc:
            raise _unauthorized(str(exc).replace('"', "'")) from exc
        async with runtime.sessions() as session:
            # A read on every request: it must not queue for SQLite's write lock.
            await read_only(session)
            if await _revoked(session, principal):
                raise _unauthorized("token revoked")
        if self.roles is not None and not any(principal.has_role(role) for role in self.roles):
            wanted = " or ".join(sorted(self.roles))
            raise HTTPException(403, detail=f"this needs the role {wanted}")
        request.state.principal = principal  # e.g. idempotency keys are kept per caller
        return principal


PUBLIC = Access("public", None, public=True)
# The same decision as PUBLIC (anyone may call), answering with the caller when a token is sent.
PUBLIC_IDENTIFIED = Access("public", None, public=True, identifies=True)
AUTHENTICATED = Access("authenticated", None)


def allow(*roles: Role) -> Access:
    return Access(" | ".join(sorted(roles)), frozenset(roles))


Public = Annotated[None, Depends(PUBLIC)]
MaybeCaller = Annotated[Principal | None, Depends(PUBLIC_IDENTIFIED)]
Caller = Annotated[Principal, Depends(AUTHENTICATED)]
# The single-role callers most routes take; rules naming several roles spell out allow(...).
PlatformAdmin = Annotated[Principal, Depends(allow(Role.PLATFORM_ADMIN))]
CityOfficer = Annotated[Principal, Depends(allow(Role.CITY_OFFICER))]


async def _on_role_revoked(session: AsyncSession, _event: Event, p: RoleRevoked) -> None:
    await record_revocation(session, p.subject, p.revoked_at, f"role {p.role} revoked")


async def _on_credentials_revoked(
    session: AsyncSession, _event: Event, p: CredentialsRevoked
) -> None:
    await record_revocation(session, p.subject, p.revoked_at, p.reason)


# Every service consumes these, so that a revocation reaches every token check.
REVOCATION_HANDLERS = {ROLE_REVOKED: _on_role_revoked, CREDENTIALS_REVOKED: _on_credentials_revoked}
