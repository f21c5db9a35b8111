"""Agreement rules, free of I/O: who may act on an agreement, and how it comes to be."""

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from uuid import UUID

from shared.auth import Principal, Role
from shared.errors import Conflict, DomainError, Forbidden


class AgreementKind(StrEnum):
    BILATERAL = "bilateral"  # a twinning between two cities
    TRILATERAL = "trilateral"  # a "trinning": two cities of a conflict zone and one outside
    MULTILATERAL = "multilateral"  # several cities, usually through a network


class AgreementStatus(StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"  # every party accepted


PARTY_COUNTS = {
    AgreementKind.BILATERAL: range(2, 3),
    AgreementKind.TRILATERAL: range(3, 4),
    AgreementKind.MULTILATERAL: range(3, 51),
}


def check_proposal(
    kind: AgreementKind, party_ids: list[UUID], proposer_id: UUID, known_ids: set[UUID]
) -> None:
    if len(set(party_ids)) != len(party_ids):
        raise DomainError("a city can be a party to an agreement only once; remove the repeated id")
    allowed = PARTY_COUNTS[kind]
    if len(party_ids) not in allowed:
        wanted = (
            str(allowed.start) if len(allowed) == 1 else f"{allowed.start} to {allowed.stop - 1}"
        )
        raise DomainError(f"a {kind} agreement has {wanted} parties, not {len(party_ids)}")
    if proposer_id not in party_ids:
        raise DomainError("the proposing city must be one of the parties")
    unknown = [str(city_id) for city_id in party_ids if city_id not in known_ids]
    if unknown:
        raise DomainError(
            f"cities not (yet) known to matching: {', '.join(unknown)}; a city registered a "
            "moment ago may still be on its way, so retry shortly"
        )


@dataclass(frozen=True)
class Acceptance:
    newly_accepted: bool
    all_accepted: bool


def accept(status: AgreementStatus, accepted: dict[UUID, bool], city_id: UUID) -> Acceptance:
    """Record `city_id`'s acceptance. Accepting twice is harmless (the answer says nothing
    changed), so a retried request cannot raise a second event."""
    if city_id not in accepted:
        raise DomainError(f"city {city_id} is not a party to this agreement")
    if accepted[city_id]:
        return Acceptance(newly_accepted=False, all_accepted=all(accepted.values()))
    if status is not AgreementStatus.PROPOSED:
        raise Conflict(f"the agreement is {status}; only a proposed agreement can be accepted")
    remaining = [party for party, done in accepted.items() if not done and party != city_id]
    return Acceptance(newly_accepted=True, all_accepted=not remaining)


def _cities_of(principal: Principal) -> str:
    cities = sorted(principal.scopes(Role.CITY_OFFICER))
    if not cities:
        return "no city"
    return f"city {cities[0]}" if len(cities) == 1 else f"cities {', '.join(cities)}"


def check_acts_for(principal: Principal, city_id: UUID) -> None:
    """A city officer speaks only for the cities in their token (OWASP API1: the city id in the
    request is the caller's claim, not a proof)."""
    if not principal.acts_for_city(city_id):
        raise Forbidden(
            f"you act for {_cities_of(principal)}, not for city {city_id}; ask that city's "
            "officer, or refresh your token if you were made its officer a moment ago"
        )


def check_oversees(principal: Principal, city_id: UUID) -> None:
    """Platform administrators oversee every city (its agreements, its suggestions); an
    officer only their own city."""
    if not principal.is_platform_admin:
        check_acts_for(principal, city_id)


def may_see(principal: Principal, party_ids: Iterable[UUID]) -> bool:
    """Whether the caller may know the agreement exists: a party's officer, or an administrator.
    Anyone else is answered as if there were no such agreement."""
    return principal.is_platform_admin or any(principal.acts_for_city(c) for c in party_ids)
