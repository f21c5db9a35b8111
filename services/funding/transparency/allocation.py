"""Which received contributions paid for each disbursement: the allocation rule and its table.

The rule (one home: `allocate_amount`), "most restricted money first, oldest first":

1. Only receipts the payment may use are eligible. A receipt carries its pledge's earmark (one
   kind, see services.funding.domain.Earmark); it may pay for a tranche when the earmark holds:
   an agreement earmark names this agreement; a domain earmark is one of the agreement's
   domains; a country earmark is the country of one of its beneficiary cities, and its region,
   when it names one, is one of theirs too (by name, ignoring case). An unearmarked receipt may
   pay for anything.
2. Eligible receipts are used in three tiers: first those earmarked to this very agreement, then
   those earmarked by domain or by country/region, then the unearmarked ones. Restricted money
   is spent where it may be spent before flexible money, so that unearmarked money stays free
   for the partnerships no earmark covers.
3. Within a tier, oldest receipt first (first in, first out; ties by receipt id so the same
   inputs always give the same allocation). A receipt may be split across disbursements.
4. Amounts are in the fund's currency, net of the administration fee: what the receipt put in
   `available`. When the eligible receipts' unallocated money does not cover the payment, the
   payment is refused (409) even if the fund has other money available: that money is
   earmarked to something else.

When: `allocate` runs in the transaction that pays a tranche (grants' `tranches._disburse`),
after the ledger movement, so that a refusal rolls the payment back: no ledger entry without
its allocation. Allocations are append-only (database triggers, as for the ledger): what paid
for a disbursement is history, never edited."""

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, func
from sqlmodel import Field, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding.domain import Earmark
from services.funding.ledger.accounts import Account, MovementKind, Side
from services.funding.ledger.store import LedgerEntry, LedgerMovement, append_only, lock_fund
from services.funding.models import FundingTable, Pledge
from shared import money
from shared.db import UTCDateTime, utcnow
from shared.errors import Conflict

RULE = (
    "most restricted money first (earmarked to the agreement, then by domain or country/region, "
    "then unearmarked), oldest receipt first within each"
)


class Tier(StrEnum):
    """The tiers of eligible receipts, in the order they are spent."""

    AGREEMENT = "agreement"
    EARMARK = "earmark"
    UNEARMARKED = "unearmarked"


_SPENDING_ORDER = {tier: rank for rank, tier in enumerate(Tier)}


@dataclass(frozen=True)
class Target:
    """What a payment is for: the agreement, its domains, and the countries and regions (by
    name) of its beneficiary cities."""

    agreement_id: uuid.UUID
    domains: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    countries: frozenset[str] = frozenset()

    @classmethod
    def of(
        cls,
        agreement_id: uuid.UUID,
        domains: Iterable[str] = (),
        regions: Iterable[str] = (),
        countries: Iterable[str] = (),
    ) -> "Target":
        return cls(
            agreement_id,
            frozenset(domains),
            frozenset(_region_key(r) for r in regions),
            frozenset(c.upper() for c in countries),
        )


def _region_key(name: str) -> str:
    """Regions are free text in the registry: compared without case or surrounding spaces."""
    return name.strip().casefold()


@dataclass(frozen=True)
class Source:
    """A receipt's money still unallocated, in the fund's currency, net of the fee."""

    receipt_id: uuid.UUID
    pledge_id: uuid.UUID
    donor_id: uuid.UUID | None
    received_at: datetime
    remaining_minor: int
    earmark: Earmark | None = None


@dataclass(frozen=True)
class Share:
    """How much of one receipt pays for the payment, and under which tier of the rule."""

    source: Source
    amount_minor: int
    tier: Tier


def tier_of(earmark: Earmark | None, target: Target) -> Tier | None:
    """The tier in which a receipt under `earmark` may pay for `target`; None: it may not. An
    earmark names one thing (services.funding.domain.Earmark): an agreement, a domain, or a
    country with, optionally, a region of it."""
    if earmark is None:
        return Tier.UNEARMARKED
    if earmark.agreement_id is not None:
        return Tier.AGREEMENT if earmark.agreement_id == target.agreement_id else None
    if earmark.domain is not None:
        return Tier.EARMARK if earmark.domain in target.domains else None
    in_country = earmark.country_code is not None and earmark.country_code in target.countries
    in_region = earmark.region is None or _region_key(earmark.region) in target.regions
    return Tier.EARMARK if in_country and in_region else None


