"""How agreements and expressions of interest react when registry events change a city, run by
the read-model handlers inside the consumer's transaction (so a reaction and the change that
caused it commit together, or neither does).

- **A need or an offer withdrawn.** Suggestions need nothing: they are computed from the read
  model's open needs and offers only. A *proposed* agreement linking it is blocked (it can no
  longer be accepted; its parties can still reject or withdraw it, or let it expire, and propose
  anew) and `AgreementBlocked` tells them. An accepted or active agreement is left alone: the
  work was agreed with what the need was then. Expressions of
  interest on it that are still open (or accepted, not yet an agreement) are closed.
- **A conflict phase escalated to active conflict** (a city in a `conflict_zone` whose latest
  assessment says `active`; a zone of peace is not: it is where the report says city diplomacy
  can go on). Following the report (city diplomacy acts with low violence, before or after the
  conflict, not amid high and fluctuating violence), the city's *active* agreements are
  suspended by the platform, the reason recorded; its *proposed* and *accepted* ones are
  blocked from being accepted or activated. When a later assessment leaves the active phase,
  those blocks are lifted (`AgreementUnblocked`); suspended agreements stay suspended until a
  party resumes them, deliberately. A conflict that does not de-escalate leaves the parties a
  way out: they withdraw a blocked agreement (or terminate a suspended one).

Idempotent and order-tolerant: a reaction runs only when the read model applied a change (an
older event changes nothing), a block is keyed by its cause and added once, an escalation is a
change of the city's state (an assessment replayed when the city is already in active conflict
changes nothing), each assessment is reacted to once (`ConflictReaction`, which survives a
rebuild of the read model: replaying the topic from scratch suspends nothing a second time), and
suspending a suspended agreement is no step at all."""

import logging
from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import agreements, domain
from services.matching.domain import AgreementStatus
from services.matching.interest_events import end_by_platform
from services.matching.interests import STILL_OPEN, InterestState, InterestStatus, closable
from services.matching.models import (
    Agreement,
    AgreementParty,
    ConflictReaction,
    KnownCity,
    KnownNeedOffer,
    PartnershipInterest,
)
from shared.contracts.matching import (
    AGREEMENT_BLOCKED,
    AGREEMENT_UNBLOCKED,
    PARTNERSHIP_INTEREST_CLOSED,
    AgreementBlocked,
    AgreementUnblocked,
)
from shared.db import utcnow
from shared.outbox import record_event

log = logging.getLogger(__name__)

# The phase of high, fluctuating violence (shared.contracts.registry.conflict.Phase).
ACTIVE_PHASE = "active"
NOT_YET_ACTIVE = (AgreementStatus.PROPOSED, AgreementStatus.ACCEPTED)


def in_active_conflict(zone: str | None, phase: str | None) -> bool:
    return zone == "conflict_zone" and phase == ACTIVE_PHASE


def _conflict_cause(city: KnownCity) -> str:
    """The key of the block a city's active conflict puts, which its de-escalation lifts."""
    return f"conflict:{city.id}"


def conflict_block(city: KnownCity) -> tuple[str, str] | None:
    """The block a party in active conflict puts on an agreement not yet active: (cause, why)."""
    if not in_active_conflict(city.conflict_zone, city.conflict_phase):
        return None
    assessed = (
        f" (assessed {city.conflict_assessed_at:%Y-%m-%d})" if city.conflict_assessed_at else ""
    )
    return (
        _conflict_cause(city),
        f"{city.name} is in the active phase of a conflict{assessed}; city diplomacy waits until "
        "the phase de-escalates",
    )


async def _agreements_of(
    session: AsyncSession, city_id: object, statuses: Sequence[AgreementStatus]
) -> Sequence[Agreement]:
    """The city's agreements in `statuses`, locked: a party acting at the same time waits."""
    return (
        await session.exec(
            select(Agreement)
            .join(AgreementParty, col(AgreementParty.agreement_id) == col(Agreement.id))
            .where(AgreementParty.city_id == city_id, col(Agreement.status).in_(statuses))
            .order_by(col(Agreement.proposed_at))
            .with_for_update()
        )
    ).all()


