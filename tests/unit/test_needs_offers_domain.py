"""Rules of needs and offers, without I/O."""

import uuid
from datetime import date

import pytest

from services.registry.needs_offers import domain
from services.registry.needs_offers.domain import Kind, Status
from shared.auth import Grant, Principal, Role
from shared.errors import Conflict, Forbidden


def test_domain_codes_come_from_the_taxonomy() -> None:
    assert domain.domain_code(" Drinking-Water ") == "drinking-water"
    with pytest.raises(ValueError, match=r"unknown domain 'water'.*GET /domains.*waste-collection"):
        domain.domain_code("water")


@pytest.mark.parametrize(
    ("code", "expected"),
    [("fr", "fr"), ("FR", "fr"), ("fra", "fr"), ("fre", "fr"), ("ewe", "ee"), ("mos", "mos")],
)
def test_languages_are_iso_639_alpha_2_where_one_exists(code: str, expected: str) -> None:
    assert domain.language_code(code) == expected


@pytest.mark.parametrize("code", ["xx", "zzz", "french", "f", ""])
def test_unknown_language_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError, match="not an ISO 639 language code"):
        domain.language_code(code)


def test_languages_of_work_are_listed_once_in_their_order() -> None:
    assert domain.language_codes(["fra", "ee", "fr", "EN"]) == ["fr", "ee", "en"]


def test_titles_and_descriptions_are_tidied_and_never_blank() -> None:
    assert domain.one_line("  Waste \n collection ") == "Waste collection"
    assert domain.paragraphs("\n First.\n\nSecond. ") == "First.\n\nSecond."
    for rule in (domain.one_line, domain.paragraphs):
        with pytest.raises(ValueError, match="blank"):
            rule(" \n\t")


def test_capacity_needs_staff_days_or_partners() -> None:
    domain.check_capacity(20, None)
    domain.check_capacity(None, 2)
    with pytest.raises(ValueError, match="staff_days, partners or both"):
        domain.check_capacity(None, None)


def test_a_period_ends_after_it_starts() -> None:
    domain.check_period(date(2027, 1, 1), date(2027, 1, 2))
    for end in (date(2027, 1, 1), date(2026, 12, 31)):
        with pytest.raises(ValueError, match="must end after it starts"):
            domain.check_period(date(2027, 1, 1), end)


def test_only_the_citys_officers_act_for_it() -> None:
    lome, lyon = uuid.uuid4(), uuid.uuid4()
    officer = Principal("s", "user", frozenset({Grant(Role.CITY_OFFICER, str(lome))}), 0.0)
    domain.check_acts_for(officer, lome)
    with pytest.raises(Forbidden, match=f"you act for city {lome}, not for city {lyon}"):
        domain.check_acts_for(officer, lyon)
    admin = Principal("a", "user", frozenset({Grant(Role.PLATFORM_ADMIN)}), 0.0)
    with pytest.raises(Forbidden, match="you act for no city"):
        domain.check_acts_for(admin, lome)


def test_only_open_items_change() -> None:
    domain.check_changeable(Kind.NEED, Status.OPEN)
    for status in (Status.MATCHED, Status.WITHDRAWN):
        with pytest.raises(Conflict, match=f"this offer is {status}; only an open offer"):
            domain.check_changeable(Kind.OFFER, status)


def test_withdrawing_twice_changes_nothing_the_second_time() -> None:
    assert domain.withdrawal_changes(Status.OPEN)
    assert domain.withdrawal_changes(Status.MATCHED)
    assert not domain.withdrawal_changes(Status.WITHDRAWN)


def test_changes_name_each_field_with_its_value_before_and_after() -> None:
    before = {"title": "A", "capacity": {"staff_days": 20, "partners": None}}
    after = {"title": "A", "capacity": {"staff_days": 30, "partners": None}}
    assert domain.changes(before, after) == {
        "capacity": {"before": before["capacity"], "after": after["capacity"]}
    }
    assert domain.changes(before, before) == {}
    assert domain.changes({}, {"title": "A"}) == {"title": {"before": None, "after": "A"}}


def test_kinds_name_their_routes() -> None:
    assert [kind.plural for kind in Kind] == ["needs", "offers"]
