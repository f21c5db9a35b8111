"""Everything the transparency reports say about one fund, loaded in one read and then handed to
pure functions (`reports`, `exports`) that unit tests feed directly.

The rows are the owners' own tables (donors': pledges, receipts; grants': applications,
tranches and their read model of agreements and cities; the ledger's balances; this package's
allocations), never copies. What the public may not see is decided here, once, by `Privacy`."""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding.domain import DonorKind
from services.funding.grants.domain import TrancheStatus
from services.funding.grants.models import (
    Application,
    KnownAgreement,
    KnownCity,
    Tranche,
)
from services.funding.ledger import store as ledger
from services.funding.ledger.balances import Balances
from services.funding.models import Fund, InKindDelivery, InKindPledge, Pledge, Receipt
from services.funding.transparency.allocation import Allocation

WITHHELD = "withheld"
WITHHELD_REASON = (
    "names and descriptions of partnerships with a city in a conflict zone are withheld for the "
    "safety of the people involved; their countries, domains and amounts are not"
)
# Donors spending public money, whose contributions are public record; a private donor's name
# (a person's, a company's, a foundation's, a community's) is its own to publish.
PUBLIC_DONOR_KINDS = frozenset(
    {
        DonorKind.CITY,
        DonorKind.GOVERNMENT,
        DonorKind.NETWORK,
        DonorKind.MULTILATERAL,
        DonorKind.SUPRANATIONAL,
        DonorKind.LOCAL_INSTITUTION,
    }
)


