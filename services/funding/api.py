"""Funding HTTP routes: funds, cash pledges (instalments, earmarks, receipts, cancellation,
overdue instalments), in-kind expertise and balances. Every money POST takes an Idempotency-Key.

Public funds and their balances are public (transparency); a restricted fund exists only for its
administrators, its donors and platform administrators. Pledges are recorded and read by the
fund's administrators and by donors, each donor seeing its own only. The rules are in `domain`;
the routes apply them, and every money movement goes through the ledger in the same transaction
as its record and its event."""

import uuid
from collections import defaultdict
from decimal import Decimal
from typing import Annotated, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from services.funding import domain
from services.funding.funds import existing_fund, pledged_to, visible_fund
from services.funding.ledger import accounts
from services.funding.ledger import store as ledger
from services.funding.ledger.accounts import MovementKind
from services.funding.models import (
    CurrencyBalances,
    EarmarkColumns,
    Fund,
    FundBalances,
    FundClosure,
    FundCreate,
    FundPublic,
    FundUpdate,
    InKindDelivery,
    InKindDeliveryCreate,
    InKindDeliveryPublic,
    InKindPledge,
    InKindPledgeCreate,
    InKindPledgePublic,
    InKindRatePublic,
    Instalment,
    OverdueRunPublic,
    Pledge,
    PledgeCancellation,
    PledgeCreate,
    PledgePublic,
    Receipt,
    ReceiptCreate,
    ReceiptPublic,
    TechnicalAssistance,
)
from services.funding.overdue import flag_overdue
from services.funding.public_log import record_fund_event
from services.funding.reference import IN_KIND_RATES
from shared import money
from shared.auth import PUBLIC, MaybeCaller, PlatformAdmin, Principal, Role, allow
from shared.contracts import funding as contracts
from shared.db import utcnow
from shared.errors import Conflict, DomainError, NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.service import SessionDep

router = APIRouter()
SelectT = TypeVar("SelectT", bound=Select)  # type: ignore[type-arg]

FundAdmin = Annotated[Principal, Depends(allow(Role.FUND_ADMIN))]
Overseer = Annotated[Principal, Depends(allow(Role.FUND_ADMIN, Role.PLATFORM_ADMIN))]
Pledger = Annotated[Principal, Depends(allow(Role.DONOR, Role.FUND_ADMIN))]
Reader = Annotated[Principal, Depends(allow(Role.FUND_ADMIN, Role.DONOR, Role.PLATFORM_ADMIN))]

_FORBIDDEN = {403: {"description": "the caller may not act on this fund"}}
_MONEY = {
    400: {"description": "the Idempotency-Key header is missing"},
    409: {"description": "a rule refuses it (the message names the rule); nothing was written"},
    **_FORBIDDEN,
}


# --- loading -----------------------------------------------------------------------------------


async def _pledge_in(session: AsyncSession, fund_id: uuid.UUID, pledge_id: uuid.UUID) -> Pledge:
    pledge = await session.get(Pledge, pledge_id)
    if pledge is None or pledge.fund_id != fund_id:
        raise NotFound(f"no pledge {pledge_id} in fund {fund_id}")
    return pledge


async def _instalments_and_receipts(
    session: AsyncSession, pledge_ids: list[uuid.UUID]
) -> tuple[dict[uuid.UUID, list[Instalment]], dict[uuid.UUID, list[Receipt]]]:
    instalments: dict[uuid.UUID, list[Instalment]] = defaultdict(list)
    receipts: dict[uuid.UUID, list[Receipt]] = defaultdict(list)
    for row in await session.exec(
        select(Instalment).where(col(Instalment.pledge_id).in_(pledge_ids))
    ):
        instalments[row.pledge_id].append(row)
    for receipt in await session.exec(
        select(Receipt)
        .where(col(Receipt.pledge_id).in_(pledge_ids))
        .order_by(col(Receipt.recorded_at), col(Receipt.id))
    ):
        receipts[receipt.pledge_id].append(receipt)
    return instalments, receipts


