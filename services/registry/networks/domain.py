"""Rules for networks and associations of cities, free of I/O: what a network is, who may change
a membership, and how memberships and mandates change."""

from datetime import datetime
from typing import Protocol
from uuid import UUID

from services.registry.domain import city_name_key
from shared.auth import Principal, Role
from shared.contracts.registry.networks import MembershipChange, NetworkScope
from shared.errors import Conflict, Forbidden


class MembershipState(Protocol):
    id: UUID
    joined_at: datetime
    left_at: datetime | None
    mandate: bool
    mandate_domains: list[str]


def network_name_key(name: str) -> str:
    """Two registrations name the same network when their names differ only in accents, case and
    spacing ("Cités et Gouvernements Locaux Unis" and "CITES ET GOUVERNEMENTS LOCAUX UNIS"), as
    for cities."""
    return city_name_key(name)


def national_country(scope: NetworkScope, country_code: str | None) -> str | None:
    """A national association belongs to one country; a regional or global network spans several,
    so naming one country would mislead. ValueError says which way the input is wrong."""
    if scope is NetworkScope.NATIONAL and country_code is None:
        raise ValueError(
            "a national network needs its country_code (ISO 3166-1 alpha-2, e.g. 'BE')"
        )
    if scope is not NetworkScope.NATIONAL and country_code is not None:
        raise ValueError(
            f"only a national network has a country_code; a {scope} network spans several "
            "countries: leave it out"
        )
    return country_code


def mandate_domains(granted: bool, domains: list[str]) -> list[str]:
    """The domains a mandate is limited to, spacing tidied, each once, sorted (so that granting
    the same domains again is recognised as no change). None given: the mandate covers every
    domain. A withdrawal ends the whole mandate, so it names no domains."""
    cleaned = sorted({" ".join(domain.split()) for domain in domains})
    if "" in cleaned:
        raise ValueError("a mandate's domain cannot be blank")
    if not granted and cleaned:
        raise ValueError(
            "a withdrawal ends the whole mandate: send no domains with granted false, or grant "
            "the mandate again with fewer domains"
        )
    return cleaned


def officer_of_network(principal: Principal, network_id: UUID) -> bool:
    return str(network_id) in principal.scopes(Role.NETWORK_OFFICER)


def check_may_change_membership(principal: Principal, network_id: UUID, city_id: UUID) -> None:
    """Joining and leaving: the city decides for itself, and the network keeps its own roll, so
    the city's officers and the network's officers may both record it; platform administrators
    fix records. A membership gives the network no power over the city: only a mandate does."""
    if (
        principal.is_platform_admin
        or principal.acts_for_city(city_id)
        or officer_of_network(principal, network_id)
    ):
        return
    raise Forbidden(
        f"you act neither for city {city_id} nor for network {network_id}; ask an officer of "
        "the city or of the network, or refresh your token if you were made one a moment ago"
    )


def check_may_mandate(principal: Principal, city_id: UUID) -> None:
    """Only the city grants or withdraws a network's mandate to act for it. City diplomacy is
    demand-driven: a network acts for a city on the city's own request, never imposed from
    outside, so a network's officer can never mandate the network (or themselves), and neither
    can a platform administrator."""
    if not principal.acts_for_city(city_id):
        raise Forbidden(
            f"only an officer of city {city_id} grants or withdraws a mandate to act for it; "
            "ask the city to do so"
        )


def check_not_a_member(active: MembershipState | None, city: str, network: str) -> None:
    if active is not None:
        raise Conflict(
            f"{city} is already a member of {network} (membership {active.id}, since "
            f"{active.joined_at:%Y-%m-%d}); change its mandate or record its departure instead"
        )


def departure(membership: MembershipState) -> MembershipChange | None:
    """The change a departure makes; None when the city already left, so that a retried departure
    records no second event. Leaving ends the mandate with the membership."""
    return None if membership.left_at is not None else MembershipChange.LEFT


def mandate_change(
    membership: MembershipState, granted: bool, domains: list[str]
) -> MembershipChange | None:
    """The change a city's decision on the mandate makes; None when it changes nothing (the same
    decision sent again). Granting other domains replaces the mandate's domains."""
    if membership.left_at is not None:
        raise Conflict(
            f"the city left this network on {membership.left_at:%Y-%m-%d} (membership "
            f"{membership.id}); it can mandate the network again once it joins again"
        )
    if granted:
        unchanged = membership.mandate and membership.mandate_domains == domains
        return None if unchanged else MembershipChange.MANDATE_GRANTED
    return MembershipChange.MANDATE_WITHDRAWN if membership.mandate else None


def acts_by_mandate(
    principal: Principal, network_id: UUID, city_id: UUID, mandated: set[UUID]
) -> bool:
    """Whether the caller, as an officer of `network_id`, may act for `city_id`: only when the city
    mandated that network (`mandated`, from `queries.mandated_cities`). Being a member is not
    enough: the mandate is the city's request to be acted for."""
    return officer_of_network(principal, network_id) and city_id in mandated
