"""Funding HTTP routes: funds and pledges. Every money POST takes an Idempotency-Key.

Funds are public (transparency); pledges are recorded and read by the fund's administrators and
by donors, each donor seeing its own only. The rules are in `domain`; the routes apply them."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from services.funding import domain
from services.funding.ledger import accounts
from services.funding.ledger import store as ledger
from services.funding.ledger.accounts import MovementKind
from services.funding.models import (
    Fund,
    FundCreate,
    FundPublic,
    Pledge,
    PledgeCreate,
    PledgePublic,
)
from services.funding.public_log import record_fund_event
from shared import money
from shared.auth import PUBLIC, PlatformAdmin, Principal, Role, allow
from shared.contracts.funding import (
    CONTRIBUTION_PLEDGED,
    FUND_CREATED,
    ContributionPledged,
    FundCreated,
)
from shared.errors import Conflict, NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.service import SessionDep

router = APIRouter()

_FORBIDDEN = {403: {"description": "the caller may not act on this fund's pledges"}}


async def _existing_fund(session: SessionDep, fund_id: uuid.UUID) -> Fund:
    fund = await session.get(Fund, fund_id)
    if fund is None:
        raise NotFound(f"no fund with id {fund_id}")
    return fund


@router.post("/funds", status_code=201, response_model=FundPublic, tags=["funds"])
async def create_fund(
    body: FundCreate,
    session: SessionDep,
    request: Request,
    _admin: PlatformAdmin,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    async def create() -> FundPublic:
        existing = (await session.exec(select(Fund).where(Fund.name == body.name))).first()
        if existing:
            raise Conflict(f"a fund named {body.name!r} already exists: {existing.id}")
        fund = Fund.model_validate(body)
        session.add(fund)
        await session.flush()
        await record_fund_event(
            session,
            FUND_CREATED,
            fund.id,
            FundCreated(fund_id=fund.id, name=fund.name, currency=fund.currency),
        )
        return FundPublic.model_validate(fund)

    return await idempotent(session, request, idempotency_key, body, create)


@router.get(
    "/funds/{fund_id}",
    response_model=FundPublic,
    tags=["funds"],
    dependencies=[Depends(PUBLIC)],  # funds are public by design: budget transparency
)
async def get_fund(fund_id: uuid.UUID, session: SessionDep) -> Fund:
    return await _existing_fund(session, fund_id)


@router.post(
    "/funds/{fund_id}/pledges",
    status_code=201,
    response_model=PledgePublic,
    tags=["pledges"],
    responses={400: {"description": "the Idempotency-Key header is missing"}, **_FORBIDDEN},
)
async def pledge_contribution(
    fund_id: uuid.UUID,
    body: PledgeCreate,
    session: SessionDep,
    request: Request,
    principal: Annotated[Principal, Depends(allow(Role.DONOR, Role.FUND_ADMIN))],
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """A donor's client pledges in its own name (the donor is the token's, never the body's); a
    fund administrator records an offline donor's pledge to its fund (no donor id)."""

    async def pledge() -> PledgePublic:
        await _existing_fund(session, fund_id)
        record = Pledge(
            fund_id=fund_id,
            donor_id=domain.pledging_donor(principal, fund_id),
            recorded_by=principal.subject,
            donor_name=body.donor_name,
            donor_kind=body.donor_kind,
            amount_minor=money.minor_units(body.amount, body.currency),
            currency=body.currency,
        )
        session.add(record)
        await session.flush()
        await ledger.post(
            session,
            ledger.LedgerMovement(
                fund_id=fund_id,
                kind=MovementKind.PLEDGE,
                recorded_by=principal.subject,
                pledge_id=record.id,
            ),
            accounts.pledge(record.amount_minor, record.currency),
        )
        public = PledgePublic.of(record)
        await record_fund_event(
            session,
            CONTRIBUTION_PLEDGED,
            fund_id,  # the fund is the aggregate: its pledges stay in order on one partition
            ContributionPledged(
                pledge_id=record.id,
                fund_id=fund_id,
                donor_id=record.donor_id,
                donor_name=record.donor_name,
                donor_kind=record.donor_kind,
                amount=public.amount,
                currency=record.currency,
            ),
        )
        return public

    return await idempotent(session, request, idempotency_key, body, pledge, required=True)


@router.get(
    "/funds/{fund_id}/pledges",
    response_model=list[PledgePublic],
    tags=["pledges"],
    responses=_FORBIDDEN,
)
async def list_pledges(
    fund_id: uuid.UUID,
    session: SessionDep,
    principal: Annotated[
        Principal, Depends(allow(Role.FUND_ADMIN, Role.DONOR, Role.PLATFORM_ADMIN))
    ],
) -> list[PledgePublic]:
    """All of the fund's pledges for its administrators and platform administrators; a donor's
    own pledges only for a donor."""
    await _existing_fund(session, fund_id)
    query = select(Pledge).where(Pledge.fund_id == fund_id)
    donors = domain.visible_donors(principal, fund_id)
    if donors is not None:
        query = query.where(col(Pledge.donor_id).in_(donors))
    pledges = (await session.exec(query.order_by(col(Pledge.pledged_at), col(Pledge.id)))).all()
    return [PledgePublic.of(p) for p in pledges]


from services.funding.grants.api import router as grants  # noqa: E402

router.include_router(grants)