async def _pledge_public(session: AsyncSession, pledge: Pledge, fund: Fund) -> PledgePublic:
    instalments, receipts = await _instalments_and_receipts(session, [pledge.id])
    return PledgePublic.of(pledge, fund.currency, instalments[pledge.id], receipts[pledge.id])


def _seen_by(query: SelectT, donor_id: object, principal: Principal, fund_id: uuid.UUID) -> SelectT:
    """`query` narrowed to what the caller may read of the fund's donors' records: all of them
    for its administrators and platform administrators, a donor's own for a donor."""
    donors = domain.visible_donors(principal, fund_id)
    return query if donors is None else query.where(col(donor_id).in_(donors))


def _earmark_payload(columns: EarmarkColumns) -> contracts.Earmark | None:
    earmark = columns.earmark
    return contracts.Earmark(**vars(earmark)) if earmark else None


# --- funds -------------------------------------------------------------------------------------


def _description(fund: Fund) -> dict[str, object]:
    """The fields of FundCreated and FundUpdated that describe the fund (not its administrators'
    subjects: the events are published, and the committee is the fund's public face)."""
    return {
        "purpose": fund.purpose,
        "eligible_domains": fund.eligible_domains,
        "visibility": fund.visibility,
        "admin_fee_rate": fund.admin_fee_rate,
        "committee": fund.committee,
    }


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
        fund = Fund(**body.model_dump())
        session.add(fund)
        await session.flush()
        await record_fund_event(
            session,
            contracts.FUND_CREATED,
            fund.id,
            contracts.FundCreated(
                fund_id=fund.id, name=fund.name, currency=fund.currency, **_description(fund)
            ),
        )
        return FundPublic.model_validate(fund)

    return await idempotent(session, request, idempotency_key, body, create)


@router.get("/funds", response_model=list[FundPublic], tags=["funds"])
async def list_funds(
    session: SessionDep,
    caller: MaybeCaller,
    status: Annotated[
        domain.FundStatus | None, Query(description="only funds in this status")
    ] = None,
) -> list[Fund]:
    """The funds the caller may see, by name: every public fund, and the restricted ones it
    administers or pledged to (all of them for platform administrators)."""
    query = select(Fund).order_by(col(Fund.name))
    if status is not None:
        query = query.where(Fund.status == status)
    pledged = await pledged_to(session, caller)
    return [
        fund
        for fund in await session.exec(query)
        if domain.fund_visible(fund.visibility, caller, fund.id, fund.id in pledged)
    ]


@router.get("/funds/{fund_id}", response_model=FundPublic, tags=["funds"])
async def get_fund(fund_id: uuid.UUID, session: SessionDep, caller: MaybeCaller) -> Fund:
    """Anyone sees a public fund (budget transparency); a restricted one only its
    administrators, its donors and platform administrators (a 404 for anyone else)."""
    return await visible_fund(session, fund_id, caller)


@router.patch("/funds/{fund_id}", response_model=FundPublic, tags=["funds"], responses=_FORBIDDEN)
async def update_fund(
    fund_id: uuid.UUID, body: FundUpdate, session: SessionDep, principal: Overseer
) -> Fund:
    """The fund's administrators change its description; its name and administration fee rate
    are for platform administrators (a new fee rate applies to later receipts only). Sending the
    current values changes nothing and tells no one."""
    fund = await existing_fund(session, fund_id)
    wanted = body.model_dump(exclude_unset=True)
    changes = {name: value for name, value in wanted.items() if getattr(fund, name) != value}
    domain.check_may_update_fund(principal, fund_id, changes)
    if not changes:
        return fund
    domain.check_open_for_changes(fund.status, fund_id)
    if "name" in changes:
        taken = (await session.exec(select(Fund).where(Fund.name == changes["name"]))).first()
        if taken:
            raise Conflict(f"a fund named {changes['name']!r} already exists: {taken.id}")
    for name, value in changes.items():
        setattr(fund, name, value)
    fund.updated_at = utcnow()
    session.add(fund)
    await record_fund_event(
        session,
        contracts.FUND_UPDATED,
        fund_id,
        contracts.FundUpdated(
            fund_id=fund_id, name=fund.name, changed=sorted(changes), **_description(fund)
        ),
    )
    await session.commit()
    return fund


