"""The events of an expression of interest: one payload shape, the expression of interest as it
stands after the change, keyed by its id (so its events stay in order)."""

import uuid

from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching.models import PartnershipInterest
from shared.contracts import EventSpec
from shared.outbox import record_event


async def record_interest_event(
    session: AsyncSession,
    spec: EventSpec,
    interest: PartnershipInterest,
    by_city_id: uuid.UUID | None,
    by_subject: str | None,
    message: str | None,
) -> None:
    """In the caller's transaction. `by_city_id` and `by_subject` are None when the platform
    acted on its own (a closure on a withdrawn need)."""
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
