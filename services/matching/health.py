"""Partnership health: an active agreement that shows no sign of life for the dormancy period
(`MATCHING_DORMANT_AFTER_DAYS`) is dormant, and its parties are reminded with `AgreementDormant`,
which notifications turns into a message.

Signs of life move the agreement's `last_activity_at`: its own steps (proposal, acceptances,
transitions), a party's activity report (POST /agreements/{id}/activity-reports), and any
funding event about it (any event on `funding.events` whose payload carries an `agreement_id`,
picked up from funding's contract by `funding_activity_specs`, so new funding events count
without a change here). A funding event's time is when funding recorded it, and the latest sign
of life wins whatever order they arrive in.

A reminder is sent once per dormancy period of silence: when the agreement has been silent for a
period since its last sign of life *and* since its last reminder. Silent for 90 days: reminded;
the run an hour later: not again; silent for 180 days: reminded a second time; any sign of life:
the count starts again."""

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import agreements
from services.matching.background import every
from services.matching.domain import AgreementStatus
from services.matching.models import Agreement, AgreementParty
from shared.contracts import EventSpec
from shared.contracts.matching import AGREEMENT_DORMANT, AgreementDormant
from shared.events import Event
from shared.outbox import record_event
from shared.service import Runtime

log = logging.getLogger(__name__)


def silent_since(now: datetime, dormant_after_days: int) -> datetime:
    """An agreement whose latest sign of life is at or before this is dormant."""
    return now - timedelta(days=dormant_after_days)


def days_since(then: datetime, now: datetime) -> int:
    return (now - then).days


def _dormant(now: datetime, dormant_after_days: int) -> Any:
    return (
        Agreement.status == AgreementStatus.ACTIVE,
        col(Agreement.last_activity_at) <= silent_since(now, dormant_after_days),
    )


async def dormant_agreements(
    session: AsyncSession,
    now: datetime,
    dormant_after_days: int,
    city_ids: Iterable[uuid.UUID] | None,
    limit: int,
) -> Sequence[Agreement]:
    """The dormant agreements (of `city_ids`' when given), the longest silent first."""
    query = select(Agreement).where(*_dormant(now, dormant_after_days))
    if city_ids is not None:
        parties_of = select(AgreementParty.agreement_id).where(
            col(AgreementParty.city_id).in_(list(city_ids))
        )
        query = query.where(col(Agreement.id).in_(parties_of))
    query = query.order_by(col(Agreement.last_activity_at), col(Agreement.id)).limit(limit)
    return (await session.exec(query)).all()


async def remind_dormant(
    session: AsyncSession, now: datetime, dormant_after_days: int, *, limit: int = 500
) -> list[uuid.UUID]:
    """Remind the parties of each dormant agreement not reminded for a dormancy period, in the
    caller's transaction (the caller commits). Rows another transaction holds (a party acting on
    it right now) are left to the next run."""
    cutoff = silent_since(now, dormant_after_days)
    due = (
        await session.exec(
            select(Agreement)
            .where(
                *_dormant(now, dormant_after_days),
                col(Agreement.dormancy_reminded_at).is_(None)
                | (col(Agreement.dormancy_reminded_at) <= cutoff),
            )
            .order_by(col(Agreement.last_activity_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    parties = await agreements.parties_of(session, [agreement.id for agreement in due])
    for agreement in due:
        agreement.dormancy_reminded_at = now
        session.add(agreement)
        await record_event(
            session,
            AGREEMENT_DORMANT,
            agreement.id,
            AgreementDormant(
                agreement_id=agreement.id,
                title=agreement.title,
                party_city_ids=[p.city_id for p in parties[agreement.id]],
                last_activity_at=agreement.last_activity_at,
                days_since_activity=days_since(agreement.last_activity_at, now),
                dormant_after_days=dormant_after_days,
            ),
        )
    return [agreement.id for agreement in due]


async def remind_regularly(runtime: Runtime) -> None:
    settings: Any = runtime.settings

    async def run(session: AsyncSession, now: datetime) -> None:
        await remind_dormant(session, now, settings.dormant_after_days)

    await every(runtime, settings.dormancy_check_every_seconds, run)


def funding_activity_specs(specs: Iterable[EventSpec]) -> list[EventSpec]:
    """The funding events that are about an agreement: those whose payload has `agreement_id`."""
    return [spec for spec in specs if "agreement_id" in spec.payload.model_fields]


async def on_funding_activity(session: AsyncSession, event: Event, payload: Any) -> None:
    """A funding event about an agreement is a sign of its life, at the event's time."""
    agreement_id = payload.agreement_id
    if agreement_id is None:  # e.g. an application not tied to an agreement
        return
    agreement = (
        await session.exec(select(Agreement).where(Agreement.id == agreement_id).with_for_update())
    ).first()
    if agreement is None:
        # Funding learns agreements from matching's own events, so this is not an order problem:
        # an id matching never had. Nothing to hold it for.
        log.warning(
            "funding event about an agreement matching does not have",
            extra={"event_type": event.type, "agreement_id": str(agreement_id)},
        )
        return
    agreements.touch(agreement, event.time)
    session.add(agreement)
