"""`python -m bench.transparency`: what recording which receipts paid for a tranche adds to a
payment, as a fund's receipts grow, with a baseline measured in the same run.

Every payment already reads the fund's balances (`ledger.require_available`, the baseline);
`allocation.allocate` then reads the receipts that still have money left and applies the rule.
Both run in a SQLite database of funding's own tables holding N receipts (a third earmarked by
country, a tenth to an agreement, the rest free), in a transaction rolled back after each
measure so that every run sees the same fund, in two states: "steady", a fund that has spent
its older money (the oldest 90% of receipts spent in full, as first-in first-out leaves it), and
"worst", every receipt with money left. The pure rule alone (`allocate_amount`, worst state) is
timed too. Synthetic data from a fixed seed.

Each row shows the median of the runs; "ratio" is the time over the previous size's (x2 data:
2 is linear). Progress goes to stderr, the report to stdout."""

import argparse
import asyncio
import functools
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding.domain import DonorKind, Earmark
from services.funding.ledger import store as ledger
from services.funding.ledger.accounts import Account, MovementKind, Side
from services.funding.models import Fund, FundingTable, Pledge
from services.funding.transparency.allocation import (
    Allocation,
    Target,
    allocate,
    allocate_amount,
    receipt_sources,
)
from shared import db

SEED = 2026
STEADY, WORST = 0.9, 0.0  # the share of receipts spent in full
AGREEMENT = uuid.UUID(int=1)
COUNTRIES = ["TG", "ML", "SN", "BF", "HT"]
START = datetime(2026, 1, 1, tzinfo=UTC)


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _earmark(rng: random.Random) -> Earmark | None:
    draw = rng.random()
    if draw < 0.1:
        return Earmark(agreement_id=rng.choice([AGREEMENT, uuid.UUID(int=2)]))
    if draw < 0.43:
        return Earmark(country_code=rng.choice(COUNTRIES))
    return None


async def _fund_with_receipts(
    path: Path, size: int, spent_share: float
) -> tuple[Callable[[], AsyncSession], uuid.UUID]:
    """A fund with `size` pledges, each received once; the oldest `spent_share` of the
    receipts spent in full, the others half."""
    engine = db.create_engine(f"sqlite+aiosqlite:///{path}")
    await db.create_schema(engine, FundingTable.metadata)
    rng = random.Random(SEED)
    fund = Fund(name="bench", currency="EUR")
    pledges, movements, entries, allocations = [], [], [], []
    for n in range(size):
        pledge_id, movement_id, receipt_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        earmark = _earmark(rng)
        columns = Pledge.columns_of(earmark)
        pledges.append(
            {
                "id": pledge_id,
                "fund_id": fund.id,
                "recorded_by": "bench",
                "donor_name": f"donor {n}",
                "donor_kind": DonorKind.CITY,
                "amount_minor": 100_000,
                "currency": "EUR",
                "pledged_at": START,
                **columns,
            }
        )
        movements.append(
            {
                "id": movement_id,
                "fund_id": fund.id,
                "kind": MovementKind.RECEIPT,
                "recorded_by": "bench",
                "recorded_at": START + timedelta(minutes=n),
                "pledge_id": pledge_id,
                "receipt_id": receipt_id,
                "memo": "",
            }
        )
        for account, side in (
            (Account.PLEDGES_RECEIVABLE, Side.CREDIT),
            (Account.AVAILABLE, Side.DEBIT),
        ):
            entries.append(
                {
                    "movement_id": movement_id,
                    "fund_id": fund.id,
                    "account": account,
                    "side": side,
                    "currency": "EUR",
                    "amount_minor": 100_000,
                }
            )
        allocations.append(
            {
                "id": uuid.uuid4(),
                "fund_id": fund.id,
                "tranche_id": uuid.uuid4(),
                "agreement_id": AGREEMENT,
                "receipt_id": receipt_id,
                "pledge_id": pledge_id,
                "amount_minor": 100_000 if n < size * spent_share else 50_000,
                "currency": "EUR",
                "tier": "unearmarked",
                "allocated_at": START,
            }
        )
    sessions = db.session_factory(engine)
    async with sessions() as session:
        session.add(fund)
        await session.flush()
        for table, rows in (
            (Pledge, pledges),
            (ledger.LedgerMovement, movements),
            (ledger.LedgerEntry, entries),
            (Allocation, allocations),
        ):
            await session.exec(insert(table), params=rows)  # type: ignore[call-overload]
        await session.commit()
    return sessions, fund.id


