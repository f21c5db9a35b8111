"""The donor's "where did my money go" and the fund's public transparency view, as pure
functions of `FundFacts`.

Attribution: a receipt's money reaches an agreement through the allocations (see `allocation`);
the flows follow it. An agreement with several domains counts its money in each in equal parts
(remainder to the first, so totals add up); its country is its recipient's, the city that applied
for the grant. Amounts are in the fund's currency unless a row says otherwise (pledges are in
the currency pledged)."""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal

from sqlmodel import Field, SQLModel

from services.funding.domain import DonorKind
from services.funding.grants.domain import TrancheStatus
from services.funding.grants.models import Tranche
from services.funding.models import EarmarkBody, Pledge, Receipt
from services.funding.transparency.allocation import Allocation
from services.funding.transparency.facts import (
    WITHHELD_REASON,
    FundFacts,
    Privacy,
)
from shared import money

UNSPECIFIED = "unspecified"


class AmountIn(SQLModel):
    amount: Decimal
    currency: str


# --- where did my money go ---------------------------------------------------------------------


class PaidFor(SQLModel):
    agreement_id: uuid.UUID
    agreement: str = Field(description="its title; 'withheld' for a partnership in a conflict zone")
    countries: list[str]
    tranche_id: uuid.UUID
    tranche: str | None = Field(description="the milestone it paid; null when withheld")
    status: TrancheStatus | None
    amount: Decimal
    disbursed_at: datetime | None


class ReceiptTrail(SQLModel):
    receipt_id: uuid.UUID
    received_on: date
    received: AmountIn = Field(description="as received, in the pledge's currency")
    exchange_rate: Decimal | None
    converted: Decimal = Field(description="in the fund's currency at the rate recorded")
    fee: Decimal
    net: Decimal = Field(description="what the fund could spend: converted less the fee")
    paid_for: list[PaidFor]
    unspent: Decimal


class PledgeTrail(SQLModel):
    pledge_id: uuid.UUID
    pledged_at: datetime
    pledged: AmountIn
    earmark: EarmarkBody | None
    receipts: list[ReceiptTrail]
    net_received: Decimal
    spent: Decimal
    unspent: Decimal


class Delivered(SQLModel):
    agreement_id: uuid.UUID
    agreement: str = Field(description="its title; 'withheld' for a partnership in a conflict zone")
    staff_days: Decimal
    value: Decimal
    delivered_on: date


class ExpertiseTrail(SQLModel):
    """Technical assistance pledged in kind: valued, never cash."""

    in_kind_pledge_id: uuid.UUID
    profession: str
    staff_days: Decimal
    value: Decimal = Field(description="at the daily rate recorded on the pledge")
    deliveries: list[Delivered]
    staff_days_to_deliver: Decimal


class MoneyTrail(SQLModel):
    fund_id: uuid.UUID
    donor_id: uuid.UUID
    currency: str = Field(description="the fund's: every amount not otherwise labelled")
    pledges: list[PledgeTrail]
    expertise: list[ExpertiseTrail]
    net_received: Decimal
    spent: Decimal
    unspent: Decimal
    note: str = WITHHELD_REASON


