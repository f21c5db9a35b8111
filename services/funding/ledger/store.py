"""The ledger's tables and the only way to write to them: `post`, a balanced movement at a time.

Entries are append-only: the database itself refuses UPDATE and DELETE on them (triggers on
SQLite and PostgreSQL), so that a correction is always a new, visible movement."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import DDL, BigInteger, CheckConstraint, Integer, event, func, text
from sqlalchemy.orm import Session, SessionTransaction
from sqlmodel import Field, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding.ledger.accounts import Account, Line, MovementKind, Side, check_balanced
from services.funding.ledger.balances import AccountTotal, Balances, derive
from services.funding.models import FundingTable
from shared import money
from shared.db import ExactDecimal, UTCDateTime, utcnow
from shared.errors import Conflict


class LedgerMovement(FundingTable, table=True):
    """One balanced set of entries and what it is about (the references say which pledge,
    receipt, application or tranche; a donor can follow them back)."""

    __tablename__ = "ledger_movements"

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    fund_id: uuid.UUID = Field(foreign_key="funds.id", index=True)
    kind: MovementKind
    recorded_by: str = Field(max_length=100)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    pledge_id: uuid.UUID | None = Field(default=None, index=True)
    receipt_id: uuid.UUID | None = Field(default=None, index=True)
    application_id: uuid.UUID | None = Field(default=None, index=True)
    tranche_id: uuid.UUID | None = Field(default=None, index=True)
    agreement_id: uuid.UUID | None = Field(default=None, index=True)
    # The rate of a conversion at receipt (units of the fund's currency per unit received).
    exchange_rate: Decimal | None = Field(default=None, sa_type=ExactDecimal)
    memo: str = Field(default="", max_length=500)


class LedgerEntry(FundingTable, table=True):
    __tablename__ = "ledger_entries"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="ledger_amount_positive"),)

    seq: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer, "sqlite")
    )
    movement_id: uuid.UUID = Field(foreign_key="ledger_movements.id", index=True)
    fund_id: uuid.UUID = Field(index=True)
    account: Account
    side: Side
    currency: str = Field(max_length=3)
    amount_minor: int = Field(sa_type=BigInteger)


def append_only(table_name: str) -> None:
    message = f"{table_name} is append-only: post a correcting movement instead"
    sqlite = [
        f"CREATE TRIGGER {table_name}_no_{op.lower()} BEFORE {op} ON {table_name} "
        f"BEGIN SELECT RAISE(ABORT, '{message}'); END"
        for op in ("UPDATE", "DELETE")
    ]
    postgresql = [
        f"CREATE OR REPLACE FUNCTION {table_name}_append_only() RETURNS trigger "
        f"LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION '{message}'; END $$",
        f"CREATE TRIGGER {table_name}_append_only BEFORE UPDATE OR DELETE ON {table_name} "
        f"FOR EACH ROW EXECUTE FUNCTION {table_name}_append_only()",
    ]
    table = FundingTable.metadata.tables[table_name]
    for dialect, statements in (("sqlite", sqlite), ("postgresql", postgresql)):
        for statement in statements:
            event.listen(table, "after_create", DDL(statement).execute_if(dialect=dialect))


append_only("ledger_movements")
append_only("ledger_entries")


_FUNDS_LOCKED = "funding_funds_locked"


async def lock_fund(session: AsyncSession, fund_id: uuid.UUID) -> None:
    """Serialise the movements of one fund until the transaction ends, so that a balance read
    and the movement that depends on it cannot interleave with another's. On PostgreSQL a row
    lock on the fund; SQLite transactions here already begin IMMEDIATE (one writer at a time).

    NO KEY UPDATE, not UPDATE: rows referencing the fund (pledges, movements) take KEY SHARE on
    it for their foreign key, which UPDATE conflicts with (two writers that each inserted such a
    row, then asked for the lock, deadlock); NO KEY UPDATE still serialises the fund's writers.

    Taken once per transaction: a route, the allocation and every event it records each ask for
    the lock they rely on, and asking again for a lock already held is a needless round trip."""
    if session.bind.dialect.name != "postgresql":
        return
    held: set[uuid.UUID] = session.info.setdefault(_FUNDS_LOCKED, set())
    if fund_id in held:
        return
    await session.exec(  # type: ignore[call-overload]
        text("SELECT id FROM funds WHERE id = :id FOR NO KEY UPDATE"), params={"id": fund_id}
    )
    held.add(fund_id)


@event.listens_for(Session, "after_transaction_end")
def _forget_locks(session: Session, _transaction: SessionTransaction) -> None:
    # The locks end with the transaction (or with the savepoint they were taken in): the next
    # one takes them again. Forgetting on a savepoint's end too only costs a round trip.
    session.info.pop(_FUNDS_LOCKED, None)


async def post(session: AsyncSession, movement: LedgerMovement, lines: Sequence[Line]) -> None:
    """Record `movement` with its lines, in the caller's transaction (with the event that tells
    of it). Refuses an unbalanced set before writing anything."""
    check_balanced(lines)
    session.add(movement)
    await session.flush()
    session.add_all(
        LedgerEntry(
            movement_id=movement.id,
            fund_id=movement.fund_id,
            account=line.account,
            side=line.side,
            currency=line.currency,
            amount_minor=line.amount_minor,
        )
        for line in lines
    )
    await session.flush()


async def balances(session: AsyncSession, fund_id: uuid.UUID) -> dict[str, Balances]:
    rows = await session.exec(
        select(
            LedgerEntry.account,
            LedgerEntry.side,
            LedgerEntry.currency,
            func.sum(LedgerEntry.amount_minor),
        )
        .where(col(LedgerEntry.fund_id) == fund_id)
        .group_by(LedgerEntry.account, LedgerEntry.side, LedgerEntry.currency)
    )
    return derive(
        AccountTotal(Account(account), Side(side), currency, int(total))
        for account, side, currency, total in rows
    )


async def available(session: AsyncSession, fund_id: uuid.UUID, currency: str) -> int:
    found = (await balances(session, fund_id)).get(currency)
    return found.available if found else 0


class InsufficientFunds(Conflict):
    pass


async def require_available(
    session: AsyncSession, fund_id: uuid.UUID, currency: str, amount_minor: int
) -> None:
    """Refuse to spend more than the fund has available. Call after `lock_fund`, in the same
    transaction as the movement that spends it."""
    have = await available(session, fund_id, currency)
    if have < amount_minor:
        raise InsufficientFunds(
            f"the fund has {money.from_minor_units(have, currency)} {currency} available, "
            f"less than the {money.from_minor_units(amount_minor, currency)} {currency} asked"
        )


async def invariant_violations(session: AsyncSession) -> list[str]:
    """What is wrong with the whole ledger, if anything: per fund and currency, debits equal
    credits; no available or committed balance below zero; every movement balanced on its own.
    Checked after every funding test, and cheap enough to run in production as a health check."""
    problems: list[str] = []
    per_movement = await session.exec(
        select(
            LedgerEntry.movement_id,
            LedgerEntry.currency,
            LedgerEntry.side,
            func.sum(LedgerEntry.amount_minor),
        ).group_by(LedgerEntry.movement_id, LedgerEntry.currency, LedgerEntry.side)
    )
    net: dict[tuple[uuid.UUID, str], int] = {}
    for movement_id, currency, side, total in per_movement:
        signed = int(total) if Side(side) is Side.DEBIT else -int(total)
        net[movement_id, currency] = net.get((movement_id, currency), 0) + signed
    problems += [
        f"movement {movement_id} is unbalanced in {currency} by {amount}"
        for (movement_id, currency), amount in net.items()
        if amount
    ]
    fund_ids = (await session.exec(select(LedgerEntry.fund_id).distinct())).all()
    for fund_id in fund_ids:
        for currency, found in (await balances(session, fund_id)).items():
            for name in ("available", "committed", "outstanding"):
                if getattr(found, name) < 0:
                    problems.append(f"fund {fund_id}: {name} {currency} is {getattr(found, name)}")
    return problems
