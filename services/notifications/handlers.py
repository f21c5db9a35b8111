"""What notifications does with the events it consumes: the one table of event type -> handler."""

from collections.abc import Iterable
from uuid import UUID

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications import domain
from services.notifications.models import CityName, FeedItem, NetworkName
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
    AGREEMENT_TRANSITIONS,
    AgreementAccepted,
    AgreementProposed,
    AgreementTransition,
)
from shared.contracts.registry import CITY_REGISTERED, CITY_VERIFIED, CityRegistered, CityVerified
from shared.contracts.registry.conflict import CONFLICT_PROFILE_ASSESSED, ConflictProfileAssessed
from shared.contracts.registry.needs_offers import (
    NEED_PUBLISHED,
    NEED_WITHDRAWN,
    OFFER_PUBLISHED,
    OFFER_WITHDRAWN,
    NeedPublished,
    NeedWithdrawn,
    OfferPublished,
    OfferWithdrawn,
)
from shared.contracts.registry.networks import (
    NETWORK_MEMBERSHIP_CHANGED,
    NETWORK_REGISTERED,
    NetworkMembershipChanged,
    NetworkRegistered,
)
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


async def on_city_verified(session: AsyncSession, event: Event, p: CityVerified) -> None:
    _add_items(session, event, domain.city_verified(p))


def _on_published(kind: str) -> Handler:
    async def handle(
        session: AsyncSession, event: Event, p: NeedPublished | OfferPublished
    ) -> None:
        _add_items(session, event, domain.item_published(kind, p))

    return handle


def _on_withdrawn(kind: str) -> Handler:
    async def handle(
        session: AsyncSession, event: Event, p: NeedWithdrawn | OfferWithdrawn
    ) -> None:
        _add_items(session, event, domain.item_withdrawn(kind, p))

    return handle


async def on_network_registered(session: AsyncSession, _event: Event, p: NetworkRegistered) -> None:
    await session.merge(NetworkName(id=p.network_id, name=p.acronym or p.name))


async def on_membership_changed(
    session: AsyncSession, event: Event, p: NetworkMembershipChanged
) -> None:
    known = await session.get(NetworkName, p.network_id)
    _add_items(session, event, domain.membership_changed(p, known.name if known else "a network"))


async def on_conflict_assessed(
    session: AsyncSession, event: Event, p: ConflictProfileAssessed
) -> None:
    _add_items(session, event, domain.conflict_assessed(p))


async def on_agreement_changed(session: AsyncSession, event: Event, p: AgreementTransition) -> None:
    names = await _city_names(session, [p.by_city_id] if p.by_city_id else [])
    _add_items(session, event, domain.agreement_changed(p, names))


HANDLERS: dict[EventSpec, Handler] = {
    **{spec: on_agreement_changed for spec in AGREEMENT_TRANSITIONS},
    CITY_VERIFIED: on_city_verified,
    NEED_PUBLISHED: _on_published("need"),
    NEED_WITHDRAWN: _on_withdrawn("need"),
    OFFER_PUBLISHED: _on_published("offer"),
    OFFER_WITHDRAWN: _on_withdrawn("offer"),
    NETWORK_REGISTERED: on_network_registered,
    NETWORK_MEMBERSHIP_CHANGED: on_membership_changed,
    CONFLICT_PROFILE_ASSESSED: on_conflict_assessed,
    CITY_REGISTERED: on_city_registered,
    AGREEMENT_PROPOSED: on_agreement_proposed,
    AGREEMENT_ACCEPTED: on_agreement_accepted,
    FUND_CREATED: on_fund_created,
    CONTRIBUTION_PLEDGED: on_contribution_pledged,
}