@router.post(
    "/funds/{fund_id}/closure", response_model=FundPublic, tags=["funds"], responses=_FORBIDDEN
)
async def close_fund(
    fund_id: uuid.UUID, body: FundClosure, session: SessionDep, principal: Overseer
) -> Fund:
    """A closed fund takes no new pledge; receipts of earlier pledges, and payments of what it
    committed, go on. Closing a closed fund changes nothing (a retry is harmless)."""
    fund = await existing_fund(session, fund_id)
    domain.check_oversees(principal, fund_id, "close it")
    if fund.status is domain.FundStatus.CLOSED:
        return fund
    fund.status = domain.FundStatus.CLOSED
    fund.closed_at = fund.updated_at = utcnow()
    fund.closure_reason = body.reason
    session.add(fund)
    await record_fund_event(
        session,
        contracts.FUND_CLOSED,
        fund_id,
        contracts.FundClosed(fund_id=fund_id, closed_at=fund.closed_at, reason=body.reason),
    )
    await session.commit()
    return fund


@router.get("/funds/{fund_id}/balances", response_model=FundBalances, tags=["funds"])
async def fund_balances(
    fund_id: uuid.UUID, session: SessionDep, caller: MaybeCaller
) -> FundBalances:
    """Per currency, derived from the ledger's entries at the time of asking (never stored).
    Seen by whoever may see the fund."""
    fund = await visible_fund(session, fund_id, caller)
    found = await ledger.balances(session, fund_id)

    def shown(minor: int, currency: str) -> Decimal:
        return money.from_minor_units(minor, currency)

    return FundBalances(
        fund_id=fund_id,
        fund_currency=fund.currency,
        balances=[
            CurrencyBalances(
                currency=c,
                pledged=shown(b.pledged, c),
                outstanding=shown(b.outstanding, c),
                received=shown(b.received, c),
                admin_fees=shown(b.admin_fees, c),
                available=shown(b.available, c),
                committed=shown(b.committed, c),
                disbursed=shown(b.disbursed, c),
                technical_assistance=TechnicalAssistance(
                    pledged=shown(b.in_kind_pledged, c),
                    delivered=shown(b.in_kind_delivered, c),
                    to_deliver=shown(b.in_kind_pledged - b.in_kind_delivered, c),
                ),
            )
            for c, b in sorted(found.items())
        ],
    )


# --- cash pledges ------------------------------------------------------------------------------


