"""Granting and revoking roles: the row, the audit entry and the event, in the caller's
transaction."""

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.identity.audit import audit
from services.registry.identity.models import RoleGrant
from shared.auth import Grant, record_revocation
from shared.contracts.registry import ROLE_GRANTED, ROLE_REVOKED, RoleGranted, RoleRevoked
from shared.db import utcnow
from shared.errors import Conflict, NotFound
from shared.outbox import record_event


async def active_grants(session: AsyncSession, subject: str) -> list[Grant]:
    rows = (
        await session.exec(
            select(RoleGrant).where(
                RoleGrant.subject == subject, col(RoleGrant.revoked_at).is_(None)
            )
        )
    ).all()
    return sorted(Grant(row.role, row.scope) for row in rows)


async def grant_role(
    session: AsyncSession, subject: str, grant: Grant, granted_by: str
) -> RoleGrant:
    if grant in await active_grants(session, subject):
        raise Conflict(f"{subject} already holds {grant}")
    row = RoleGrant(subject=subject, role=grant.role, scope=grant.scope, granted_by=granted_by)
    session.add(row)
    audit(session, granted_by, "role.granted", subject, grant=str(grant), grant_id=str(row.id))
    await record_event(
        session,
        ROLE_GRANTED,
        subject,
        RoleGranted(
            grant_id=row.id,
            subject=subject,
            role=grant.role,
            scope=grant.scope,
            granted_by=granted_by,
        ),
    )
    return row


async def revoke_grant(session: AsyncSession, grant_id: uuid.UUID, revoked_by: str) -> RoleGrant:
    row = await session.get(RoleGrant, grant_id, with_for_update=True)
    if row is None:
        raise NotFound(f"no role grant with id {grant_id}")
    if row.revoked_at is not None:
        return row  # already revoked: nothing more to say or to publish
    row.revoked_at, row.revoked_by = utcnow(), revoked_by
    session.add(row)
    grant = Grant(row.role, row.scope)
    audit(session, revoked_by, "role.revoked", row.subject, grant=str(grant), grant_id=str(row.id))
    # Tokens issued before now still carry the role: they are refused from now on.
    await record_revocation(session, row.subject, row.revoked_at, f"role {grant} revoked")
    await record_event(
        session,
        ROLE_REVOKED,
        row.subject,
        RoleRevoked(
            grant_id=row.id,
            subject=row.subject,
            role=row.role,
            scope=row.scope,
            revoked_by=revoked_by,
            revoked_at=row.revoked_at,
        ),
    )
    return row
