"""What expires when nobody acts in time: proposals not accepted by every party by their
`accept_by`, and expressions of interest the city asked did not answer within
MATCHING_INTEREST_ANSWER_DAYS. One run expires both, every MATCHING_EXPIRY_EVERY_SECONDS on its
own; a platform administrator (or a scheduler) can also run it at once (POST
/agreements/expiry-runs). Running it again expires nothing twice.

Rows another transaction holds (an acceptance or an answer under way) are skipped and left to the
next run: harmless, since a late acceptance is refused anyway and an answer that wins the race
simply counts."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import agreements, domain, interests
from services.matching.background import every
from services.matching.interest_events import end_by_platform
from services.matching.models import Agreement, PartnershipInterest
from shared.contracts.matching import PARTNERSHIP_INTEREST_EXPIRED
from shared.service import Runtime

# At most this many of each per run (per transaction); the rest wait for the next run.
BATCH = 500


async def expire_overdue(
    session: AsyncSession, now: datetime, *, by_subject: str | None = None, limit: int = BATCH
) -> list[uuid.UUID]:
    """Expire every proposed agreement whose `accept_by` has passed, each with its history row
    and AgreementExpired, in the caller's transaction (the caller commits)."""
    overdue = (
        await session.exec(
            select(Agreement)
            .where(
                Agreement.status == domain.AgreementStatus.PROPOSED,
                col(Agreement.accept_by) <= now,
            )
            .order_by(col(Agreement.accept_by))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    parties = await agreements.parties_of(session, [agreement.id for agreement in overdue])
    expired: list[uuid.UUID] = []
    for agreement in overdue:
        step = await agreements.take_as_platform(
            session,
            agreement,
            parties[agreement.id],
            domain.Action.EXPIRE,
            reason=f"not accepted by every party by {agreement.accept_by.isoformat()}",
            by_subject=by_subject,
            now=now,
        )
        if step.changed:
            expired.append(agreement.id)
    return expired


async def expire_unanswered(
    session: AsyncSession,
    now: datetime,
    answer_days: int,
    *,
    by_subject: str | None = None,
    limit: int = BATCH,
) -> list[uuid.UUID]:
    """Expire every open expression of interest expressed `answer_days` ago or more, each with
    PartnershipInterestExpired (to both cities), in the caller's transaction."""
    overdue = (
        await session.exec(
            select(PartnershipInterest)
            .where(
                PartnershipInterest.status == interests.InterestStatus.OPEN,
                col(PartnershipInterest.expressed_at)
                <= interests.unanswered_since(now, answer_days),
            )
            .order_by(col(PartnershipInterest.expressed_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    reason = interests.expiry_reason(answer_days)
    for interest in overdue:
        await end_by_platform(
            session,
            interest,
            interests.InterestStatus.EXPIRED,
            PARTNERSHIP_INTEREST_EXPIRED,
            reason,
            by_subject=by_subject,
            now=now,
        )
    return [interest.id for interest in overdue]


@dataclass(frozen=True)
class ExpiryRun:
    agreements: list[uuid.UUID]
    interests: list[uuid.UUID]


async def expire_due(
    session: AsyncSession, now: datetime, answer_days: int, *, by_subject: str | None = None
) -> ExpiryRun:
    """One run: what is overdue of both kinds, in the caller's transaction (the caller commits)."""
    return ExpiryRun(
        agreements=await expire_overdue(session, now, by_subject=by_subject),
        interests=await expire_unanswered(session, now, answer_days, by_subject=by_subject),
    )


async def expire_regularly(runtime: Runtime) -> None:
    settings: Any = runtime.settings

    async def run(session: AsyncSession, now: datetime) -> None:
        await expire_due(session, now, settings.interest_answer_days)

    await every(runtime, settings.expiry_every_seconds, run)
