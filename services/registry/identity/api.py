"""Identity routes: the OAuth2 token endpoint (password, client credentials, refresh token),
accounts, role grants, API clients and the audit log."""

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request, Response
from fastapi.responses import JSONResponse
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from sqlmodel import col, select, update

from services.registry.identity import domain
from services.registry.identity.audit import audit
from services.registry.identity.grants import active_grants, grant_role, revoke_grant
from services.registry.identity.models import (
    Account,
    AccountCreate,
    AccountPublic,
    ApiClient,
    AuditEntry,
    AuditEntryPublic,
    ClientCreate,
    ClientCreated,
    GrantCreate,
    GrantPublic,
    Me,
    RefreshToken,
    Revocation,
    RoleGrant,
    TokenResponse,
)
from services.registry.identity.passwords import hash_secret, verify_secret
from services.registry.identity.tokens import hash_opaque_token, new_opaque_token
from shared.auth import (
    AUTHENTICATED,
    PUBLIC,
    Grant,
    PlatformAdmin,
    Principal,
    Role,
    record_revocation,
)
from shared.contracts.registry import CREDENTIALS_REVOKED, CredentialsRevoked
from shared.db import utcnow
from shared.errors import Conflict, DomainError, NotFound
from shared.outbox import record_event
from shared.service import SessionDep

router = APIRouter()
_basic = HTTPBasic(auto_error=False)


def _oauth_error(status: int, error: str, description: str, **headers: str) -> JSONResponse:
    """Errors of the token endpoint, in RFC 6749's shape so that OAuth2 clients understand them."""
    return JSONResponse(
        {"error": error, "error_description": description},
        status_code=status,
        headers={"Cache-Control": "no-store", **headers},
    )


def _too_many_failures(identity: Any, key: str) -> JSONResponse | None:
    if (wait := identity.limiter.retry_after(key)) is None:
        return None
    return _oauth_error(
        429,
        "slow_down",
        f"too many failed attempts; retry in {wait} s",
        **{"Retry-After": str(wait)},
    )


@router.post(
    "/oauth/token",
    response_model=TokenResponse,
    tags=["identity"],
    responses={400: {"description": "invalid_grant etc."}, 401: {"description": "invalid_client"}},
    dependencies=[Depends(PUBLIC)],
)
async def token(
    request: Request,
    response: Response,
    session: SessionDep,
    grant_type: Annotated[str, Form(description="password, client_credentials or refresh_token")],
    username: Annotated[str | None, Form()] = None,
    password: Annotated[str | None, Form()] = None,
    refresh_token: Annotated[str | None, Form()] = None,
    client_id: Annotated[str | None, Form()] = None,
    client_secret: Annotated[str | None, Form()] = None,
    basic: Annotated[HTTPBasicCredentials | None, Depends(_basic)] = None,
) -> Any:
    """OAuth2 token endpoint: people sign in with the password flow and stay signed in with
    refresh tokens (each usable once); donor systems use client credentials (form or Basic)."""
    # Tokens must never be cached by a proxy or a browser (RFC 6749, 5.1).
    response.headers["Cache-Control"] = "no-store"
    identity = request.app.state.identity
    if grant_type == "password":
        if not username or not password:
            return _oauth_error(400, "invalid_request", "username and password are required")
        key = f"user:{username.strip().lower()}"
        if limited := _too_many_failures(identity, key):
            return limited
        account = (
            await session.exec(select(Account).where(Account.username == username.strip().lower()))
        ).first()
        valid = await verify_secret(account.password_hash if account else None, password)
        if not valid or account is None or not account.active:
            identity.limiter.failed(key)
            # One message for an unknown user, a wrong password and a disabled account.
            return _oauth_error(400, "invalid_grant", "wrong username or password")
        identity.limiter.succeeded(key)
        return await _user_tokens(session, identity, account, family_id=uuid.uuid4())
    if grant_type == "refresh_token":
        if not refresh_token:
            return _oauth_error(400, "invalid_request", "refresh_token is required")
        return await _refresh(session, identity, refresh_token)
    if grant_type == "client_credentials":
        cid, secret = (basic.username, basic.password) if basic else (client_id, client_secret)
        if not cid or not secret:
            return _oauth_error(400, "invalid_request", "client_id and client_secret are required")
        key = f"client:{cid}"
        if limited := _too_many_failures(identity, key):
            return limited
        client = await _client(session, cid)
        valid = await verify_secret(client.secret_hash if client else None, secret)
        if not valid or client is None or client.revoked_at is not None:
            identity.limiter.failed(key)
            return _oauth_error(
                401,
                "invalid_client",
                "unknown, revoked or wrong client credentials",
                **{"WWW-Authenticate": 'Basic realm="city-exchange"'},
            )
        identity.limiter.succeeded(key)
        grants = await active_grants(session, str(client.id))
        return TokenResponse(
            access_token=identity.issuer.access_token(str(client.id), "client", grants),
            expires_in=identity.issuer.access_ttl,
            scope=" ".join(str(g) for g in grants),
        )
    return _oauth_error(400, "unsupported_grant_type", f"{grant_type!r} is not supported")


