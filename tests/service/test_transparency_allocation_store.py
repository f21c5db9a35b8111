"""The allocation's own queries over a real database: receipts' unallocated money read from the
ledger (net of the fee), tranches that cannot be paid twice, rows the database keeps as they
are. Receipts are made through the donors' API; `allocate` is called as grants' payment
transaction calls it."""

import uuid

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding.ledger import accounts
from services.funding.ledger import store as ledger
from services.funding.ledger.accounts import MovementKind
from services.funding.ledger.store import LedgerMovement
from services.funding.transparency import allocation
from services.funding.transparency.allocation import Allocation, EarmarkedFundsInsufficient, Tier
from shared.errors import Conflict
from tests.helpers import ServiceUnderTest
from tests.service.test_funding import create_fund, fund_admin, pledge_as
from tests.service.test_grants import post

AGREEMENT = uuid.uuid4()


async def fund_with_receipts(funding: ServiceUnderTest) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A EUR fund with a 2% fee and two receipts: 1000.00 unearmarked (980.00 net), then
    500.00 earmarked to AGREEMENT (490.00 net). Returns the fund and the receipts' ids."""
    fund = await create_fund(funding, admin_fee_rate="0.02")
    admin = fund_admin(fund["id"])
    receipts = []
    for amount, earmark in (("1000.00", None), ("500.00", {"agreement_id": str(AGREEMENT)})):
        pledge = await pledge_as(
            funding, fund["id"], admin, amount=amount, currency="EUR", earmark=earmark
        )
        url = f"/funds/{fund['id']}/pledges/{pledge['id']}/receipts"
        receipts.append(uuid.UUID((await post(funding, url, admin, 201, amount=amount))["id"]))
    return uuid.UUID(fund["id"]), receipts


async def allocate_in(
    session: AsyncSession, fund_id: uuid.UUID, tranche_id: uuid.UUID, amount: int
) -> list[tuple[uuid.UUID, int, str]]:
    rows = await allocation.allocate(
        session,
        fund_id=fund_id,
        tranche_id=tranche_id,
        agreement_id=AGREEMENT,
        amount_minor=amount,
        currency="EUR",
    )
    return [(row.receipt_id, row.amount_minor, row.tier) for row in rows]


async def pay(
    funding: ServiceUnderTest, fund_id: uuid.UUID, tranche_id: uuid.UUID, amount: int
) -> list[tuple[uuid.UUID, int, str]]:
    """A tranche paid as grants pays it: committed, disbursed and allocated in one
    transaction (the ledger movements written directly, naming the tranche)."""
    async with funding.runtime.sessions() as session:
        for kind, lines in (
            (MovementKind.COMMITMENT, accounts.commitment(amount, "EUR")),
            (MovementKind.DISBURSEMENT, accounts.disbursement(amount, "EUR")),
        ):
            movement = LedgerMovement(
                fund_id=fund_id, kind=kind, recorded_by="test", tranche_id=tranche_id
            )
            await ledger.post(session, movement, lines)
        shares = await allocate_in(session, fund_id, tranche_id, amount)
        await session.commit()
    return shares


async def test_receipts_pay_net_of_the_fee_and_what_one_tranche_took_the_next_cannot(
    funding: ServiceUnderTest,
) -> None:
    fund_id, (plain, earmarked) = await fund_with_receipts(funding)
    assert await pay(funding, fund_id, uuid.uuid4(), 600_00) == [
        (earmarked, 490_00, "agreement"),
        (plain, 110_00, "unearmarked"),
    ]
    assert await pay(funding, fund_id, uuid.uuid4(), 870_00) == [(plain, 870_00, "unearmarked")]
    with pytest.raises(EarmarkedFundsInsufficient, match=r"have 0\.00 EUR unallocated"):
        await pay(funding, fund_id, uuid.uuid4(), 1)


async def test_a_tranche_is_paid_for_once(funding: ServiceUnderTest) -> None:
    fund_id, _ = await fund_with_receipts(funding)
    tranche = uuid.uuid4()
    await pay(funding, fund_id, tranche, 100_00)
    with pytest.raises(Conflict, match=f"tranche {tranche} is already paid for"):
        await pay(funding, fund_id, tranche, 100_00)


async def test_the_database_refuses_to_change_or_remove_allocations(
    funding: ServiceUnderTest,
) -> None:
    fund_id, _ = await fund_with_receipts(funding)
    await pay(funding, fund_id, uuid.uuid4(), 100_00)
    async with funding.runtime.sessions() as session:
        for statement in (
            "UPDATE fund_allocations SET amount_minor = 1",
            "DELETE FROM fund_allocations",
        ):
            with pytest.raises(DBAPIError, match="append-only"):
                async with session.begin_nested():
                    await session.exec(text(statement))  # type: ignore[call-overload]


async def test_allocations_that_disagree_with_the_ledger_are_reported(
    funding: ServiceUnderTest,
) -> None:
    """Allocations without a payment in the ledger are what allocation_problems exists to catch,
    and so is a receipt paying out more than it brought (written, never committed, here)."""
    fund_id, (plain, _) = await fund_with_receipts(funding)
    async with funding.runtime.sessions() as session:
        assert await allocation.allocation_problems(session) == []
    tranche = uuid.uuid4()
    async with funding.runtime.sessions() as session:  # rolled back at the end
        await allocate_in(session, fund_id, tranche, 100_00)  # and no payment in the ledger
        session.add(
            Allocation(
                fund_id=fund_id,
                tranche_id=uuid.uuid4(),
                agreement_id=AGREEMENT,
                receipt_id=plain,
                pledge_id=uuid.uuid4(),
                amount_minor=2000_00,
                currency="EUR",
                tier=Tier.UNEARMARKED,
            )
        )
        await session.flush()
        problems = await allocation.allocation_problems(session)
    assert problems[0] == f"receipt {plain} pays out 200000, more than the 98000 it brought in"
    assert f"tranche {tranche} was paid 0 and allocated 10000" in problems
    assert len(problems) == 3