@dataclass
class FundFacts:
    fund: Fund
    balances: dict[str, Balances]
    pledges: list[Pledge]
    receipts: list[Receipt]
    in_kind_pledges: list[InKindPledge]
    in_kind_deliveries: list[InKindDelivery]
    paid: list[Allocation]  # which receipt paid how much of which tranche
    applications: list[Application]  # the fund's awards: applications approved at least once
    tranches: list[Tranche]
    agreements: dict[uuid.UUID, KnownAgreement]
    cities: dict[uuid.UUID, KnownCity]
    _pledges_by_id: dict[uuid.UUID, Pledge] = field(init=False, repr=False)
    _tranches_by_application: dict[uuid.UUID, list[Tranche]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._pledges_by_id = {pledge.id: pledge for pledge in self.pledges}
        # Indexed once: the reports ask per award, and scanning every tranche each time made
        # an export quadratic in the fund's awards.
        self._tranches_by_application = defaultdict(list)
        for tranche in sorted(self.tranches, key=lambda t: t.position):
            self._tranches_by_application[tranche.application_id].append(tranche)

    def pledge(self, pledge_id: uuid.UUID) -> Pledge:
        return self._pledges_by_id[pledge_id]

    def privacy(self) -> "Privacy":
        return Privacy(self.agreements, self.cities)

    def tranches_of(self, application_id: uuid.UUID) -> list[Tranche]:
        """By position."""
        return self._tranches_by_application.get(application_id, [])

    def awarded_minor(self, application_id: uuid.UUID) -> int:
        """The award as it stands: its tranches, less those an amendment dropped."""
        return sum(
            t.amount_minor
            for t in self.tranches_of(application_id)
            if t.status is not TrancheStatus.CANCELLED
        )

    def disbursed_minor(self, application_id: uuid.UUID) -> int:
        return sum(
            t.amount_minor
            for t in self.tranches_of(application_id)
            if t.status is TrancheStatus.DISBURSED
        )


@dataclass(frozen=True)
class Privacy:
    """The one home of what the public and donors do not see: who a private donor is, and the
    names of partnerships and cities in conflict zones (a party's country stays visible)."""

    agreements: dict[uuid.UUID, KnownAgreement]
    cities: dict[uuid.UUID, KnownCity]

    def city(self, city_id: uuid.UUID | str) -> KnownCity | None:
        return self.cities.get(uuid.UUID(str(city_id)))

    def parties(self, agreement_id: uuid.UUID) -> list[KnownCity]:
        agreement = self.agreements.get(agreement_id)
        found = (self.city(c) for c in (agreement.party_city_ids if agreement else []))
        return [city for city in found if city is not None]

    def withheld(self, agreement_id: uuid.UUID) -> bool:
        """An agreement with a party in a conflict zone (or unknown to funding, to be safe)."""
        agreement = self.agreements.get(agreement_id)
        if agreement is None:
            return True
        cities = [self.city(c) for c in agreement.party_city_ids]
        return any(city is None or city.in_conflict_zone for city in cities)

    def agreement_title(self, agreement_id: uuid.UUID, *, withhold: bool = True) -> str:
        """Its title; withheld for a partnership in a conflict zone unless `withhold` is off
        (the fund's administrators, who decided the grant)."""
        known = self.agreements.get(agreement_id)
        if known is None or (withhold and self.withheld(agreement_id)):
            return WITHHELD
        return known.title

    def city_name(self, city_id: uuid.UUID | str) -> str:
        city = self.city(city_id)
        if city is None or city.in_conflict_zone or not city.name:
            return WITHHELD
        return city.name

    def party_names(self, agreement_id: uuid.UUID) -> list[str]:
        """The parties' names; all withheld when one is in a conflict zone, since naming its
        partners would point to it."""
        agreement = self.agreements.get(agreement_id)
        parties = agreement.party_city_ids if agreement else []
        if self.withheld(agreement_id):
            return [WITHHELD for _ in parties]
        return [self.city_name(c) for c in parties]

    def recipient_name(self, application: Application) -> str:
        """The city that applied, and so receives the money; withheld like the parties."""
        if self.withheld(application.agreement_id):
            return WITHHELD
        return self.city_name(application.applicant_city_id)

    def country(self, city_id: uuid.UUID | str) -> str | None:
        city = self.city(city_id)
        return city.country_code if city else None

    def countries(self, agreement_id: uuid.UUID) -> list[str]:
        return sorted({c.country_code for c in self.parties(agreement_id) if c.country_code})

    @staticmethod
    def donor_name(pledge: Pledge | InKindPledge) -> str:
        """A public body by its name; private donors counted together by kind, never named."""
        if pledge.donor_kind in PUBLIC_DONOR_KINDS:
            return pledge.donor_name
        return f"{pledge.donor_kind.value.replace('_', ' ')} donors"


async def _all(session: AsyncSession, query) -> list:  # type: ignore[no-untyped-def]
    return list((await session.exec(query)).all())


async def load(session: AsyncSession, fund: Fund) -> FundFacts:
    """One consistent read of everything the reports need about `fund`."""
    fund_id = fund.id
    tranches = await _all(session, select(Tranche).where(Tranche.fund_id == fund_id))
    # An approval creates the tranches: an application with tranches was awarded, even if an
    # amendment has since sent it back to review (what it was paid stays reported).
    applications = await _all(
        session,
        select(Application)
        .where(col(Application.id).in_({t.application_id for t in tranches}))
        .order_by(col(Application.decided_at), col(Application.id)),
    )
    paid = await _all(session, select(Allocation).where(Allocation.fund_id == fund_id))
    in_kind_deliveries = await _all(
        session,
        select(InKindDelivery)
        .where(InKindDelivery.fund_id == fund_id)
        .order_by(col(InKindDelivery.delivered_on), col(InKindDelivery.id)),
    )
    agreement_ids = {a.agreement_id for a in applications} | {p.agreement_id for p in paid}
    agreement_ids |= {d.agreement_id for d in in_kind_deliveries}
    agreements = {
        a.id: a
        for a in await _all(
            session, select(KnownAgreement).where(col(KnownAgreement.id).in_(agreement_ids))
        )
    }
    city_ids = {uuid.UUID(c) for a in agreements.values() for c in a.party_city_ids}
    city_ids |= {a.applicant_city_id for a in applications}
    cities = {
        c.id: c
        for c in await _all(session, select(KnownCity).where(col(KnownCity.id).in_(city_ids)))
    }
    return FundFacts(
        fund=fund,
        balances=await ledger.balances(session, fund_id),
        pledges=await _all(
            session,
            select(Pledge)
            .where(Pledge.fund_id == fund_id)
            .order_by(col(Pledge.pledged_at), col(Pledge.id)),
        ),
        receipts=await _all(
            session,
            select(Receipt)
            .where(Receipt.fund_id == fund_id)
            .order_by(col(Receipt.recorded_at), col(Receipt.id)),
        ),
        in_kind_pledges=await _all(
            session,
            select(InKindPledge)
            .where(InKindPledge.fund_id == fund_id)
            .order_by(col(InKindPledge.pledged_at), col(InKindPledge.id)),
        ),
        in_kind_deliveries=in_kind_deliveries,
        paid=paid,
        applications=applications,
        tranches=tranches,
        agreements=agreements,
        cities=cities,
    )