def money_trail(facts: FundFacts, donor_id: uuid.UUID, *, withhold: bool) -> MoneyTrail:
    """The donor's pledges, what was received of each, and what each receipt paid for.
    `withhold`: hide partnerships in conflict zones (a donor asking); not for the fund's
    administrators, who decided those grants."""
    currency = facts.fund.currency
    privacy = facts.privacy()
    tranches = {t.id: t for t in facts.tranches}
    paid_by_receipt: dict[uuid.UUID, list[Allocation]] = defaultdict(list)
    for paid in facts.paid:
        paid_by_receipt[paid.receipt_id].append(paid)

    def paid_for(paid: Allocation) -> PaidFor:
        tranche = tranches.get(paid.tranche_id)
        hidden = withhold and privacy.withheld(paid.agreement_id)
        return PaidFor(
            agreement_id=paid.agreement_id,
            agreement=privacy.agreement_title(paid.agreement_id, withhold=withhold),
            countries=privacy.countries(paid.agreement_id),
            tranche_id=paid.tranche_id,
            tranche=None if hidden or tranche is None else tranche.title,
            status=tranche.status if tranche else None,
            amount=money.from_minor_units(paid.amount_minor, currency),
            disbursed_at=tranche.disbursed_at if tranche else None,
        )

    def receipt_trail(receipt: Receipt) -> tuple[ReceiptTrail, int, int]:
        net = receipt.converted_minor - receipt.fee_minor
        paid = sorted(paid_by_receipt[receipt.id], key=lambda p: _when(tranches.get(p.tranche_id)))
        spent = sum(p.amount_minor for p in paid)
        trail = ReceiptTrail(
            receipt_id=receipt.id,
            received_on=receipt.received_on,
            received=AmountIn(
                amount=money.from_minor_units(receipt.amount_minor, receipt.currency),
                currency=receipt.currency,
            ),
            exchange_rate=receipt.exchange_rate,
            converted=money.from_minor_units(receipt.converted_minor, currency),
            fee=money.from_minor_units(receipt.fee_minor, currency),
            net=money.from_minor_units(net, currency),
            paid_for=[paid_for(p) for p in paid],
            unspent=money.from_minor_units(net - spent, currency),
        )
        return trail, net, spent

    receipts_of: dict[uuid.UUID, list[Receipt]] = defaultdict(list)
    for receipt in facts.receipts:
        receipts_of[receipt.pledge_id].append(receipt)
    pledges: list[PledgeTrail] = []
    total_net = total_spent = 0
    for pledge in (p for p in facts.pledges if p.donor_id == donor_id):
        trails = [receipt_trail(r) for r in receipts_of[pledge.id]]
        net = sum(n for _, n, _ in trails)
        spent = sum(s for _, _, s in trails)
        total_net, total_spent = total_net + net, total_spent + spent
        pledges.append(
            PledgeTrail(
                pledge_id=pledge.id,
                pledged_at=pledge.pledged_at,
                pledged=AmountIn(
                    amount=money.from_minor_units(pledge.amount_minor, pledge.currency),
                    currency=pledge.currency,
                ),
                earmark=EarmarkBody.of(pledge.earmark),
                receipts=[trail for trail, _, _ in trails],
                net_received=money.from_minor_units(net, currency),
                spent=money.from_minor_units(spent, currency),
                unspent=money.from_minor_units(net - spent, currency),
            )
        )
    return MoneyTrail(
        fund_id=facts.fund.id,
        donor_id=donor_id,
        currency=currency,
        pledges=pledges,
        expertise=_expertise(facts, donor_id, withhold=withhold),
        net_received=money.from_minor_units(total_net, currency),
        spent=money.from_minor_units(total_spent, currency),
        unspent=money.from_minor_units(total_net - total_spent, currency),
    )


def _expertise(facts: FundFacts, donor_id: uuid.UUID, *, withhold: bool) -> list[ExpertiseTrail]:
    privacy = facts.privacy()
    currency = facts.fund.currency

    trails = []
    for pledge in (p for p in facts.in_kind_pledges if p.donor_id == donor_id):
        deliveries = [d for d in facts.in_kind_deliveries if d.in_kind_pledge_id == pledge.id]
        trails.append(
            ExpertiseTrail(
                in_kind_pledge_id=pledge.id,
                profession=pledge.profession,
                staff_days=pledge.staff_days,
                value=money.from_minor_units(pledge.value_minor, currency),
                deliveries=[
                    Delivered(
                        agreement_id=d.agreement_id,
                        agreement=privacy.agreement_title(d.agreement_id, withhold=withhold),
                        staff_days=d.staff_days,
                        value=money.from_minor_units(d.value_minor, currency),
                        delivered_on=d.delivered_on,
                    )
                    for d in deliveries
                ],
                staff_days_to_deliver=pledge.staff_days - sum(d.staff_days for d in deliveries),
            )
        )
    return trails


def _when(tranche: Tranche | None) -> tuple[bool, str]:
    """Disbursed tranches first, in the order they were paid; then those still committed."""
    if tranche is None or tranche.disbursed_at is None:
        return True, str(tranche.id if tranche else "")
    return False, tranche.disbursed_at.isoformat()


# --- the public transparency view --------------------------------------------------------------


class Totals(SQLModel):
    pledged: list[AmountIn] = Field(description="per currency pledged, net of cancellations")
    received: Decimal = Field(description="received, converted to the fund's currency")
    admin_fees: Decimal
    available: Decimal
    committed: Decimal
    disbursed: Decimal
    in_kind_pledged: Decimal = Field(description="technical assistance, valued; never cash")
    in_kind_delivered: Decimal


class DonorRow(SQLModel):
    donor: str = Field(
        description="a public body's name; private donors (people, companies, foundations, "
        "communities) are counted by kind, never named"
    )
    donor_kind: DonorKind
    donors: int = Field(description="how many donors this row stands for")
    received: Decimal
    disbursed: Decimal


