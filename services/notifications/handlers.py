"""What notifications does with the events it consumes: the one table of event type -> handler."""

from collections.abc import Iterable
from uuid import UUID

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import domain
from services.notifications.models import CityName, FeedItem
from shared.contracts import EventSpec
from shared.contracts.funding import (
    CONTRIBUTION_PLEDGED,
    FUND_CREATED,
    ContributionPledged,
    FundCreated,
)
from shared.contracts.matching import (
    AGREEMENT_ACCEPTED,
    AGREEMENT_PROPOSED,
    AgreementAccepted,
    AgreementProposed,
)
from shared.contracts.registry import CITY_REGISTERED, CityRegistered
from shared.events import Event
from shared.inbox import Handler


def _add_items(session: AsyncSession, event: Event, entries: Iterable[domain.FeedEntry]) -> None:
    for entry in entries:
        session.add(
            FeedItem(
                recipient_kind=entry.recipient_kind,
                recipient_id=entry.recipient_id,
                event_id=event.id,
                event_type=event.type,
                title=entry.title,
                body=entry.body,
                occurred_at=event.time,
            )
        )


async def _city_names(session: AsyncSession, ids: Iterable[UUID]) -> dict[UUID, str]:
    rows = (await session.exec(select(CityName).where(col(CityName.id).in_(list(ids))))).all()
    return {row.id: row.name for row in rows}


async def on_city_registered(session: AsyncSession, event: Event, p: CityRegistered) -> None:
    await session.merge(CityName(id=p.city_id, name=p.name))
    _add_items(session, event, domain.city_registered(p))


async def on_agreement_proposed(session: AsyncSession, event: Event, p: AgreementProposed) -> None:
    names = await _city_names(session, p.party_city_ids)
    _add_items(session, event, domain.agreement_proposed(p, names))


async def on_agreement_accepted(session: AsyncSession, event: Event, p: AgreementAccepted) -> None:
    names = await _city_names(session, [p.city_id])
    _add_items(session, event, domain.agreement_accepted(p, names))


async def on_fund_created(session: AsyncSession, event: Event, p: FundCreated) -> None:
    _add_items(session, event, domain.fund_created(p))


async def on_contribution_pledged(
    session: AsyncSession, event: Event, p: ContributionPledged
) -> None:
    _add_items(session, event, domain.contribution_pledged(p))


HANDLERS: dict[EventSpec, Handler] = {
    CITY_REGISTERED: on_city_registered,
    AGREEMENT_PROPOSED: on_agreement_proposed,
    AGREEMENT_ACCEPTED: on_agreement_accepted,
    FUND_CREATED: on_fund_created,
    CONTRIBUTION_PLEDGED: on_contribution_pledged,
}
