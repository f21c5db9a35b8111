"""Tranche operations that touch the database: releases and their ledger movements, holds, and
the tranches an approval creates. The rules they apply are in `domain`; the routes and the event
handlers call these, always inside one transaction with the events they record.

Every operation locks the fund first (`lock_fund`: a row lock on PostgreSQL, SQLite runs one
writer at a time) and only then reads the tranche and the balances, so that two releases, or a
release and a hold, cannot interleave: what was checked is still true when the movement is
written, and the fund is never overdrawn."""

import uuid
from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding.grants import domain
from services.funding.grants.domain import OPEN_TRANCHES, PartyState, ReleaseFacts, TrancheStatus
from services.funding.grants.models import (
    Application,
    ApplicationVersion,
    KnownAgreement,
    KnownCity,
    Tranche,
)
from services.funding.ledger import accounts
from services.funding.ledger import store as ledger
from services.funding.ledger.accounts import MovementKind
from services.funding.public_log import record_fund_event
from services.funding.transparency.allocation import allocate
from shared import money
from shared.contracts import EventSpec
from shared.contracts.funding import (
    TRANCHE_DISBURSED,
    TRANCHE_HELD,
    TRANCHE_HOLD_LIFTED,
    TRANCHE_RELEASE_CANCELLED,
    TRANCHE_RELEASE_REQUESTED,
)
from shared.db import utcnow
from shared.errors import NotFound


async def locked_tranche(session: AsyncSession, tranche_id: uuid.UUID) -> Tranche:
    """The tranche, read again once its fund is locked (a value read before the lock may be
    stale by the time the lock is granted)."""
    tranche = await session.get(Tranche, tranche_id)
    if tranche is None:
        raise NotFound(f"no tranche with id {tranche_id}")
    await ledger.lock_fund(session, tranche.fund_id)
    await session.refresh(tranche)
    return tranche


async def _party_cities(session: AsyncSession, party_ids: Sequence[str]) -> dict[str, KnownCity]:
    """What funding knows of the parties (by their id as the application lists it)."""
    found = await session.exec(
        select(KnownCity).where(col(KnownCity.id).in_([uuid.UUID(p) for p in party_ids]))
    )
    return {str(city.id): city for city in found.all()}


def _states(party_ids: Sequence[str], cities: dict[str, KnownCity]) -> list[PartyState]:
    return [
        PartyState(
            city_id=party,
            name=cities[party].name if party in cities else None,
            zone=cities[party].conflict_zone if party in cities else None,
            phase=cities[party].conflict_phase if party in cities else None,
        )
        for party in party_ids
    ]


async def party_states(session: AsyncSession, party_ids: Sequence[str]) -> list[PartyState]:
    return _states(party_ids, await _party_cities(session, party_ids))


async def _release_facts(
    session: AsyncSession,
    tranche: Tranche,
    application: Application,
    cities: dict[str, KnownCity],
) -> ReleaseFacts:
    agreement = await session.get(KnownAgreement, tranche.agreement_id, populate_existing=True)
    return ReleaseFacts(
        application_status=application.status,
        status=tranche.status,
        milestone_title=tranche.title,
        reported=tranche.reported_at is not None,
        holds=tranche.holds,
        agreement_id=tranche.agreement_id,
        agreement_status=agreement.status if agreement else None,
        parties=_states(application.party_city_ids, cities),
    )


async def record_tranche_event(
    session: AsyncSession,
    spec: EventSpec,
    tranche: Tranche,
    by_subject: str | None,
    **extra: object,
) -> None:
    application = await session.get(Application, tranche.application_id)
    assert application is not None, "a tranche belongs to an application"
    await record_fund_event(
        session,
        spec,
        tranche.fund_id,
        spec.payload(
            tranche_id=tranche.id,
            application_id=tranche.application_id,
            fund_id=tranche.fund_id,
            agreement_id=tranche.agreement_id,
            party_city_ids=application.party_city_ids,
            position=tranche.position,
            milestone_title=tranche.title,
            amount=money.from_minor_units(tranche.amount_minor, tranche.currency),
            currency=tranche.currency,
            status=tranche.status,
            holds=tranche.holds,
            by_subject=by_subject,
            **extra,
        ),
    )


