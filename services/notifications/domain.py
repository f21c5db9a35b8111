"""Who hears of what, and in what words: pure functions from an event's payload to feed entries."""

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from shared.contracts.funding import ContributionPledged, FundCreated
from shared.contracts.matching import AgreementAccepted, AgreementProposed, AgreementTransition
from shared.contracts.registry import CityRegistered, CityVerified
from shared.contracts.registry.conflict import ConflictProfileAssessed
from shared.contracts.registry.needs_offers import (
    NeedPublished,
    NeedWithdrawn,
    OfferPublished,
    OfferWithdrawn,
)
from shared.contracts.registry.networks import NetworkMembershipChanged


class RecipientKind(StrEnum):
    CITY = "city"
    FUND = "fund"
    DONOR = "donor"
    NETWORK = "network"


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


def _city_news(city_id: UUID, title: str, body: str) -> list[FeedEntry]:
    return [FeedEntry(RecipientKind.CITY, city_id, title, body)]


def city_verified(p: CityVerified) -> list[FeedEntry]:
    return _city_news(
        p.city_id,
        "Your city is verified",
        "A platform administrator verified your city's registration.",
    )


def item_published(kind: str, p: NeedPublished | OfferPublished) -> list[FeedEntry]:
    """`kind` is "need" or "offer": the two read alike to the city that published them."""
    return _city_news(
        p.city_id,
        f"{kind.capitalize()} published: {p.title}",
        f"Your city published a {kind} in {p.domain}, open until {p.period_end.isoformat()}.",
    )


def item_withdrawn(kind: str, p: NeedWithdrawn | OfferWithdrawn) -> list[FeedEntry]:
    return _city_news(
        p.city_id, f"{kind.capitalize()} withdrawn: {p.title}", f"Your city withdrew this {kind}."
    )


_MEMBERSHIP_NEWS = {
    "joined": "Your city joined {network}.",
    "left": "Your city left {network}; any mandate it held ended.",
    "mandate_granted": "Your city mandated {network} to act for it.",
    "mandate_withdrawn": "Your city withdrew its mandate from {network}.",
}


def membership_changed(p: NetworkMembershipChanged, network: str) -> list[FeedEntry]:
    return _city_news(
        p.city_id, f"Network: {network}", _MEMBERSHIP_NEWS[p.change].format(network=network)
    )


# The report's words for the phases of a conflict.
_PHASES = {
    None: "no conflict",
    "pre_conflict": "low violence before a conflict",
    "active": "high and fluctuating violence",
    "post_conflict": "post-conflict reconstruction",
}


def conflict_assessed(p: ConflictProfileAssessed) -> list[FeedEntry]:
    # Read only by the city's own officers (feeds are per city): they may see their profile.
    phase = _PHASES[p.phase]
    verdict = (
        "the preconditions for city diplomacy hold"
        if p.preconditions_hold
        else "not every precondition for city diplomacy holds yet"
    )
    return _city_news(p.city_id, "Conflict profile assessed", f"Phase: {phase}; {verdict}.")


# What each change of an agreement's status says to its parties; {by} is who made it.
_TRANSITIONS = {
    "active": "{by} activated the agreement: the work can start",
    "suspended": "{by} suspended the agreement",
    "concluded": "{by} concluded the agreement, its work completed",
    "terminated": "{by} ended the agreement",
    "rejected": "{by} rejected the proposal",
    "expired": "The proposal expired before every party accepted it",
}


def agreement_changed(p: AgreementTransition, names: Mapping[UUID, str]) -> list[FeedEntry]:
    """Every party hears of every change, with who made it and why."""
    resumed = p.previous_status == "suspended" and p.status == "active"
    what = "{by} resumed the agreement" if resumed else _TRANSITIONS[p.status]
    by = _name(names, p.by_city_id) if p.by_city_id else "A party"
    body = what.format(by=by) + (f": {p.reason}" if p.reason else ".")
    return [
        FeedEntry(RecipientKind.CITY, party, f"Agreement {p.status}: {p.title}", body)
        for party in p.party_city_ids
    ]
