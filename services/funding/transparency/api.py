"""Transparency routes: a fund's tamper-evident public log (its entries and head), the donors'
"where did my money go", the fund's public transparency view and its IATI and 360Giving
exports. Thin: the queries and rules are in `public_log`, `facts`, `reports` and `exports`.

Who sees what: the public routes serve a public fund to anyone, and a restricted one, like
GET /funds/{id}, only to its administrators, its donors and platform administrators (a 404 to
anyone else). What they serve is public either way, so the privacy rules apply to every caller."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from services.funding import domain
from services.funding.funds import visible_fund
from services.funding.public_log import (
    LogHead,
    LogPage,
    LogPageWithDocuments,
    log_head,
    log_page,
)
from services.funding.transparency import exports, facts, reports
from shared.auth import MaybeCaller, Principal, Role, allow
from shared.db import utcnow
from shared.errors import Forbidden
from shared.service import SessionDep

router = APIRouter(tags=["transparency"])

After = Annotated[int, Query(ge=0, description="the position to continue after; 0: from the start")]
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many entries")]
_NOT_VISIBLE = {404: {"description": "no such fund, or a restricted fund the caller may not see"}}
_FORBIDDEN = {403: {"description": "the caller may not see this donor's trail"}}


# --- the public log ----------------------------------------------------------------------------


@router.get("/funds/{fund_id}/public-log", response_model=LogPage, responses=_NOT_VISIBLE)
async def public_log(
    fund_id: uuid.UUID,
    session: SessionDep,
    caller: MaybeCaller,
    after: After = 0,
    limit: Limit = 1000,
) -> LogPage:
    """The fund's hash chain, in order: what each entry commits to, without the events."""
    await visible_fund(session, fund_id, caller)
    return await log_page(session, fund_id, after, limit, LogPage)


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
    domain.check_oversees(principal, fund_id, "read the events of its log")
    await visible_fund(session, fund_id, principal)
    return await log_page(session, fund_id, after, limit, LogPageWithDocuments)


@router.get("/funds/{fund_id}/public-log/head", response_model=LogHead, responses=_NOT_VISIBLE)
async def public_log_head(fund_id: uuid.UUID, session: SessionDep, caller: MaybeCaller) -> LogHead:
    """The chain's last hash: note it, and check later that the chain still leads to it."""
    await visible_fund(session, fund_id, caller)
    return await log_head(session, fund_id)


# --- reports -----------------------------------------------------------------------------------


@router.get(
    "/funds/{fund_id}/donors/{donor_id}/money-trail",
    response_model=reports.MoneyTrail,
    responses=_FORBIDDEN,
)
async def money_trail(
    fund_id: uuid.UUID,
    donor_id: uuid.UUID,
    session: SessionDep,
    principal: Annotated[
        Principal, Depends(allow(Role.DONOR, Role.FUND_ADMIN, Role.PLATFORM_ADMIN))
    ],
) -> reports.MoneyTrail:
    """Where the donor's money went: per pledge, each receipt and what it paid for (agreement,
    tranche, amount, date), and what is still unspent. A donor asks for itself; the fund's
    administrators for any of its donors."""
    own = domain.visible_donors(principal, fund_id)  # None: the caller oversees the fund
    if own is not None and donor_id not in own:
        raise Forbidden(f"you may follow your own money only, not donor {donor_id}'s")
    fund = await visible_fund(session, fund_id, principal)
    trail = reports.money_trail(await facts.load(session, fund), donor_id, withhold=own is not None)
    return trail


@router.get(
    "/funds/{fund_id}/transparency",
    response_model=reports.TransparencyView,
    responses=_NOT_VISIBLE,
)
async def transparency_view(
    fund_id: uuid.UUID, session: SessionDep, caller: MaybeCaller
) -> reports.TransparencyView:
    """Totals and flows by donor kind, domain, country and month; private donors are counted by
    kind, never named; partnerships with a city in a conflict zone are not named."""
    fund = await visible_fund(session, fund_id, caller)
    return reports.transparency_view(await facts.load(session, fund))


@router.get(
    "/funds/{fund_id}/iati.xml",
    response_class=Response,
    responses={200: {"content": {"application/xml": {}}}, **_NOT_VISIBLE},
)
async def iati_export(fund_id: uuid.UUID, session: SessionDep, caller: MaybeCaller) -> Response:
    """The fund's activities as an IATI 2.03 activity file: the fund with its incoming
    commitments and funds, and one child activity per agreement with its commitments and
    disbursements."""
    fund = await visible_fund(session, fund_id, caller)
    document = exports.iati_activities(await facts.load(session, fund), utcnow())
    return Response(document, media_type="application/xml")


@router.get(
    "/funds/{fund_id}/360giving.csv",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, **_NOT_VISIBLE},
)
async def giving_export(fund_id: uuid.UUID, session: SessionDep, caller: MaybeCaller) -> Response:
    """The fund's awards in 360Giving's columns, one row per award."""
    fund = await visible_fund(session, fund_id, caller)
    document = exports.giving_csv(await facts.load(session, fund), utcnow())
    return Response(
        document,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{fund_id}-360giving.csv"'},
    )
