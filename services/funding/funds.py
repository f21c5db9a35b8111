"""A fund as the routes load it, and who may see it: the one home of both for the donors', the
grants' and the transparency routes (a restricted fund is a 404 to whoever may not see it, so
that its existence is not revealed either)."""

import uuid

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding import domain
from services.funding.models import Fund, InKindPledge, Pledge
from shared.auth import Principal
from shared.errors import NotFound


async def existing_fund(session: AsyncSession, fund_id: uuid.UUID) -> Fund:
    fund = await session.get(Fund, fund_id)
    if fund is None:
        raise NotFound(f"no fund with id {fund_id}")
    return fund


async def pledged_to(
    session: AsyncSession, principal: Principal | None, fund_id: uuid.UUID | None = None
) -> set[uuid.UUID]:
    """The funds the caller's donors pledged to (cash or in kind), or, given `fund_id`, whether
    that one is among them: a restricted fund's donors see it."""
    donors = domain.donor_ids(principal) if principal is not None else set()
    if not donors:
        return set()
    found: set[uuid.UUID] = set()
    for table in (Pledge, InKindPledge):
        query = select(table.fund_id).where(col(table.donor_id).in_(donors))
        if fund_id is not None:
            query = query.where(table.fund_id == fund_id)
        found |= set((await session.exec(query.distinct())).all())
    return found


async def visible_fund(
    session: AsyncSession, fund_id: uuid.UUID, principal: Principal | None
) -> Fund:
    """The fund, if the caller may see it (`domain.fund_visible`)."""
    fund = await existing_fund(session, fund_id)
    restricted = fund.visibility is domain.FundVisibility.RESTRICTED
    pledged = restricted and fund_id in await pledged_to(session, principal, fund_id)
    if not domain.fund_visible(fund.visibility, principal, fund_id, pledged):
        raise NotFound(f"no fund with id {fund_id}")
    return fund
