"""Who hears of what, and in what words: pure functions from an event's payload to feed entries."""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from shared.contracts.funding import ContributionPledged, FundCreated
from shared.contracts.matching import AgreementAccepted, AgreementProposed
from shared.contracts.registry import CityRegistered


class RecipientKind(StrEnum):
    CITY = "city"
    FUND = "fund"


@dataclass(frozen=True)
class FeedEntry:
    recipient_kind: RecipientKind
    recipient_id: UUID
    title: str
    body: str


def _name(names: Mapping[UUID, str], city_id: UUID) -> str:
    # Events of different topics can arrive in any order; a name not yet known is not worth
    # delaying the notification for.
    return names.get(city_id, "a partner city")


def city_registered(p: CityRegistered) -> list[FeedEntry]:
    return [
        FeedEntry(
            RecipientKind.CITY,
            p.city_id,
            f"Welcome, {p.name}",
            f"{p.name} ({p.country_code}) is registered with the city-to-city exchange programme.",
        )
    ]


def agreement_proposed(p: AgreementProposed, names: Mapping[UUID, str]) -> list[FeedEntry]:
    proposer = _name(names, p.proposed_by_city_id)
    return [
        FeedEntry(
            RecipientKind.CITY,
            party,
            f"Agreement proposed: {p.title}",
            f"{proposer} proposed a {p.kind} agreement"
            + ("." if party == p.proposed_by_city_id else "; your city is invited to accept it."),
        )
        for party in p.party_city_ids
    ]


def agreement_accepted(p: AgreementAccepted, names: Mapping[UUID, str]) -> list[FeedEntry]:
    outcome = " Every party has now accepted." if p.all_parties_accepted else ""
    return [
        FeedEntry(
            RecipientKind.CITY,
            party,
            f"Agreement accepted: {p.title}",
            f"{_name(names, p.city_id)} accepted the agreement.{outcome}",
        )
        for party in p.party_city_ids
    ]


def fund_created(p: FundCreated) -> list[FeedEntry]:
    return [
        FeedEntry(
            RecipientKind.FUND,
            p.fund_id,
            f"Fund created: {p.name}",
            f"{p.name} is open for pledges in {p.currency}.",
        )
    ]


def contribution_pledged(p: ContributionPledged) -> list[FeedEntry]:
    return [
        FeedEntry(
            RecipientKind.FUND,
            p.fund_id,
            f"New pledge from {p.donor_name}",
            f"{p.donor_name} ({p.donor_kind}) pledged {p.amount} {p.currency}.",
        )
    ]