def _movement(tranche: Tranche, kind: MovementKind, by: str, memo: str) -> ledger.LedgerMovement:
    return ledger.LedgerMovement(
        fund_id=tranche.fund_id,
        kind=kind,
        recorded_by=by,
        application_id=tranche.application_id,
        tranche_id=tranche.id,
        agreement_id=tranche.agreement_id,
        memo=memo,
    )


async def _disburse(
    session: AsyncSession, tranche: Tranche, parties: Collection[KnownCity], by: str, note: str
) -> None:
    """Pay out the tranche's commitment and record which receipts paid for it (`parties`: its
    application's cities, as the release checked them)."""
    await ledger.post(
        session,
        _movement(tranche, MovementKind.DISBURSEMENT, by, note),
        accounts.disbursement(tranche.amount_minor, tranche.currency),
    )
    agreement = await session.get(KnownAgreement, tranche.agreement_id)
    assert agreement is not None, "checked before the release"
    await allocate(
        session,
        fund_id=tranche.fund_id,
        tranche_id=tranche.id,
        agreement_id=tranche.agreement_id,
        amount_minor=tranche.amount_minor,
        currency=tranche.currency,
        domains=agreement.domains,
        regions=[city.region for city in parties if city.region],
        countries=[city.country_code for city in parties if city.country_code],
    )
    tranche.status = TrancheStatus.DISBURSED
    tranche.disbursed_by, tranche.disbursed_at = by, utcnow()


async def release(
    session: AsyncSession,
    tranche: Tranche,
    application: Application,
    by: str,
    threshold_minor: int | None,
    note: str,
) -> None:
    """A fund administrator releases a reported tranche: paid at once up to the threshold;
    above it committed, and paid when a second administrator approves. `tranche` is locked."""
    cities = await _party_cities(session, application.party_city_ids)
    domain.check_release(await _release_facts(session, tranche, application, cities))
    await ledger.require_available(session, tranche.fund_id, tranche.currency, tranche.amount_minor)
    await ledger.post(
        session,
        _movement(tranche, MovementKind.COMMITMENT, by, note),
        accounts.commitment(tranche.amount_minor, tranche.currency),
    )
    tranche.requested_by, tranche.requested_at = by, utcnow()
    if domain.needs_second_approval(tranche.amount_minor, threshold_minor):
        tranche.status = TrancheStatus.RELEASE_REQUESTED
        session.add(tranche)
        await record_tranche_event(session, TRANCHE_RELEASE_REQUESTED, tranche, by, note=note)
        return
    await _disburse(session, tranche, cities.values(), by, note)
    session.add(tranche)
    # Paid by one administrator: there was no separate request.
    await record_tranche_event(session, TRANCHE_DISBURSED, tranche, by, note=note)


async def approve_release(
    session: AsyncSession, tranche: Tranche, application: Application, by: str, note: str
) -> None:
    cities = await _party_cities(session, application.party_city_ids)
    facts = await _release_facts(session, tranche, application, cities)
    domain.check_release_approval(facts, tranche.requested_by, by)
    await _disburse(session, tranche, cities.values(), by, note)
    session.add(tranche)
    await record_tranche_event(
        session, TRANCHE_DISBURSED, tranche, by, note=note, requested_by=tranche.requested_by
    )


async def cancel_release(session: AsyncSession, tranche: Tranche, by: str, note: str) -> None:
    """The requester withdraws, or another administrator refuses, a release waiting for its
    second approval: the commitment goes back to `available`, the tranche to pending."""
    domain.check_release_cancellation(tranche.status)
    await ledger.post(
        session,
        _movement(tranche, MovementKind.COMMITMENT_RELEASE, by, note),
        accounts.commitment_release(tranche.amount_minor, tranche.currency),
    )
    tranche.status = TrancheStatus.PENDING
    tranche.requested_by = tranche.requested_at = None
    session.add(tranche)
    await record_tranche_event(session, TRANCHE_RELEASE_CANCELLED, tranche, by, note=note)


