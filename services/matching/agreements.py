"""Writing an agreement's life to the database: its parties, the rules' view of it, and each
step applied with its history row and event in the caller's transaction. Shared by the HTTP
routes (a party's officer), the expiry run and the reactions to registry events (the platform)."""

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import domain
from services.matching.models import (
    Agreement,
    AgreementHistoryEntry,
    AgreementParty,
    KnownNeedOffer,
)
from shared.contracts import EventSpec
from shared.contracts.matching import (
    AGREEMENT_ACTIVATED,
    AGREEMENT_CONCLUDED,
    AGREEMENT_EXPIRED,
    AGREEMENT_REJECTED,
    AGREEMENT_RESUMED,
    AGREEMENT_SUSPENDED,
    AGREEMENT_TERMINATED,
    AGREEMENT_WITHDRAWN,
)
from shared.outbox import record_event


async def parties_of(
    session: AsyncSession, agreement_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[AgreementParty]]:
    """Each agreement's parties, ordered by city, in one query whatever their number."""
    found: dict[uuid.UUID, list[AgreementParty]] = {i: [] for i in agreement_ids}
    if found:
        for party in (
            await session.exec(
                select(AgreementParty)
                .where(col(AgreementParty.agreement_id).in_(list(found)))
                .order_by(col(AgreementParty.city_id))
            )
        ).all():
            found[party.agreement_id].append(party)
    return found


async def parties(session: AsyncSession, agreement_id: uuid.UUID) -> list[AgreementParty]:
    return (await parties_of(session, [agreement_id]))[agreement_id]


async def linked_items(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, domain.LinkedItem]:
    """Needs and offers as matching's read model knows them (those it does not are left out),
    for a write that links them. Share-locked (PostgreSQL): a withdrawal being applied meanwhile
    waits for this write and then sees what it linked (and blocks or closes it), or this write
    waits for the withdrawal and sees the need withdrawn; it cannot slip in between."""
    if not ids:
        return {}
    rows = (
        await session.exec(
            select(KnownNeedOffer).where(col(KnownNeedOffer.id).in_(ids)).with_for_update(read=True)
        )
    ).all()
    return {
        row.id: domain.LinkedItem(
            id=row.id, kind=row.kind.value, city_id=row.city_id, title=row.title, status=row.status
        )
        for row in rows
    }


async def matters(
    session: AsyncSession, rows: Sequence[Agreement]
) -> dict[uuid.UUID, frozenset[str]]:
    """The domains each agreement is about: those it names and those of its linked needs and
    offers (in one query whatever their number); what a mandated network's officer must speak
    for a city on, to act on it."""
    ids = {uuid.UUID(i) for a in rows for i in (*a.need_ids, *a.offer_ids)}
    linked = dict(
        (
            await session.exec(
                select(KnownNeedOffer.id, KnownNeedOffer.domain).where(
                    col(KnownNeedOffer.id).in_(ids)
                )
            )
        ).all()
        if ids
        else []
    )
    return {
        a.id: frozenset(a.domains)
        | frozenset(linked[i] for i in map(uuid.UUID, (*a.need_ids, *a.offer_ids)) if i in linked)
        for a in rows
    }


async def matter_of(session: AsyncSession, agreement: Agreement) -> frozenset[str]:
    return (await matters(session, [agreement]))[agreement.id]


def state(agreement: Agreement, parties: Iterable[AgreementParty]) -> domain.AgreementState:
    return domain.AgreementState(
        status=agreement.status,
        accepted={party.city_id: party.accepted_at is not None for party in parties},
        accept_by=agreement.accept_by,
        blocks=tuple(agreement.blocks.values()),
    )


def touch(agreement: Agreement, at: datetime) -> None:
    """A sign of life at `at`: the latest one counts, whatever order they are learnt in."""
    agreement.last_activity_at = max(agreement.last_activity_at, at)


# The event of each step after the acceptances (they share one payload shape).
_TRANSITION_EVENTS: dict[domain.Action, EventSpec] = {
    domain.Action.ACTIVATE: AGREEMENT_ACTIVATED,
    domain.Action.SUSPEND: AGREEMENT_SUSPENDED,
    domain.Action.RESUME: AGREEMENT_RESUMED,
    domain.Action.CONCLUDE: AGREEMENT_CONCLUDED,
    domain.Action.TERMINATE: AGREEMENT_TERMINATED,
    domain.Action.REJECT: AGREEMENT_REJECTED,
    domain.Action.WITHDRAW: AGREEMENT_WITHDRAWN,
    domain.Action.EXPIRE: AGREEMENT_EXPIRED,
}