class KindRow(SQLModel):
    donor_kind: DonorKind
    donors: int
    received: Decimal
    disbursed: Decimal


class DomainRow(SQLModel):
    domain: str
    agreements: int
    disbursed: Decimal


class CountryRow(SQLModel):
    country_code: str
    agreements: int
    disbursed: Decimal


class Flow(SQLModel):
    donor_kind: DonorKind
    domain: str
    country_code: str
    amount: Decimal


class MonthRow(SQLModel):
    month: str = Field(description="YYYY-MM")
    received: Decimal
    disbursed: Decimal


class GrantRow(SQLModel):
    agreement: str
    cities: list[str]
    countries: list[str]
    domains: list[str]
    awarded: Decimal
    disbursed: Decimal
    awarded_on: date | None


class TransparencyView(SQLModel):
    fund_id: uuid.UUID
    name: str
    currency: str
    purpose: str
    totals: Totals
    donors: list[DonorRow]
    by_donor_kind: list[KindRow]
    by_domain: list[DomainRow]
    by_country: list[CountryRow]
    flows: list[Flow] = Field(description="from donor kinds to domains and countries")
    over_time: list[MonthRow]
    grants: list[GrantRow]
    withheld: str = WITHHELD_REASON


def split_evenly(amount_minor: int, parts: int) -> list[int]:
    """`amount_minor` in `parts` as equal as minor units allow, the remainder to the first."""
    share, remainder = divmod(amount_minor, parts)
    return [share + (1 if i < remainder else 0) for i in range(parts)]


def _recipient_countries(facts: FundFacts) -> dict[uuid.UUID, str]:
    """Per agreement, the country of the city that applied (the recipient of the money)."""
    privacy = facts.privacy()
    return {
        a.agreement_id: privacy.country(a.applicant_city_id) or UNSPECIFIED
        for a in facts.applications
    }


def _domains(facts: FundFacts, agreement_id: uuid.UUID) -> list[str]:
    agreement = facts.agreements.get(agreement_id)
    return sorted(agreement.domains) if agreement and agreement.domains else [UNSPECIFIED]


def _flows(facts: FundFacts) -> dict[tuple[DonorKind, str, str], int]:
    """Money paid, by donor kind, domain and recipient country (disbursed tranches only)."""
    countries = _recipient_countries(facts)
    disbursed = {t.id for t in facts.tranches if t.status is TrancheStatus.DISBURSED}
    flows: dict[tuple[DonorKind, str, str], int] = defaultdict(int)
    for paid in facts.paid:
        if paid.tranche_id not in disbursed:
            continue
        kind = facts.pledge(paid.pledge_id).donor_kind
        domains = _domains(facts, paid.agreement_id)
        country = countries.get(paid.agreement_id, UNSPECIFIED)
        for domain, share in zip(
            domains, split_evenly(paid.amount_minor, len(domains)), strict=True
        ):
            if share:
                flows[kind, domain, country] += share
    return flows


def _totals(facts: FundFacts) -> Totals:
    currency = facts.fund.currency
    own = facts.balances.get(currency)

    def show(name: str) -> Decimal:
        return money.from_minor_units(getattr(own, name) if own else 0, currency)

    return Totals(
        pledged=[
            AmountIn(amount=money.from_minor_units(b.pledged, c), currency=c)
            for c, b in sorted(facts.balances.items())
            if b.pledged
        ],
        received=show("received"),
        admin_fees=show("admin_fees"),
        available=show("available"),
        committed=show("committed"),
        disbursed=show("disbursed"),
        in_kind_pledged=show("in_kind_pledged"),
        in_kind_delivered=show("in_kind_delivered"),
    )