class EarmarkedFundsInsufficient(Conflict):
    """The money the payment may use does not cover it (the rest is earmarked elsewhere)."""


def allocate_amount(
    sources: Iterable[Source], target: Target, amount_minor: int, currency: str
) -> list[Share]:
    """The shares of `sources` that pay `amount_minor` for `target`, by the rule above."""
    if amount_minor <= 0:
        raise ValueError(f"an allocation needs a positive amount, not {amount_minor}")
    ranked = sorted(
        (
            (tier, source)
            for source in sources
            if source.remaining_minor > 0 and (tier := tier_of(source.earmark, target))
        ),
        key=lambda pair: (_SPENDING_ORDER[pair[0]], pair[1].received_at, str(pair[1].receipt_id)),
    )
    eligible = sum(source.remaining_minor for _, source in ranked)
    if eligible < amount_minor:
        raise EarmarkedFundsInsufficient(
            f"the receipts that may pay for agreement {target.agreement_id} have "
            f"{money.from_minor_units(eligible, currency)} {currency} unallocated, less than the "
            f"{money.from_minor_units(amount_minor, currency)} {currency} asked; the fund's "
            f"other money is earmarked elsewhere (allocation rule: {RULE})"
        )
    shares: list[Share] = []
    left = amount_minor
    for tier, source in ranked:
        if left == 0:
            break
        taken = min(left, source.remaining_minor)
        shares.append(Share(source, taken, tier))
        left -= taken
    return shares


class Allocation(FundingTable, table=True):
    """A part of one receipt that paid for one tranche."""

    __tablename__ = "fund_allocations"
    __table_args__ = (CheckConstraint("amount_minor > 0", name="allocation_amount_positive"),)

    id: uuid.UUID = Field(default_factory=uuid.uuid4, primary_key=True)
    fund_id: uuid.UUID = Field(foreign_key="funds.id", index=True)
    tranche_id: uuid.UUID = Field(index=True)
    agreement_id: uuid.UUID = Field(index=True)
    receipt_id: uuid.UUID = Field(index=True)
    pledge_id: uuid.UUID = Field(index=True)
    donor_id: uuid.UUID | None = Field(default=None, index=True)
    amount_minor: int = Field(sa_type=BigInteger)
    currency: str = Field(max_length=3, description="the fund's currency")
    tier: Tier
    allocated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


append_only("fund_allocations")


async def receipt_sources(session: AsyncSession, fund_id: uuid.UUID, currency: str) -> list[Source]:
    """The fund's receipts with money still unallocated, in one query of plain columns (a
    payment runs it under the fund's lock). The amounts come from the ledger: what each receipt
    movement put in `available` (its one debit there, see ledger.accounts.receipt), i.e. in the
    fund's currency, net of the fee; "oldest first" is the order the ledger recorded them."""
    spent = (
        select(Allocation.receipt_id, func.sum(Allocation.amount_minor).label("amount"))
        .where(Allocation.fund_id == fund_id)
        .group_by(col(Allocation.receipt_id))
        .subquery()
    )
    remaining = LedgerEntry.amount_minor - func.coalesce(spent.c.amount, 0)
    rows = (
        await session.exec(
            select(
                LedgerMovement.receipt_id,
                LedgerMovement.pledge_id,
                LedgerMovement.recorded_at,
                remaining,
                Pledge.donor_id,
                Pledge.earmark_domain,
                Pledge.earmark_country,
                Pledge.earmark_region,
                Pledge.earmark_agreement_id,
            )
            .join(LedgerEntry, col(LedgerEntry.movement_id) == LedgerMovement.id)
            .join(Pledge, col(Pledge.id) == LedgerMovement.pledge_id)
            .outerjoin(spent, spent.c.receipt_id == LedgerMovement.receipt_id)
            .where(
                LedgerMovement.fund_id == fund_id,
                LedgerMovement.kind == MovementKind.RECEIPT,
                LedgerEntry.account == Account.AVAILABLE,
                LedgerEntry.side == Side.DEBIT,
                LedgerEntry.currency == currency,
                remaining > 0,
            )
        )
    ).all()
    return [
        Source(
            receipt_id=receipt_id,
            pledge_id=pledge_id,
            donor_id=donor_id,
            received_at=recorded_at,
            remaining_minor=int(left),
            earmark=_earmark(*earmark),
        )
        for receipt_id, pledge_id, recorded_at, left, donor_id, *earmark in rows
    ]