def record_history(
    session: AsyncSession,
    agreement: Agreement,
    step: domain.Step,
    *,
    by_city_id: uuid.UUID | None,
    by_subject: str | None,
    reason: str | None,
    now: datetime,
) -> None:
    """A step that changed something (a transition, or one party's acceptance): its new status
    when it moved, a sign of life, and its dated history row, in the caller's transaction."""
    if step.to_status is not step.from_status:
        agreement.status = step.to_status
        agreement.status_changed_at = now
    touch(agreement, now)
    session.add(agreement)
    session.add(
        AgreementHistoryEntry(
            agreement_id=agreement.id,
            action=step.action,
            from_status=step.from_status,
            to_status=step.to_status,
            by_city_id=by_city_id,
            by_subject=by_subject,
            reason=reason,
            at=now,
        )
    )


async def record_step(
    session: AsyncSession,
    agreement: Agreement,
    parties: list[AgreementParty],
    step: domain.Step,
    *,
    by_city_id: uuid.UUID | None,
    by_subject: str | None,
    reason: str | None,
    now: datetime,
    by_network_id: uuid.UUID | None = None,
) -> None:
    """Apply a transition that changed something: the new status, its dated history row and its
    event, in the caller's transaction."""
    record_history(
        session,
        agreement,
        step,
        by_city_id=by_city_id,
        by_subject=by_subject,
        reason=reason,
        now=now,
    )
    spec = _TRANSITION_EVENTS[step.action]
    extra: dict[str, object] = {}
    if step.action is domain.Action.ACTIVATE:
        extra = {
            "start_date": agreement.start_date,
            "end_date": agreement.end_date,
            "budget_amount": agreement.budget_amount,
            "budget_currency": agreement.budget_currency,
        }
    elif step.action is domain.Action.EXPIRE:
        extra = {
            "not_accepted_city_ids": [p.city_id for p in parties if p.accepted_at is None],
            "accept_by": agreement.accept_by,
        }
    await record_event(
        session,
        spec,
        agreement.id,
        spec.payload(
            agreement_id=agreement.id,
            title=agreement.title,
            party_city_ids=sorted(p.city_id for p in parties),
            status=step.to_status,
            previous_status=step.from_status,
            by_city_id=by_city_id,
            by_subject=by_subject,
            by_network_id=by_network_id,
            reason=reason,
            **extra,
        ),
    )


async def take(
    session: AsyncSession,
    agreement: Agreement,
    parties: list[AgreementParty],
    action: domain.Action,
    actor: domain.Actor,
    *,
    by_city_id: uuid.UUID | None,
    by_subject: str | None,
    reason: str | None,
    now: datetime,
    by_network_id: uuid.UUID | None = None,
) -> domain.Step:
    """`actor` (for a party: acting for `by_city_id`; through the network `by_network_id` when
    its officer acts under the city's mandate) takes `action`, as `domain.decide` allows; a step
    that changes something is recorded in the caller's transaction (the caller commits)."""
    step = domain.decide(
        state(agreement, parties), action, actor, city_id=by_city_id, reason=reason, now=now
    )
    if step.changed:
        await record_step(
            session,
            agreement,
            parties,
            step,
            by_city_id=by_city_id,
            by_subject=by_subject,
            reason=reason,
            now=now,
            by_network_id=by_network_id,
        )
    return step


async def take_as_platform(
    session: AsyncSession,
    agreement: Agreement,
    parties: list[AgreementParty],
    action: domain.Action,
    *,
    reason: str,
    by_subject: str | None = None,
    now: datetime,
) -> domain.Step:
    """The platform takes `action` on its own (an expiry, a suspension on a conflict
    escalation), with the reason the parties will read; `by_subject` when an administrator ran
    it. The caller passes the parties, read for all the agreements of its run at once."""
    return await take(
        session,
        agreement,
        parties,
        action,
        domain.Actor.PLATFORM,
        by_city_id=None,
        by_subject=by_subject,
        reason=reason,
        now=now,
    )
