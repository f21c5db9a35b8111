"""The events of an expression of interest: one payload shape, the expression of interest as it
stands after the change, keyed by its id (so its events stay in order)."""

import uuid
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching.interests import InterestStatus
from services.matching.models import PartnershipInterest
from shared.contracts import EventSpec
from shared.outbox import record_event


async def change_interest(
    session: AsyncSession,
    interest: PartnershipInterest,
    status: InterestStatus,
    spec: EventSpec,
    *,
    by_city_id: uuid.UUID | None,
    by_subject: str | None,
    message: str | None,
    now: datetime,
) -> None:
    """Move it to `status` and record its event, in the caller's transaction. `by_city_id` is
    None when the platform acted (a closure on a withdrawn need, an expiry), and `by_subject`
    too unless an administrator ran it."""
    interest.status = status
    interest.status_changed_at = now
    session.add(interest)
    await record_event(
        session,
        spec,
        interest.id,
        spec.payload(
            interest_id=interest.id,
            kind=interest.kind,
            status=interest.status,
            from_city_id=interest.from_city_id,
            to_city_id=interest.to_city_id,
            need_id=interest.need_id,
            need_title=interest.need_title,
            offer_id=interest.offer_id,
            domain=interest.domain,
            by_city_id=by_city_id,
            by_subject=by_subject,
            message=message,
        ),
    )


async def end_by_platform(
    session: AsyncSession,
    interest: PartnershipInterest,
    status: InterestStatus,
    spec: EventSpec,
    reason: str,
    *,
    by_subject: str | None = None,
    now: datetime,
) -> None:
    """The platform ends it (closed, expired), the reason kept and told to both cities."""
    interest.end_reason = reason
    await change_interest(
        session,
        interest,
        status,
        spec,
        by_city_id=None,
        by_subject=by_subject,
        message=reason,
        now=now,
    )
