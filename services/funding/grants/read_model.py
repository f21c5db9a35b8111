"""Funding's read model of agreements (from `matching.events`) and of cities (from
`registry.events`), and the holds it places on tranches when they change.

- **Idempotent and order-tolerant.** The inbox skips a redelivered event. Each row keeps the
  envelope `time` of the last event applied to each part it holds (an agreement's status, its
  proposal; a city's region, its conflict assessment; a city's name and country never change):
  an older event changes nothing, one as new or newer is applied (one aggregate's events arrive
  in the order they were published).
- **Never dropped.** An event about an agreement or a city funding has not heard of creates its
  row with what the event carries: every agreement event carries the title and the parties,
  the proposal adds the domains later; a city's update or assessment heard before its
  registration waits there for the name and country.
- **Holds.** After each change, the agreement's tranches still to be paid are held or released
  from hold (`tranches.reconcile_holds`), in the same transaction: suspended or terminated holds
  them, active again lifts that hold; a party escalating to active conflict holds them until an
  administrator lifts it."""

from datetime import datetime

from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding.grants import tranches
from services.funding.grants.models import KnownAgreement, KnownCity, Tranche
from shared.contracts.matching import AgreementAccepted, AgreementProposed, AgreementTransition
from shared.contracts.registry.cities import CityRegistered, CityUpdated
from shared.contracts.registry.conflict import ConflictProfileAssessed
from shared.events import Event


def is_current(version: datetime | None, time: datetime) -> bool:
    """Whether an event of `time` may be applied over a state of `version` (None: no state)."""
    return version is None or time >= version


async def _apply(
    session: AsyncSession,
    event: Event,
    p: AgreementProposed | AgreementAccepted | AgreementTransition,
    proposal: AgreementProposed | None = None,
) -> None:
    agreement = await session.get(KnownAgreement, p.agreement_id)
    if agreement is None:
        agreement = KnownAgreement(
            id=p.agreement_id,
            title=p.title,
            party_city_ids=[str(city) for city in p.party_city_ids],
            status=p.status,
            status_version=event.time,
        )
    elif is_current(agreement.status_version, event.time):
        agreement.status, agreement.status_version = p.status, event.time
    if proposal is not None and is_current(agreement.proposal_version, event.time):
        agreement.title, agreement.domains = proposal.title, list(proposal.domains)
        agreement.proposal_version = event.time
    session.add(agreement)
    await session.flush()
    # Idempotent: on an older event the holds already match the state, and nothing changes.
    await tranches.reconcile_holds(session, col(Tranche.agreement_id) == agreement.id)


async def on_agreement_proposed(session: AsyncSession, event: Event, p: AgreementProposed) -> None:
    await _apply(session, event, p, proposal=p)


async def on_agreement_accepted(session: AsyncSession, event: Event, p: AgreementAccepted) -> None:
    await _apply(session, event, p)


async def on_agreement_transition(
    session: AsyncSession, event: Event, p: AgreementTransition
) -> None:
    """Activated, suspended, resumed, concluded, terminated, rejected, expired: the payload
    says the new status."""
    await _apply(session, event, p)


async def on_city_registered(session: AsyncSession, event: Event, p: CityRegistered) -> None:
    city = await session.get(KnownCity, p.city_id) or KnownCity(id=p.city_id)
    city.name, city.country_code = p.name, p.country_code
    if is_current(city.region_version, event.time):
        city.region, city.region_version = p.region, event.time
    session.add(city)


async def on_city_updated(session: AsyncSession, event: Event, p: CityUpdated) -> None:
    """Only the region matters here (a country or region earmark is matched against it)."""
    if "region" not in p.changed:
        return
    city = await session.get(KnownCity, p.city_id) or KnownCity(id=p.city_id)
    if is_current(city.region_version, event.time):
        city.region, city.region_version = p.region, event.time
    session.add(city)


async def on_conflict_profile_assessed(
    session: AsyncSession, event: Event, p: ConflictProfileAssessed
) -> None:
    city = await session.get(KnownCity, p.city_id) or KnownCity(id=p.city_id)
    if not is_current(city.conflict_version, event.time):
        return
    city.assess(p.zone, p.phase, p.assessed_at)
    city.conflict_version = event.time
    session.add(city)
    await session.flush()
    agreements = await tranches.agreements_with_open_tranches(session, p.city_id)
    if agreements:
        await tranches.reconcile_holds(session, col(Tranche.agreement_id).in_(agreements))
