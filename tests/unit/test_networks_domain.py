import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from services.registry.networks.domain import (
    acts_by_mandate,
    check_may_change_membership,
    check_may_mandate,
    check_not_a_member,
    departure,
    mandate_change,
    mandate_domains,
    national_country,
    network_name_key,
)
from shared.auth import Grant, Principal
from shared.contracts.registry.networks import MembershipChange, NetworkScope
from shared.errors import Conflict, Forbidden

NETWORK, OTHER_NETWORK = uuid.uuid4(), uuid.uuid4()
CITY, OTHER_CITY = uuid.uuid4(), uuid.uuid4()
AT = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)


def principal(*grants: str) -> Principal:
    return Principal(
        subject="someone",
        kind="user",
        grants=frozenset(Grant.parse(g) for g in grants),
        issued_at=0.0,
    )


@dataclass
class Membership:
    id: uuid.UUID = field(default_factory=uuid.uuid4)
    joined_at: datetime = AT
    left_at: datetime | None = None
    mandate: bool = False
    mandate_domains: list[str] = field(default_factory=list)


def test_network_names_match_across_accents_case_and_spacing() -> None:
    assert network_name_key("Cités et Gouvernements Locaux Unis") == network_name_key(
        "  CITES ET  gouvernements locaux unis"
    )
    assert network_name_key("CITYNET") != network_name_key("CITYNET Asia")


def test_a_country_is_named_by_national_networks_and_only_by_them() -> None:
    assert national_country(NetworkScope.NATIONAL, "BE") == "BE"
    assert national_country(NetworkScope.GLOBAL, None) is None
    with pytest.raises(ValueError, match="needs its country_code"):
        national_country(NetworkScope.NATIONAL, None)
    for scope in (NetworkScope.GLOBAL, NetworkScope.REGIONAL):
        with pytest.raises(ValueError, match=f"a {scope} network spans several countries"):
            national_country(scope, "JP")


def test_mandate_domains_are_tidied_and_only_granted() -> None:
    assert mandate_domains(True, ["waste_collection", " drinking_water", "waste_collection"]) == [
        "drinking_water",
        "waste_collection",
    ]
    assert mandate_domains(True, []) == []
    assert mandate_domains(False, []) == []
    with pytest.raises(ValueError, match="cannot be blank"):
        mandate_domains(True, ["  "])
    with pytest.raises(ValueError, match="ends the whole mandate"):
        mandate_domains(False, ["drinking_water"])


@pytest.mark.parametrize(
    "grants",
    [("platform_admin",), (f"city_officer:{CITY}",), (f"network_officer:{NETWORK}",)],
)
def test_the_city_the_network_or_an_admin_change_a_membership(grants: tuple[str, ...]) -> None:
    check_may_change_membership(principal(*grants), NETWORK, CITY)


@pytest.mark.parametrize(
    "grants",
    [
        (),
        (f"city_officer:{OTHER_CITY}",),
        (f"network_officer:{OTHER_NETWORK}",),
        (f"fund_admin:{CITY}",),
        (f"city_officer:{NETWORK}", f"network_officer:{CITY}"),  # ids in the wrong roles
    ],
)
def test_anyone_else_may_not_change_a_membership(grants: tuple[str, ...]) -> None:
    with pytest.raises(Forbidden, match="act neither for city"):
        check_may_change_membership(principal(*grants), NETWORK, CITY)


def test_only_the_city_mandates_a_network() -> None:
    check_may_mandate(principal(f"city_officer:{CITY}"), CITY)
    for grants in [
        (f"network_officer:{NETWORK}",),
        ("platform_admin",),
        (f"network_officer:{NETWORK}", f"city_officer:{OTHER_CITY}"),
    ]:
        with pytest.raises(Forbidden, match=f"only an officer of city {CITY}"):
            check_may_mandate(principal(*grants), CITY)


def test_joining_twice_names_the_membership() -> None:
    check_not_a_member(None, "Ostende", "Union des villes et communes belges")
    current = Membership()
    with pytest.raises(Conflict, match=f"membership {current.id}, since 2026-11-22"):
        check_not_a_member(current, "Ostende", "Union des villes et communes belges")


def test_a_departure_happens_once() -> None:
    assert departure(Membership(mandate=True)) is MembershipChange.LEFT
    assert departure(Membership(left_at=AT)) is None


@pytest.mark.parametrize(
    ("mandate", "domains", "granted", "wanted", "change"),
    [
        (False, [], True, [], MembershipChange.MANDATE_GRANTED),
        (True, ["drinking_water"], True, [], MembershipChange.MANDATE_GRANTED),
        (True, [], True, ["drinking_water"], MembershipChange.MANDATE_GRANTED),
        (True, ["drinking_water"], True, ["drinking_water"], None),
        (True, ["drinking_water"], False, [], MembershipChange.MANDATE_WITHDRAWN),
        (False, [], False, [], None),
    ],
)
def test_a_mandate_changes_only_when_the_city_decides_something_new(
    mandate: bool,
    domains: list[str],
    granted: bool,
    wanted: list[str],
    change: MembershipChange | None,
) -> None:
    membership = Membership(mandate=mandate, mandate_domains=domains)
    assert mandate_change(membership, granted, wanted) is change


def test_a_city_that_left_mandates_nothing() -> None:
    with pytest.raises(Conflict, match="once it joins again"):
        mandate_change(Membership(left_at=AT), True, [])


def test_a_network_officer_acts_only_for_cities_that_mandated_their_network() -> None:
    officer = principal(f"network_officer:{NETWORK}")
    assert acts_by_mandate(officer, NETWORK, CITY, {CITY})
    assert not acts_by_mandate(officer, NETWORK, OTHER_CITY, {CITY})
    assert not acts_by_mandate(officer, OTHER_NETWORK, CITY, {CITY})
    assert not acts_by_mandate(principal("platform_admin"), NETWORK, CITY, {CITY})
