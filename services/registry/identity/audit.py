"""The audit log: written in the transaction of the decision it records."""

from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.identity.models import AuditEntry


def audit(session: AsyncSession, actor: str, action: str, target: str, **detail: Any) -> None:
    session.add(AuditEntry(actor=actor, action=action, target=target, detail=detail))