async def reconcile_holds(session: AsyncSession, which: ColumnElement[bool]) -> None:
    """Bring the automatic holds of the open tranches `which` selects in line with what funding
    knows of their agreements and parties, telling of each hold placed or lifted. Idempotent:
    run again, it finds nothing to change."""
    open_ones = (which, col(Tranche.status).in_(OPEN_TRANCHES))
    fund_ids = (await session.exec(select(Tranche.fund_id).where(*open_ones).distinct())).all()
    # Every fund first, always in the same order: two runs cannot wait for each other.
    for fund_id in sorted(fund_ids):
        await ledger.lock_fund(session, fund_id)
    tranches = (
        await session.exec(
            select(Tranche)
            .where(*open_ones)
            .order_by(col(Tranche.application_id), col(Tranche.position))
            .execution_options(populate_existing=True)
        )
    ).all()
    parties_of: dict[uuid.UUID, list[PartyState]] = {}
    for tranche in tranches:
        if tranche.application_id not in parties_of:
            application = await session.get(Application, tranche.application_id)
            assert application is not None
            parties_of[tranche.application_id] = await party_states(
                session, application.party_city_ids
            )
        agreement = await session.get(KnownAgreement, tranche.agreement_id)
        before = tranche.holds
        after = domain.automatic_holds(
            before,
            tranche.agreement_id,
            agreement.status if agreement else None,
            parties_of[tranche.application_id],
        )
        if after == before:
            continue
        tranche.holds = after
        session.add(tranche)
        for cause in after.keys() - before.keys():
            await record_tranche_event(
                session, TRANCHE_HELD, tranche, None, cause=cause, reason=after[cause]
            )
        for cause in before.keys() - after.keys():
            await record_tranche_event(
                session, TRANCHE_HOLD_LIFTED, tranche, None, cause=cause, reason=before[cause]
            )


async def agreements_with_open_tranches(
    session: AsyncSession, city_id: uuid.UUID
) -> list[uuid.UUID]:
    """The agreements the city is a party to that have tranches still to be paid."""
    applications = (
        await session.exec(
            select(Application).where(
                col(Application.id).in_(
                    select(Tranche.application_id).where(col(Tranche.status).in_(OPEN_TRANCHES))
                )
            )
        )
    ).all()
    return sorted(
        {a.agreement_id for a in applications if str(city_id) in a.party_city_ids}, key=str
    )


async def sync_tranches(
    session: AsyncSession, application: Application, version: ApplicationVersion
) -> None:
    """On approval, one tranche per milestone of the approved version. After an amendment the
    tranches paid or being released stay as they were (the amendment had to keep them); the
    others take the new milestones (a changed milestone must be reported again); a tranche whose
    milestone the amendment dropped is cancelled."""
    existing = {
        t.position: t
        for t in (
            await session.exec(select(Tranche).where(Tranche.application_id == application.id))
        ).all()
    }
    milestones = version.milestone_specs()
    for position, milestone in enumerate(milestones, start=1):
        tranche = existing.get(position)
        if tranche is None:
            tranche = Tranche(
                fund_id=application.fund_id,
                application_id=application.id,
                agreement_id=application.agreement_id,
                position=position,
                title=milestone.title,
                due_date=milestone.due_date,
                amount_minor=milestone.amount_minor,
                currency=application.currency,
                status=TrancheStatus.PENDING,
            )
        elif tranche.status in (TrancheStatus.PENDING, TrancheStatus.CANCELLED):
            if tranche.milestone() != milestone:
                tranche.report = tranche.reported_by = tranche.reported_at = None
            tranche.title, tranche.due_date = milestone.title, milestone.due_date
            tranche.amount_minor = milestone.amount_minor
            tranche.status = TrancheStatus.PENDING
        session.add(tranche)
    for position, tranche in existing.items():
        if position > len(milestones) and tranche.status is TrancheStatus.PENDING:
            tranche.status = TrancheStatus.CANCELLED
            session.add(tranche)
    await session.flush()
    # Only this application's tranches: its fund is the one locked already.
    await reconcile_holds(session, col(Tranche.application_id) == application.id)
