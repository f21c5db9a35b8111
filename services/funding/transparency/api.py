"""Transparency routes: a fund's tamper-evident public log (its entries and head), the donors'
"where did my money go", the fund's public transparency view and its IATI and 360Giving
exports. Thin: the queries and rules are in `public_log`, `reports` and `exports`."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from services.funding.models import Fund
from services.funding.public_log import (
    LogEntryPublic,
    LogEntryWithDocument,
    LogHead,
    LogPage,
    LogPageWithDocuments,
    log_head,
    log_page,
)
from shared.auth import PUBLIC, Principal, Role, allow
from shared.errors import Forbidden, NotFound
from shared.service import SessionDep

router = APIRouter(tags=["transparency"])

After = Annotated[int, Query(ge=0, description="the position to continue after; 0: from the start")]
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many entries")]


async def _fund(session: SessionDep, fund_id: uuid.UUID) -> Fund:
    fund = await session.get(Fund, fund_id)
    if fund is None:
        raise NotFound(f"no fund with id {fund_id}")
    return fund


def _check_fund_admin(principal: Principal, fund_id: uuid.UUID) -> None:
    if not (principal.is_platform_admin or principal.administers_fund(fund_id)):
        raise Forbidden(f"you do not administer fund {fund_id}")


@router.get(
    "/funds/{fund_id}/public-log",
    response_model=LogPage,
    dependencies=[Depends(PUBLIC)],  # digests only: anyone may hold and check the chain
)
async def public_log(
    fund_id: uuid.UUID, session: SessionDep, after: After = 0, limit: Limit = 1000
) -> LogPage:
    """The fund's hash chain, in order: what each entry commits to, without the events."""
    await _fund(session, fund_id)
    entries, next_after = await log_page(session, fund_id, after, limit)
    return LogPage(
        fund_id=fund_id,
        entries=[LogEntryPublic.model_validate(e) for e in entries],
        next_after=next_after,
    )


@router.get(
    "/funds/{fund_id}/public-log/documents",
    response_model=LogPageWithDocuments,
    responses={403: {"description": "the caller does not administer this fund"}},
)
async def public_log_documents(
    fund_id: uuid.UUID,
    session: SessionDep,
    principal: Annotated[Principal, Depends(allow(Role.FUND_ADMIN, Role.PLATFORM_ADMIN))],
    after: After = 0,
    limit: Limit = 1000,
) -> LogPageWithDocuments:
    """The same chain with each event as published, for the fund's administrators (events name
    donors, some of whom are people)."""
    _check_fund_admin(principal, fund_id)
    await _fund(session, fund_id)
    entries, next_after = await log_page(session, fund_id, after, limit)
    return LogPageWithDocuments(
        fund_id=fund_id,
        entries=[LogEntryWithDocument.of(e) for e in entries],
        next_after=next_after,
    )


@router.get(
    "/funds/{fund_id}/public-log/head", response_model=LogHead, dependencies=[Depends(PUBLIC)]
)
async def public_log_head(fund_id: uuid.UUID, session: SessionDep) -> LogHead:
    """The chain's last hash: note it, and check later that the chain still leads to it."""
    await _fund(session, fund_id)
    return await log_head(session, fund_id)