async def _client(session: SessionDep, client_id: str) -> ApiClient | None:
    try:
        return await session.get(ApiClient, uuid.UUID(client_id))
    except ValueError:
        return None


async def _user_tokens(
    session: SessionDep, identity: Any, account: Account, family_id: uuid.UUID
) -> TokenResponse:
    grants = await active_grants(session, str(account.id))
    refresh, refresh_hash = new_opaque_token()
    session.add(
        RefreshToken(
            token_hash=refresh_hash,
            account_id=account.id,
            family_id=family_id,
            expires_at=utcnow() + timedelta(seconds=identity.settings.refresh_token_ttl_seconds),
        )
    )
    await session.commit()
    return TokenResponse(
        access_token=identity.issuer.access_token(str(account.id), "user", grants),
        expires_in=identity.issuer.access_ttl,
        refresh_token=refresh,
        scope=" ".join(str(g) for g in grants),
    )


async def _refresh(session: SessionDep, identity: Any, token: str) -> Any:
    stored = await session.get(RefreshToken, hash_opaque_token(token), with_for_update=True)
    now = utcnow()
    if stored is None or stored.expires_at <= now or stored.revoked_at is not None:
        return _oauth_error(
            400, "invalid_grant", "the refresh token is unknown, expired or revoked"
        )
    if stored.used_at is not None:
        # Used twice: someone else holds a copy. End the whole sign-in for safety.
        await session.exec(
            update(RefreshToken)
            .where(col(RefreshToken.family_id) == stored.family_id)
            .values(revoked_at=now)
        )
        audit(session, str(stored.account_id), "refresh_token.reused", str(stored.account_id))
        await session.commit()
        return _oauth_error(
            400, "invalid_grant", "the refresh token was already used; sign in again"
        )
    account = await session.get(Account, stored.account_id)
    if account is None or not account.active:
        return _oauth_error(400, "invalid_grant", "the account is disabled")
    stored.used_at = now
    session.add(stored)
    return await _user_tokens(session, identity, account, stored.family_id)


@router.get("/.well-known/jwks.json", tags=["identity"], dependencies=[Depends(PUBLIC)])
async def jwks(request: Request) -> dict[str, Any]:
    """The public key that verifies access tokens, for services and integrators."""
    return request.app.state.identity.issuer.jwks()


@router.post(
    "/accounts",
    status_code=201,
    response_model=AccountPublic,
    tags=["identity"],
    dependencies=[Depends(PUBLIC)],
)
async def sign_up(body: AccountCreate, session: SessionDep) -> Account:
    """Anyone may open an account; it holds no role until one is granted (or it registers a
    city, which makes it that city's officer, pending verification)."""
    if (await session.exec(select(Account).where(Account.username == body.username))).first():
        raise Conflict(f"an account with username {body.username} already exists; sign in instead")
    if body.password.lower() == body.username:
        raise DomainError("the password cannot be the username")
    account = Account(
        username=body.username,
        display_name=body.display_name,
        password_hash=await hash_secret(body.password),
    )
    session.add(account)
    await session.commit()
    return account


@router.get("/accounts/me", response_model=Me, tags=["identity"])
async def me(principal: Annotated[Principal, Depends(AUTHENTICATED)], session: SessionDep) -> Me:
    account = None
    if principal.kind == "user":
        try:
            account = await session.get(Account, uuid.UUID(principal.subject))
        except ValueError:
            account = None  # a subject from an external OpenID Connect provider
    grants = await active_grants(session, principal.subject)
    return Me(
        subject=principal.subject,
        kind=principal.kind,
        grants=[str(g) for g in grants],
        account=AccountPublic.model_validate(account) if account else None,
    )


async def _subject_exists(session: SessionDep, subject: str, role: Role) -> None:
    try:
        subject_id = uuid.UUID(subject)
    except ValueError:
        raise NotFound(f"no account or client with id {subject}") from None
    kind = domain.subject_kind(role)
    found = await session.get(ApiClient if kind == "client" else Account, subject_id)
    if found is None:
        raise NotFound(
            f"no {'client' if kind == 'client' else 'account'} with id {subject} (a {role} is a {kind})"
        )