@router.post(
    "/funds/{fund_id}/pledges",
    status_code=201,
    response_model=PledgePublic,
    tags=["pledges"],
    responses=_MONEY,
)
async def pledge_contribution(
    fund_id: uuid.UUID,
    body: PledgeCreate,
    session: SessionDep,
    request: Request,
    principal: Pledger,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """A donor's client pledges in its own name (the donor is the token's, never the body's); a
    fund administrator records an offline donor's pledge to its fund (no donor id). Optional
    instalments must add up to the amount; an optional earmark restricts what the money pays."""

    async def pledge() -> PledgePublic:
        fund = await existing_fund(session, fund_id)
        donor_id = domain.pledging_donor(principal, fund_id)
        domain.check_open_for_pledges(fund.status, fund_id)
        earmark = body.earmark.terms() if body.earmark else None
        domain.check_earmark_fits_fund(earmark, fund.eligible_domains, fund_id)
        record = Pledge(
            fund_id=fund_id,
            donor_id=donor_id,
            recorded_by=principal.subject,
            donor_name=body.donor_name,
            donor_kind=body.donor_kind,
            amount_minor=body.amount_minor(),
            currency=body.currency,
            **EarmarkColumns.columns_of(earmark),
        )
        session.add(record)
        await session.flush()
        instalments = [
            Instalment(
                pledge_id=record.id, number=n, due_on=terms.due_on, amount_minor=terms.amount_minor
            )
            for n, terms in enumerate(body.instalment_terms(), start=1)
        ]
        session.add_all(instalments)
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
        public = PledgePublic.of(record, fund.currency, instalments, [])
        await record_fund_event(
            session,
            contracts.CONTRIBUTION_PLEDGED,
            fund_id,  # the fund is the aggregate: its pledges stay in order on one partition
            contracts.ContributionPledged(
                pledge_id=record.id,
                fund_id=fund_id,
                donor_id=record.donor_id,
                donor_name=record.donor_name,
                donor_kind=record.donor_kind,
                amount=public.amount,
                currency=record.currency,
                instalments=[
                    contracts.InstalmentTerms(due_on=i.due_on, amount=i.amount)
                    for i in public.instalments
                ],
                earmark=_earmark_payload(record),
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
    fund_id: uuid.UUID, session: SessionDep, principal: Reader
) -> list[PledgePublic]:
    """All of the fund's pledges for its administrators and platform administrators; a donor's
    own pledges only for a donor. Each with its instalments, what was received (in the pledge's
    currency and as converted into the fund's) and what is outstanding."""
    fund = await existing_fund(session, fund_id)
    query = select(Pledge).where(Pledge.fund_id == fund_id)
    query = _seen_by(query, Pledge.donor_id, principal, fund_id)
    pledges = (await session.exec(query.order_by(col(Pledge.pledged_at), col(Pledge.id)))).all()
    instalments, receipts = await _instalments_and_receipts(session, [p.id for p in pledges])
    return [PledgePublic.of(p, fund.currency, instalments[p.id], receipts[p.id]) for p in pledges]


async def _readable_pledge(
    session: AsyncSession, principal: Principal, fund_id: uuid.UUID, pledge_id: uuid.UUID
) -> Pledge:
    pledge = await _pledge_in(session, fund_id, pledge_id)
    donors = domain.visible_donors(principal, fund_id)
    if donors is not None and pledge.donor_id not in donors:
        raise NotFound(f"no pledge {pledge_id} in fund {fund_id}")  # not revealed to others
    return pledge


@router.get(
    "/funds/{fund_id}/pledges/{pledge_id}",
    response_model=PledgePublic,
    tags=["pledges"],
    responses=_FORBIDDEN,
)
async def get_pledge(
    fund_id: uuid.UUID, pledge_id: uuid.UUID, session: SessionDep, principal: Reader
) -> PledgePublic:
    fund = await existing_fund(session, fund_id)
    pledge = await _readable_pledge(session, principal, fund_id, pledge_id)
    return await _pledge_public(session, pledge, fund)


@router.post(
    "/funds/{fund_id}/pledges/{pledge_id}/receipts",
    status_code=201,
    response_model=ReceiptPublic,
    tags=["pledges"],
    responses={422: {"description": "bad money or a missing exchange rate"}, **_MONEY},
)
async def record_receipt(
    fund_id: uuid.UUID,
    pledge_id: uuid.UUID,
    body: ReceiptCreate,
    session: SessionDep,
    request: Request,
    principal: FundAdmin,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """The fund's administrator records money received against a pledge, in the pledge's
    currency, partial or full, never more than is outstanding. When the pledge's currency is
    not the fund's, the rate the money was converted at is given and fixed on the receipt and its
    ledger movement. The fund's administration fee (its rate now) is retained at deposit. Paid
    instalments are the oldest first."""

    async def receive() -> ReceiptPublic:
        fund = await existing_fund(session, fund_id)
        domain.check_administers(principal, fund_id, "record receipts")
        await ledger.lock_fund(session, fund_id)  # two receipts cannot both take what is left
        pledge = await _pledge_in(session, fund_id, pledge_id)
        instalments, receipts = await _instalments_and_receipts(session, [pledge_id])
        received_before = sum(r.amount_minor for r in receipts[pledge_id])
        amount = domain.amount_minor(body.amount, pledge.currency, "amount")
        outstanding = domain.outstanding_minor(
            pledge.amount_minor, received_before, pledge.cancelled_minor
        )
        domain.check_receipt_within_outstanding(amount, outstanding, pledge.currency, pledge_id)
        figures = domain.receipt_figures(
            amount, pledge.currency, fund.currency, body.exchange_rate, fund.admin_fee_rate
        )
        ordered = [i.amount_minor for i in sorted(instalments[pledge_id], key=lambda i: i.due_on)]
        before = domain.allocate_oldest_first(ordered, received_before)
        after = domain.allocate_oldest_first(ordered, received_before + amount)
        receipt = Receipt(
            fund_id=fund_id,
            pledge_id=pledge_id,
            amount_minor=amount,
            currency=pledge.currency,
            fund_currency=fund.currency,
            exchange_rate=body.exchange_rate,
            rate_source=(
                body.rate_source or "given by the fund administrator"
                if body.exchange_rate is not None
                else ""
            ),
            converted_minor=figures.converted_minor,
            fee_rate=fund.admin_fee_rate,
            fee_minor=figures.fee_minor,
            received_on=body.received_on or utcnow().date(),
            instalments_paid=[
                {"number": n, "amount_minor": a - b}
                for n, (b, a) in enumerate(zip(before, after, strict=True), start=1)
                if a > b
            ],
            recorded_by=principal.subject,
        )
        session.add(receipt)
        await session.flush()
        await ledger.post(
            session,
            ledger.LedgerMovement(
                fund_id=fund_id,
                kind=MovementKind.RECEIPT,
                recorded_by=principal.subject,
                pledge_id=pledge_id,
                receipt_id=receipt.id,
                exchange_rate=receipt.exchange_rate,
                memo=receipt.rate_source,
            ),
            accounts.receipt(
                amount, pledge.currency, figures.converted_minor, fund.currency, figures.fee_minor
            ),
        )
        public = ReceiptPublic.of(receipt)
        await record_fund_event(
            session,
            contracts.CONTRIBUTION_RECEIVED,
            fund_id,
            contracts.ContributionReceived(
                receipt_id=receipt.id,
                pledge_id=pledge_id,
                fund_id=fund_id,
                donor_id=pledge.donor_id,
                outstanding=money.from_minor_units(outstanding - amount, pledge.currency),
                **public.model_dump(
                    include={
                        "amount",
                        "currency",
                        "exchange_rate",
                        "rate_source",
                        "converted_amount",
                        "fund_currency",
                        "fee",
                        "net_amount",
                        "received_on",
                        "instalments_paid",
                    }
                ),
            ),
        )
        return public

    return await idempotent(session, request, idempotency_key, body, receive, required=True)


@router.get(
    "/funds/{fund_id}/receipts",
    response_model=list[ReceiptPublic],
    tags=["pledges"],
    responses=_FORBIDDEN,
)
async def list_receipts(
    fund_id: uuid.UUID,
    session: SessionDep,
    principal: Reader,
    pledge_id: Annotated[uuid.UUID | None, Query(description="only this pledge's")] = None,
) -> list[ReceiptPublic]:
    """Receipts with both amounts (as received, and as converted into the fund's currency at
    the recorded rate), the fee and the net. A donor sees its own pledges' receipts only."""
    await existing_fund(session, fund_id)
    query = (
        select(Receipt)
        .join(Pledge, col(Pledge.id) == col(Receipt.pledge_id))
        .where(Receipt.fund_id == fund_id)
    )
    query = _seen_by(query, Pledge.donor_id, principal, fund_id)
    if pledge_id is not None:
        query = query.where(Receipt.pledge_id == pledge_id)
    found = await session.exec(query.order_by(col(Receipt.recorded_at), col(Receipt.id)))
    return [ReceiptPublic.of(receipt) for receipt in found]


@router.post(
    "/funds/{fund_id}/pledges/{pledge_id}/cancellation",
    response_model=PledgePublic,
    tags=["pledges"],
    responses=_MONEY,
)
async def cancel_pledge(
    fund_id: uuid.UUID,
    pledge_id: uuid.UUID,
    body: PledgeCancellation,
    session: SessionDep,
    request: Request,
    principal: FundAdmin,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Write off what is still outstanding on a pledge (the donor will not pay it): it leaves
    the pledged and outstanding balances; what was received stays."""

    async def cancel() -> PledgePublic:
        fund = await existing_fund(session, fund_id)
        domain.check_administers(principal, fund_id, "cancel pledges")
        await ledger.lock_fund(session, fund_id)
        pledge = await _pledge_in(session, fund_id, pledge_id)
        received = (
            await session.exec(
                select(func.coalesce(func.sum(Receipt.amount_minor), 0)).where(
                    Receipt.pledge_id == pledge_id
                )
            )
        ).one()
        outstanding = domain.outstanding_minor(pledge.amount_minor, received, 0)
        domain.check_cancellable(outstanding, pledge.cancelled_minor, pledge_id)
        pledge.cancelled_minor = outstanding
        pledge.cancelled_at = utcnow()
        pledge.cancellation_reason = body.reason
        session.add(pledge)
        await ledger.post(
            session,
            ledger.LedgerMovement(
                fund_id=fund_id,
                kind=MovementKind.PLEDGE_CANCELLATION,
                recorded_by=principal.subject,
                pledge_id=pledge_id,
                memo=body.reason,
            ),
            accounts.pledge_cancellation(outstanding, pledge.currency),
        )
        await record_fund_event(
            session,
            contracts.PLEDGE_CANCELLED,
            fund_id,
            contracts.PledgeCancelled(
                pledge_id=pledge_id,
                fund_id=fund_id,
                donor_id=pledge.donor_id,
                written_off=money.from_minor_units(outstanding, pledge.currency),
                currency=pledge.currency,
                reason=body.reason,
            ),
        )
        return await _pledge_public(session, pledge, fund)

    return await idempotent(
        session, request, idempotency_key, body, cancel, status_code=200, required=True
    )


@router.post(
    "/funds/{fund_id}/overdue-runs",
    response_model=OverdueRunPublic,
    tags=["pledges"],
    responses=_FORBIDDEN,
)
async def run_overdue_check(
    fund_id: uuid.UUID, session: SessionDep, principal: FundAdmin
) -> OverdueRunPublic:
    """Flag the fund's instalments past their due date and not fully received, now, rather than
    at the next run of the service's own loop. Each instalment is flagged (and told of, with
    InstalmentOverdue) once: running it again flags nothing twice."""
    await existing_fund(session, fund_id)
    domain.check_administers(principal, fund_id, "run the overdue check")
    today = utcnow().date()
    flagged = await flag_overdue(session, today, fund_id)
    await session.commit()
    return OverdueRunPublic(ran_on=today, flagged=flagged)


# --- in-kind expertise -------------------------------------------------------------------------


@router.get(
    "/in-kind-rates",
    response_model=list[InKindRatePublic],
    tags=["in-kind"],
    dependencies=[Depends(PUBLIC)],  # the basis of every in-kind valuation: public
)
async def in_kind_rates() -> list[InKindRatePublic]:
    """The documented daily rates in-kind expertise is valued at, with their source."""
    return [
        InKindRatePublic(
            **rate.model_dump(exclude={"source"}),
            source=rate.source or f"{IN_KIND_RATES.source} (as of {IN_KIND_RATES.as_of})",
        )
        for rate in IN_KIND_RATES.rates
    ]


def _in_kind_rate(body: InKindPledgeCreate, currency: str, recorder: str) -> tuple[int, str]:
    """The daily rate (minor units of the fund's currency) and where it comes from."""
    if body.daily_rate is not None:
        rate = domain.amount_minor(body.daily_rate, currency, "daily_rate")
        return rate, body.rate_source or f"given by {recorder} when pledging"
    if body.rate_source is not None:
        raise DomainError("rate_source describes a daily_rate you give: give both, or neither")
    entry = IN_KIND_RATES.rate(body.profession, currency)
    if entry is None:
        known = ", ".join(IN_KIND_RATES.professions(currency)) or "none"
        raise DomainError(
            f"the rate table has no {currency} rate for {body.profession!r} (it has: {known}); "
            "give the daily_rate and its rate_source"
        )
    source = entry.source or IN_KIND_RATES.source
    return domain.amount_minor(entry.daily_rate, currency, "the table's rate"), (
        f"{source} (rate table as of {IN_KIND_RATES.as_of})"
    )


@router.post(
    "/funds/{fund_id}/in-kind-pledges",
    status_code=201,
    response_model=InKindPledgePublic,
    tags=["in-kind"],
    responses=_MONEY,
)
async def pledge_in_kind(
    fund_id: uuid.UUID,
    body: InKindPledgeCreate,
    session: SessionDep,
    request: Request,
    principal: Pledger,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Technical skills pledged: staff-days of a profession, valued in the fund's currency at the
    rate table's daily rate, or at a rate given (and recorded with its source). Recorded in the
    ledger's in-kind accounts: never part of a cash balance. Same callers as cash pledges."""

    async def pledge() -> InKindPledgePublic:
        fund = await existing_fund(session, fund_id)
        donor_id = domain.pledging_donor(principal, fund_id)
        domain.check_open_for_pledges(fund.status, fund_id)
        earmark = body.earmark.terms() if body.earmark else None
        domain.check_earmark_fits_fund(earmark, fund.eligible_domains, fund_id)
        rate_minor, rate_source = _in_kind_rate(body, fund.currency, principal.subject)
        value = domain.staff_days_value(
            body.staff_days, money.from_minor_units(rate_minor, fund.currency), fund.currency
        )
        record = InKindPledge(
            fund_id=fund_id,
            donor_id=donor_id,
            recorded_by=principal.subject,
            donor_name=body.donor_name,
            donor_kind=body.donor_kind,
            profession=body.profession,
            description=body.description,
            staff_days=body.staff_days,
            daily_rate_minor=rate_minor,
            currency=fund.currency,
            rate_source=rate_source,
            value_minor=value,
            **EarmarkColumns.columns_of(earmark),
        )
        session.add(record)
        await session.flush()
        await ledger.post(
            session,
            ledger.LedgerMovement(
                fund_id=fund_id,
                kind=MovementKind.IN_KIND_PLEDGE,
                recorded_by=principal.subject,
                memo=f"in-kind pledge {record.id}: {body.staff_days} staff-days {body.profession}",
            ),
            accounts.in_kind_pledge(value, fund.currency),
        )
        public = InKindPledgePublic.of(record, [])
        await record_fund_event(
            session,
            contracts.IN_KIND_PLEDGED,
            fund_id,
            contracts.InKindPledged(
                in_kind_pledge_id=record.id,
                earmark=_earmark_payload(record),
                **public.model_dump(
                    include={
                        "fund_id",
                        "donor_id",
                        "donor_name",
                        "donor_kind",
                        "profession",
                        "staff_days",
                        "daily_rate",
                        "currency",
                        "rate_source",
                        "value",
                    }
                ),
            ),
        )
        return public

    return await idempotent(session, request, idempotency_key, body, pledge, required=True)


async def _deliveries_of(
    session: AsyncSession, pledge_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[InKindDelivery]]:
    found: dict[uuid.UUID, list[InKindDelivery]] = defaultdict(list)
    for delivery in await session.exec(
        select(InKindDelivery)
        .where(col(InKindDelivery.in_kind_pledge_id).in_(pledge_ids))
        .order_by(col(InKindDelivery.recorded_at), col(InKindDelivery.id))
    ):
        found[delivery.in_kind_pledge_id].append(delivery)
    return found


@router.get(
    "/funds/{fund_id}/in-kind-pledges",
    response_model=list[InKindPledgePublic],
    tags=["in-kind"],
    responses=_FORBIDDEN,
)
async def list_in_kind_pledges(
    fund_id: uuid.UUID, session: SessionDep, principal: Reader
) -> list[InKindPledgePublic]:
    """As for cash pledges: all for the fund's administrators, a donor's own for a donor."""
    await existing_fund(session, fund_id)
    query = select(InKindPledge).where(InKindPledge.fund_id == fund_id)
    query = _seen_by(query, InKindPledge.donor_id, principal, fund_id)
    pledges = (
        await session.exec(query.order_by(col(InKindPledge.pledged_at), col(InKindPledge.id)))
    ).all()
    deliveries = await _deliveries_of(session, [p.id for p in pledges])
    return [InKindPledgePublic.of(p, deliveries[p.id]) for p in pledges]


@router.post(
    "/funds/{fund_id}/in-kind-pledges/{in_kind_pledge_id}/deliveries",
    status_code=201,
    response_model=InKindDeliveryPublic,
    tags=["in-kind"],
    responses=_MONEY,
)
async def report_delivery(
    fund_id: uuid.UUID,
    in_kind_pledge_id: uuid.UUID,
    body: InKindDeliveryCreate,
    session: SessionDep,
    request: Request,
    principal: FundAdmin,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """The fund's administrator reports staff-days delivered to a partnership, valued at the
    pledge's rate; never more than remain to deliver."""

    async def deliver() -> InKindDeliveryPublic:
        await existing_fund(session, fund_id)
        domain.check_administers(principal, fund_id, "report deliveries")
        await ledger.lock_fund(session, fund_id)
        pledge = await session.get(InKindPledge, in_kind_pledge_id)
        if pledge is None or pledge.fund_id != fund_id:
            raise NotFound(f"no in-kind pledge {in_kind_pledge_id} in fund {fund_id}")
        domain.check_delivery_fits_earmark(pledge.earmark, body.agreement_id, pledge.id)
        earlier = (await _deliveries_of(session, [pledge.id]))[pledge.id]
        value = domain.delivery_value(
            sum((d.staff_days for d in earlier), Decimal(0)),
            body.staff_days,
            pledge.staff_days,
            money.from_minor_units(pledge.daily_rate_minor, pledge.currency),
            pledge.currency,
            pledge.id,
        )
        delivery = InKindDelivery(
            in_kind_pledge_id=pledge.id,
            fund_id=fund_id,
            agreement_id=body.agreement_id,
            staff_days=body.staff_days,
            value_minor=value,
            delivered_on=body.delivered_on,
            note=body.note,
            recorded_by=principal.subject,
        )
        session.add(delivery)
        await session.flush()
        await ledger.post(
            session,
            ledger.LedgerMovement(
                fund_id=fund_id,
                kind=MovementKind.IN_KIND_DELIVERY,
                recorded_by=principal.subject,
                agreement_id=body.agreement_id,
                memo=f"in-kind pledge {pledge.id}: delivery {delivery.id}",
            ),
            accounts.in_kind_delivery(value, pledge.currency),
        )
        public = InKindDeliveryPublic.of(delivery, pledge.currency)
        await record_fund_event(
            session,
            contracts.IN_KIND_DELIVERED,
            fund_id,
            contracts.InKindDelivered(
                delivery_id=delivery.id,
                fund_id=fund_id,
                **public.model_dump(
                    include={
                        "in_kind_pledge_id",
                        "agreement_id",
                        "staff_days",
                        "value",
                        "currency",
                        "delivered_on",
                    }
                ),
            ),
        )
        return public

    return await idempotent(session, request, idempotency_key, body, deliver, required=True)


from services.funding.transparency.api import router as transparency  # noqa: E402

router.include_router(transparency)

from services.funding.grants.api import router as grants  # noqa: E402

router.include_router(grants)