def _by_donor(facts: FundFacts) -> tuple[list[DonorRow], list[KindRow]]:
    """Per donor (individuals together as one row) and per donor kind."""
    received: dict[uuid.UUID, int] = defaultdict(int)
    for receipt in facts.receipts:
        received[receipt.pledge_id] += receipt.converted_minor
    disbursed_tranches = {t.id for t in facts.tranches if t.status is TrancheStatus.DISBURSED}
    disbursed: dict[uuid.UUID, int] = defaultdict(int)
    for paid in facts.paid:
        if paid.tranche_id in disbursed_tranches:
            disbursed[paid.pledge_id] += paid.amount_minor
    rows: dict[tuple[str, DonorKind], list[Pledge]] = defaultdict(list)
    for pledge in facts.pledges:
        rows[Privacy.donor_name(pledge), pledge.donor_kind].append(pledge)
    currency = facts.fund.currency

    def donors(pledges: Iterable[Pledge]) -> int:
        # A donor is its account, or, offline, its name as recorded.
        return len({p.donor_id or p.donor_name for p in pledges})

    def show(amounts: dict[uuid.UUID, int], pledges: Iterable[Pledge]) -> Decimal:
        return money.from_minor_units(sum(amounts[p.id] for p in pledges), currency)

    by_donor = [
        DonorRow(
            donor=name,
            donor_kind=kind,
            donors=donors(pledges),
            received=show(received, pledges),
            disbursed=show(disbursed, pledges),
        )
        for (name, kind), pledges in sorted(rows.items())
    ]
    kinds: dict[DonorKind, list[Pledge]] = defaultdict(list)
    for pledge in facts.pledges:
        kinds[pledge.donor_kind].append(pledge)
    by_kind = [
        KindRow(
            donor_kind=kind,
            donors=donors(pledges),
            received=show(received, pledges),
            disbursed=show(disbursed, pledges),
        )
        for kind, pledges in sorted(kinds.items())
    ]
    return by_donor, by_kind


def _over_time(facts: FundFacts) -> list[MonthRow]:
    currency = facts.fund.currency
    received: dict[str, int] = defaultdict(int)
    disbursed: dict[str, int] = defaultdict(int)
    for receipt in facts.receipts:
        received[receipt.received_on.strftime("%Y-%m")] += receipt.converted_minor
    for tranche in facts.tranches:
        if tranche.status is TrancheStatus.DISBURSED and tranche.disbursed_at:
            disbursed[tranche.disbursed_at.strftime("%Y-%m")] += tranche.amount_minor
    return [
        MonthRow(
            month=month,
            received=money.from_minor_units(received[month], currency),
            disbursed=money.from_minor_units(disbursed[month], currency),
        )
        for month in sorted(received.keys() | disbursed.keys())
    ]


def _grants(facts: FundFacts) -> list[GrantRow]:
    privacy = facts.privacy()
    currency = facts.fund.currency
    return [
        GrantRow(
            agreement=privacy.agreement_title(a.agreement_id),
            cities=privacy.party_names(a.agreement_id),
            countries=privacy.countries(a.agreement_id),
            domains=_domains(facts, a.agreement_id),
            awarded=money.from_minor_units(facts.awarded_minor(a.id), currency),
            disbursed=money.from_minor_units(facts.disbursed_minor(a.id), currency),
            awarded_on=a.decided_at.date() if a.decided_at else None,
        )
        for a in facts.applications
    ]


def transparency_view(facts: FundFacts) -> TransparencyView:
    currency = facts.fund.currency
    flows = _flows(facts)
    by_domain: dict[str, int] = defaultdict(int)
    by_country: dict[str, int] = defaultdict(int)
    for (_, domain, country), amount in flows.items():
        by_domain[domain] += amount
        by_country[country] += amount
    countries = _recipient_countries(facts)
    agreements_in_domain: dict[str, set[uuid.UUID]] = defaultdict(set)
    agreements_in_country: dict[str, set[uuid.UUID]] = defaultdict(set)
    for application in facts.applications:
        for domain in _domains(facts, application.agreement_id):
            agreements_in_domain[domain].add(application.agreement_id)
        agreements_in_country[countries[application.agreement_id]].add(application.agreement_id)
    by_donor, by_kind = _by_donor(facts)

    def show(amount: int) -> Decimal:
        return money.from_minor_units(amount, currency)

    return TransparencyView(
        fund_id=facts.fund.id,
        name=facts.fund.name,
        currency=currency,
        purpose=facts.fund.purpose,
        totals=_totals(facts),
        donors=by_donor,
        by_donor_kind=by_kind,
        by_domain=[
            DomainRow(
                domain=d, agreements=len(agreements_in_domain[d]), disbursed=show(by_domain[d])
            )
            for d in sorted(agreements_in_domain.keys() | by_domain.keys())
        ],
        by_country=[
            CountryRow(
                country_code=c,
                agreements=len(agreements_in_country[c]),
                disbursed=show(by_country[c]),
            )
            for c in sorted(agreements_in_country.keys() | by_country.keys())
        ],
        flows=[
            Flow(donor_kind=kind, domain=domain, country_code=country, amount=show(amount))
            for (kind, domain, country), amount in sorted(flows.items())
        ],
        over_time=_over_time(facts),
        grants=_grants(facts),
    )
