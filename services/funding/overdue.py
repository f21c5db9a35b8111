"""Overdue instalments: those past their due date and not fully received are flagged, each once,
with an InstalmentOverdue event (for reminders to the donor and the fund). The service's own loop
looks every `overdue_check_every_seconds`; a fund's administrator can run it at once for a fund
(POST /funds/{id}/overdue-runs). The rule is domain.newly_overdue."""

import asyncio
import uuid
from collections import defaultdict
from datetime import date

from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from services.funding import domain
from services.funding.ledger.store import lock_fund
from services.funding.models import Instalment, OverdueInstalmentPublic, Pledge, Receipt
from services.funding.public_log import record_fund_event
from shared import money
from shared.contracts import funding as contracts
from shared.db import utcnow
from shared.service import Runtime


def _past_due_unflagged(today: date) -> Select:  # type: ignore[type-arg]
    """Pledges not received in full nor written off, with an instalment past due and not yet
    flagged; whether that instalment is unpaid is decided once the fund is locked."""
    received = (
        select(func.coalesce(func.sum(Receipt.amount_minor), 0))
        .where(col(Receipt.pledge_id) == col(Pledge.id))
        .scalar_subquery()
    )
    return (
        select(Pledge)
        .join(Instalment, col(Instalment.pledge_id) == col(Pledge.id))
        .where(
            col(Instalment.due_on) < today,
            col(Instalment.flagged_overdue_at).is_(None),
            Pledge.cancelled_minor == 0,
            col(Pledge.amount_minor) > received,
        )
    )


async def funds_to_check(session: AsyncSession, today: date) -> list[uuid.UUID]:
    query = _past_due_unflagged(today).with_only_columns(col(Pledge.fund_id)).distinct()
    return sorted((await session.exec(query)).all())


async def _flag_pledge(
    session: AsyncSession,
    pledge: Pledge,
    instalments: dict[int, Instalment],
    received: int,
    today: date,
) -> list[OverdueInstalmentPublic]:
    """Flag the pledge's `instalments` (by number) newly overdue, given what it `received`."""
    states = [
        domain.InstalmentState(i.number, i.due_on, i.amount_minor, i.flagged_overdue_at is not None)
        for i in instalments.values()
    ]
    flagged = []
    for overdue in domain.newly_overdue(states, received, today):
        instalment = instalments[overdue.number]
        instalment.flagged_overdue_at = utcnow()
        session.add(instalment)
        unpaid = money.from_minor_units(overdue.unpaid_minor, pledge.currency)
        await record_fund_event(
            session,
            contracts.INSTALMENT_OVERDUE,
            pledge.fund_id,
            contracts.InstalmentOverdue(
                pledge_id=pledge.id,
                fund_id=pledge.fund_id,
                donor_id=pledge.donor_id,
                donor_name=pledge.donor_name,
                number=overdue.number,
                due_on=overdue.due_on,
                amount=money.from_minor_units(instalment.amount_minor, pledge.currency),
                unpaid=unpaid,
                currency=pledge.currency,
            ),
        )
        flagged.append(
            OverdueInstalmentPublic(
                pledge_id=pledge.id,
                number=overdue.number,
                due_on=overdue.due_on,
                unpaid=unpaid,
                currency=pledge.currency,
            )
        )
    return flagged


async def flag_overdue(
    session: AsyncSession, today: date, fund_id: uuid.UUID
) -> list[OverdueInstalmentPublic]:
    """Flag what is newly overdue in the fund on `today`, in the caller's transaction. The fund
    is locked first, so that two runs at once (the loop and an administrator) cannot both flag,
    nor a receipt slip in between the look and the flag."""
    await lock_fund(session, fund_id)
    pledges = (
        await session.exec(
            _past_due_unflagged(today)
            .where(Pledge.fund_id == fund_id)
            .distinct()
            .order_by(col(Pledge.pledged_at), col(Pledge.id))
        )
    ).all()
    # Their instalments and what each received, in two queries rather than two per pledge.
    ids = [pledge.id for pledge in pledges]
    instalments: dict[uuid.UUID, dict[int, Instalment]] = defaultdict(dict)
    for instalment in await session.exec(
        select(Instalment).where(col(Instalment.pledge_id).in_(ids))
    ):
        instalments[instalment.pledge_id][instalment.number] = instalment
    received = {
        pledge_id: int(total)  # PostgreSQL sums BIGINT as NUMERIC
        for pledge_id, total in await session.exec(
            select(Receipt.pledge_id, func.sum(Receipt.amount_minor))
            .where(col(Receipt.pledge_id).in_(ids))
            .group_by(col(Receipt.pledge_id))
        )
    }
    flagged: list[OverdueInstalmentPublic] = []
    for pledge in pledges:
        flagged += await _flag_pledge(
            session, pledge, instalments[pledge.id], received.get(pledge.id, 0), today
        )
    return flagged


async def flag_overdue_regularly(runtime: Runtime) -> None:
    """Every fund in turn, one transaction each, so that no fund waits on another's lock."""
    while True:
        today = utcnow().date()
        async with runtime.sessions() as session:
            funds = await funds_to_check(session, today)
        for fund_id in funds:
            async with runtime.sessions() as session:
                await flag_overdue(session, today, fund_id)
                await session.commit()
        await asyncio.sleep(runtime.settings.overdue_check_every_seconds)  # type: ignore[attr-defined]