async def _median(run: Callable[[AsyncSession], Awaitable[object]], sessions, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        async with sessions() as session:
            started = time.perf_counter()
            await run(session)
            times.append(time.perf_counter() - started)
            await session.rollback()
    return statistics.median(times)


async def _baseline(session: AsyncSession, fund_id: uuid.UUID) -> None:
    """What every payment reads already: the fund's available balance."""
    await ledger.require_available(session, fund_id, "EUR", 100)


async def _payment(session: AsyncSession, fund_id: uuid.UUID) -> None:
    await _baseline(session, fund_id)
    await allocate(
        session,
        fund_id=fund_id,
        tranche_id=uuid.uuid4(),
        agreement_id=AGREEMENT,
        amount_minor=10_000_00,
        currency="EUR",
        countries=["TG", "FR"],
    )


@dataclass
class Row:
    size: int
    baseline: float  # seconds: the balance read alone (steady state)
    steady: float  # the balance read and the allocation, steady state
    worst: float  # the same, every receipt with money left
    rule: float  # allocate_amount alone over every receipt (worst state)


async def measure(sizes: list[int], repeat: int) -> list[Row]:
    rows = []
    target = Target.of(AGREEMENT, countries=["TG", "FR"])
    with tempfile.TemporaryDirectory() as folder:
        for size in sizes:
            _log(f"{size} receipts: building the funds")
            timed: dict[float, tuple[float, float]] = {}
            for spent_share in (STEADY, WORST):
                path = Path(folder) / f"{size}-{spent_share}.db"
                sessions, fund_id = await _fund_with_receipts(path, size, spent_share)
                timed[spent_share] = (
                    await _median(functools.partial(_baseline, fund_id=fund_id), sessions, repeat),
                    await _median(functools.partial(_payment, fund_id=fund_id), sessions, repeat),
                )
            async with sessions() as session:
                sources = await receipt_sources(session, fund_id, "EUR")
            started = time.perf_counter()
            for _ in range(repeat):
                allocate_amount(sources, target, 10_000_00, "EUR")
            rule = (time.perf_counter() - started) / repeat
            rows.append(Row(size, *timed[STEADY], timed[WORST][1], rule))
    return rows


def report(rows: list[Row]) -> str:
    lines = [
        "city-exchange benchmark: recording which receipts pay a tranche, SQLite",
        f"machine  {os.cpu_count()} CPUs, {platform.machine()}, Python {platform.python_version()}",
        "times in ms (median); ratio: over the previous size (x2 receipts: 2 is linear)",
        "",
        f"{'receipts':>9} {'baseline':>9} {'steady':>9} {'ratio':>6} {'added':>8} "
        f"{'worst':>9} {'ratio':>6} {'added':>8} {'rule alone':>11}",
    ]
    previous: Row | None = None
    for row in rows:

        def ratio(now: float, before: float | None) -> str:
            return f"{now / before:6.2f}" if before else "     -"

        lines.append(
            f"{row.size:>9} {row.baseline * 1000:9.2f} {row.steady * 1000:9.2f} "
            f"{ratio(row.steady, previous and previous.steady)} "
            f"{(row.steady - row.baseline) * 1000:8.2f} {row.worst * 1000:9.2f} "
            f"{ratio(row.worst, previous and previous.worst)} "
            f"{(row.worst - row.baseline) * 1000:8.2f} {row.rule * 1000:11.2f}"
        )
        previous = row
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.transparency", description=__doc__)
    parser.add_argument("--sizes", default="1000,2000,4000,8000,16000,32000")
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    print(report(asyncio.run(measure(sizes, args.repeat))))


if __name__ == "__main__":
    main()