async def _change_blocks(
    session: AsyncSession,
    rows: Sequence[Agreement],
    cause: str,
    reason: str,
    *,
    blocked: bool,
) -> None:
    """Add (or lift) one block on each agreement, with its event; nothing when it is already
    so. Their parties, named in the events, are read in one query."""
    parties = await agreements.parties_of(session, [agreement.id for agreement in rows])
    for agreement in rows:
        await _change_block(
            session, agreement, parties[agreement.id], cause, reason, blocked=blocked
        )


async def _change_block(
    session: AsyncSession,
    agreement: Agreement,
    parties: list[AgreementParty],
    cause: str,
    reason: str,
    *,
    blocked: bool,
) -> None:
    """Add (or lift) one block, with its event; nothing when it is already so."""
    if (cause in agreement.blocks) == blocked:
        return
    blocks = dict(agreement.blocks)  # a new dict, so that the JSON column is seen as changed
    if blocked:
        blocks[cause] = reason
    else:
        del blocks[cause]
    agreement.blocks = blocks
    session.add(agreement)
    spec, payload_type = (
        (AGREEMENT_BLOCKED, AgreementBlocked)
        if blocked
        else (AGREEMENT_UNBLOCKED, AgreementUnblocked)
    )
    await record_event(
        session,
        spec,
        agreement.id,
        payload_type(
            agreement_id=agreement.id,
            title=agreement.title,
            party_city_ids=[p.city_id for p in parties],
            status=agreement.status,
            cause=cause,
            reason=reason,
            blocks=list(blocks.values()),
        ),
    )
    log.info("agreement block changed", extra={"agreement_id": str(agreement.id), "cause": cause})


async def on_item_withdrawn(session: AsyncSession, item: KnownNeedOffer) -> None:
    cause = f"{item.kind.value}:{item.id}"
    reason = f"linked {item.kind.value} {item.title!r} was withdrawn by its city"
    linking = [
        agreement
        for agreement in await _agreements_of(session, item.city_id, [AgreementStatus.PROPOSED])
        if str(item.id) in (*agreement.need_ids, *agreement.offer_ids)
    ]
    await _change_blocks(session, linking, cause, reason, blocked=True)
    about_it = (
        col(PartnershipInterest.need_id) == item.id
        if item.kind.value == "need"
        else col(PartnershipInterest.offer_id) == item.id
    )
    open_interests = (
        await session.exec(
            select(PartnershipInterest)
            .where(about_it, col(PartnershipInterest.status).in_(STILL_OPEN))
            .with_for_update()
        )
    ).all()
    now = utcnow()
    for interest in open_interests:
        if not closable(InterestState(interest.status, interest.agreement_id)):
            continue
        await end_by_platform(
            session, interest, InterestStatus.CLOSED, PARTNERSHIP_INTEREST_CLOSED, reason, now=now
        )


async def on_conflict_assessed(
    session: AsyncSession, city: KnownCity, *, was_in_active_conflict: bool
) -> None:
    """After the read model applied a conflict assessment of `city`."""
    now_in_active_conflict = in_active_conflict(city.conflict_zone, city.conflict_phase)
    if now_in_active_conflict == was_in_active_conflict or city.conflict_assessment_id is None:
        return
    if await session.get(ConflictReaction, city.conflict_assessment_id) is not None:
        return  # reacted to already, before the read model was rebuilt
    session.add(
        ConflictReaction(
            assessment_id=city.conflict_assessment_id,
            city_id=city.id,
            escalated=now_in_active_conflict,
        )
    )
    block = conflict_block(city)
    if block is not None:
        cause, reason = block
        now = utcnow()
        active = await _agreements_of(session, city.id, [AgreementStatus.ACTIVE])
        parties = await agreements.parties_of(session, [agreement.id for agreement in active])
        for agreement in active:
            await agreements.take_as_platform(
                session,
                agreement,
                parties[agreement.id],
                domain.Action.SUSPEND,
                reason=f"suspended by the platform: {reason}",
                now=now,
            )
        not_yet_active = await _agreements_of(session, city.id, NOT_YET_ACTIVE)
        await _change_blocks(session, not_yet_active, cause, reason, blocked=True)
    else:
        cause = _conflict_cause(city)
        reason = f"{city.name}'s conflict phase is {city.conflict_phase or 'over'} now"
        not_yet_active = await _agreements_of(session, city.id, NOT_YET_ACTIVE)
        await _change_blocks(session, not_yet_active, cause, reason, blocked=False)
