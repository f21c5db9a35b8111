"""Funding HTTP routes: funds and pledges. Every money POST takes an Idempotency-Key."""

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, select

from services.funding import domain
from services.funding.models import Fund, FundCreate, FundPublic, Pledge, PledgeCreate, PledgePublic
from shared.contracts.funding import (
    CONTRIBUTION_PLEDGED,
    FUND_CREATED,
    ContributionPledged,
    FundCreated,
)
from shared.errors import Conflict, NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.outbox import record_event
from shared.service import SessionDep

router = APIRouter()


@router.post("/funds", status_code=201, response_model=FundPublic, tags=["funds"])
async def create_fund(
    body: FundCreate,
    session: SessionDep,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    async def create() -> FundPublic:
        existing = (await session.exec(select(Fund).where(Fund.name == body.name))).first()
        if existing:
            raise Conflict(f"a fund named {body.name!r} already exists: {existing.id}")
        fund = Fund.model_validate(body)
        session.add(fund)
        await session.flush()
        await record_event(
            session,
            FUND_CREATED,
            fund.id,
            FundCreated(fund_id=fund.id, name=fund.name, currency=fund.currency),
        )
        return FundPublic.model_validate(fund)

    return await idempotent(session, request, idempotency_key, body, create)


@router.get("/funds/{fund_id}", response_model=FundPublic, tags=["funds"])
async def get_fund(fund_id: uuid.UUID, session: SessionDep) -> Fund:
    fund = await session.get(Fund, fund_id)
    if fund is None:
        raise NotFound(f"no fund with id {fund_id}")
    return fund


@router.post(
    "/funds/{fund_id}/pledges",
    status_code=201,
    response_model=PledgePublic,
    tags=["pledges"],
    responses={400: {"description": "the Idempotency-Key header is missing"}},
)
async def pledge_contribution(
    fund_id: uuid.UUID,
    body: PledgeCreate,
    session: SessionDep,
    request: Request,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    async def pledge() -> PledgePublic:
        if await session.get(Fund, fund_id) is None:
            raise NotFound(f"no fund with id {fund_id}")
        record = Pledge(
            fund_id=fund_id,
            donor_name=body.donor_name,
            donor_kind=body.donor_kind,
            amount_minor=domain.minor_units(body.amount, body.currency),
            currency=body.currency,
        )
        session.add(record)
        await session.flush()
        public = PledgePublic.of(record)
        await record_event(
            session,
            CONTRIBUTION_PLEDGED,
            fund_id,  # the fund is the aggregate: its pledges stay in order on one partition
            ContributionPledged(
                pledge_id=record.id,
                fund_id=fund_id,
                donor_name=record.donor_name,
                donor_kind=record.donor_kind,
                amount=public.amount,
                currency=record.currency,
            ),
        )
        return public

    return await idempotent(session, request, idempotency_key, body, pledge, required=True)


@router.get("/funds/{fund_id}/pledges", response_model=list[PledgePublic], tags=["pledges"])
async def list_pledges(fund_id: uuid.UUID, session: SessionDep) -> list[PledgePublic]:
    if await session.get(Fund, fund_id) is None:
        raise NotFound(f"no fund with id {fund_id}")
    pledges = (
        await session.exec(
            select(Pledge).where(Pledge.fund_id == fund_id).order_by(col(Pledge.pledged_at))
        )
    ).all()
    return [PledgePublic.of(p) for p in pledges]