@router.post("/grants", status_code=201, response_model=GrantPublic, tags=["identity"])
async def grant(body: GrantCreate, session: SessionDep, admin: PlatformAdmin) -> RoleGrant:
    await _subject_exists(session, body.subject, body.role)
    row = await grant_role(
        session, body.subject, domain.grant(body.role, body.scope), admin.subject
    )
    await session.commit()
    return row


@router.get("/grants", response_model=list[GrantPublic], tags=["identity"])
async def list_grants(
    session: SessionDep, _admin: PlatformAdmin, subject: Annotated[str, Query(max_length=100)]
) -> list[RoleGrant]:
    return list((await session.exec(select(RoleGrant).where(RoleGrant.subject == subject))).all())


@router.post("/grants/{grant_id}/revocation", response_model=GrantPublic, tags=["identity"])
async def revoke(grant_id: uuid.UUID, session: SessionDep, admin: PlatformAdmin) -> RoleGrant:
    row = await revoke_grant(session, grant_id, admin.subject)
    await session.commit()
    return row


@router.post("/clients", status_code=201, response_model=ClientCreated, tags=["identity"])
async def create_client(
    body: ClientCreate, session: SessionDep, admin: PlatformAdmin
) -> ClientCreated:
    """A donor system's credentials. The secret is shown once and stored only as a hash."""
    secret, _ = new_opaque_token()
    client = ApiClient(
        name=body.name, secret_hash=await hash_secret(secret), created_by=admin.subject
    )
    session.add(client)
    audit(session, admin.subject, "client.created", str(client.id), name=body.name)
    donor = Grant(Role.DONOR, str(body.donor_id or uuid.uuid4()))
    await grant_role(session, str(client.id), donor, admin.subject)
    await session.commit()
    return ClientCreated(
        client_id=client.id, client_secret=secret, name=client.name, grants=[str(donor)]
    )


@router.post("/clients/{client_id}/revocation", tags=["identity"], status_code=204)
async def revoke_client(
    client_id: uuid.UUID, body: Revocation, session: SessionDep, admin: PlatformAdmin
) -> None:
    """The client can no longer get tokens, and every service refuses the tokens it holds."""
    client = await session.get(ApiClient, client_id, with_for_update=True)
    if client is None:
        raise NotFound(f"no client with id {client_id}")
    if client.revoked_at is not None:
        return
    client.revoked_at = utcnow()
    session.add(client)
    audit(session, admin.subject, "client.revoked", str(client_id), reason=body.reason)
    await _revoke_credentials(
        session, str(client_id), "client", body.reason, admin.subject, client.revoked_at
    )
    await session.commit()


@router.post("/accounts/{account_id}/deactivation", status_code=204, tags=["identity"])
async def deactivate_account(
    account_id: uuid.UUID, body: Revocation, session: SessionDep, admin: PlatformAdmin
) -> None:
    """Locks a person out at once (a compromised account, an official who left): no new tokens,
    no refresh, and every service refuses the tokens already issued."""
    account = await session.get(Account, account_id, with_for_update=True)
    if account is None:
        raise NotFound(f"no account with id {account_id}")
    if not account.active:
        return
    if str(account_id) == admin.subject:
        raise Conflict("you cannot deactivate your own account; ask another platform administrator")
    account.active = False
    session.add(account)
    revoked_at = utcnow()
    await session.exec(
        update(RefreshToken)
        .where(col(RefreshToken.account_id) == account_id)
        .values(revoked_at=revoked_at)
    )
    await _revoke_credentials(
        session, str(account_id), "user", body.reason, admin.subject, revoked_at
    )
    audit(session, admin.subject, "account.deactivated", str(account_id), reason=body.reason)
    await session.commit()


async def _revoke_credentials(
    session: SessionDep, subject: str, kind: str, reason: str, revoked_by: str, revoked_at: datetime
) -> None:
    await record_revocation(session, subject, revoked_at, reason)
    await record_event(
        session,
        CREDENTIALS_REVOKED,
        subject,
        CredentialsRevoked(
            subject=subject,
            subject_kind=kind,
            reason=reason,
            revoked_by=revoked_by,
            revoked_at=revoked_at,
        ),
    )


@router.get("/audit", response_model=list[AuditEntryPublic], tags=["identity"])
async def audit_log(
    session: SessionDep,
    _admin: PlatformAdmin,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    before: Annotated[int | None, Query(ge=1)] = None,
) -> list[AuditEntry]:
    query = select(AuditEntry)
    if before is not None:
        query = query.where(col(AuditEntry.seq) < before)
    return list((await session.exec(query.order_by(col(AuditEntry.seq).desc()).limit(limit))).all())