def _earmark(
    domain: str | None, country: str | None, region: str | None, agreement: uuid.UUID | None
) -> Earmark | None:
    if domain is None and country is None and region is None and agreement is None:
        return None
    return Earmark(domain, country, region, agreement)


async def allocate(
    session: AsyncSession,
    *,
    fund_id: uuid.UUID,
    tranche_id: uuid.UUID,
    agreement_id: uuid.UUID,
    amount_minor: int,
    currency: str,
    domains: Iterable[str] = (),
    regions: Iterable[str] = (),
    countries: Iterable[str] = (),
) -> list[Allocation]:
    """Record which receipts pay `amount_minor` (in the fund's `currency`) for tranche
    `tranche_id` of `agreement_id`, in the caller's transaction (the disbursement's), by the
    rule in this module's docstring. Raises EarmarkedFundsInsufficient (409) when the money
    the tranche may use does not cover it, and Conflict if the tranche was already allocated."""
    await lock_fund(session, fund_id)
    already = (
        await session.exec(select(Allocation.id).where(Allocation.tranche_id == tranche_id))
    ).first()
    if already is not None:
        raise Conflict(f"tranche {tranche_id} is already paid for: it cannot be paid twice")
    target = Target.of(agreement_id, domains, regions, countries)
    shares = allocate_amount(
        await receipt_sources(session, fund_id, currency), target, amount_minor, currency
    )
    rows = [
        Allocation(
            fund_id=fund_id,
            tranche_id=tranche_id,
            agreement_id=agreement_id,
            receipt_id=share.source.receipt_id,
            pledge_id=share.source.pledge_id,
            donor_id=share.source.donor_id,
            amount_minor=share.amount_minor,
            currency=currency,
            tier=share.tier,
        )
        for share in shares
    ]
    session.add_all(rows)
    await session.flush()
    return rows


async def allocation_problems(session: AsyncSession) -> list[str]:
    """What is wrong between the allocations and the ledger, if anything: no receipt pays out
    more than it put in `available`, and every tranche paid is paid for exactly by its
    allocations (no payment without them, none without a payment). Cheap enough for a test's
    end or a health check, like ledger.store.invariant_violations."""
    net = _entry_totals(MovementKind.RECEIPT, LedgerMovement.receipt_id, Account.AVAILABLE)
    paid = _entry_totals(MovementKind.DISBURSEMENT, LedgerMovement.tranche_id, Account.DISBURSED)
    allocated = {
        column: await _totals(
            session, select(column, func.sum(Allocation.amount_minor)).group_by(column)
        )
        for column in (Allocation.receipt_id, Allocation.tranche_id)
    }
    received = await _totals(session, net)
    disbursed = await _totals(session, paid)
    problems = [
        f"receipt {receipt_id} pays out {amount}, more than the {received.get(receipt_id, 0)} "
        "it brought in"
        for receipt_id, amount in allocated[Allocation.receipt_id].items()
        if amount > received.get(receipt_id, 0)
    ]
    by_tranche = allocated[Allocation.tranche_id]
    problems += [
        f"tranche {tranche_id} was paid {disbursed.get(tranche_id, 0)} and allocated "
        f"{by_tranche.get(tranche_id, 0)}"
        for tranche_id in sorted(disbursed.keys() | by_tranche.keys(), key=str)
        if disbursed.get(tranche_id, 0) != by_tranche.get(tranche_id, 0)
    ]
    return problems


async def _totals(session: AsyncSession, query: Any) -> dict[uuid.UUID, int]:
    # PostgreSQL sums BIGINT as NUMERIC: back to int, as the ledger does.
    return {key: int(total) for key, total in (await session.exec(query)).all()}


def _entry_totals(kind: MovementKind, reference: Any, account: Account) -> Any:
    """Per `reference` of the movements of `kind`, the total debited to `account`."""
    return (
        select(reference, func.sum(LedgerEntry.amount_minor))
        .join(LedgerEntry, col(LedgerEntry.movement_id) == LedgerMovement.id)
        .where(
            LedgerMovement.kind == kind,
            LedgerEntry.account == account,
            LedgerEntry.side == Side.DEBIT,
        )
        .group_by(reference)
    )
