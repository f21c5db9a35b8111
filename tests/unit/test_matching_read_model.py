"""The read model's ordering rules, without a database."""

import uuid
from datetime import UTC, datetime, timedelta

from services.matching.handlers import HANDLERS
from services.matching.health import on_funding_activity
from services.matching.read_model import city_update_values, is_current, plan_city_changes
from shared.contracts import funding
from shared.contracts.registry import EVENTS, identity
from shared.contracts.registry.cities import CityUpdated
from shared.contracts.registry.topic import TOPIC

T1 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
T2 = T1 + timedelta(seconds=1)


def test_an_event_applies_over_an_older_or_equal_state_never_a_newer_one() -> None:
    assert is_current(None, T1)
    assert is_current(T1, T2)
    assert is_current(T1, T1)  # equal times: the later arrival, of one key's ordered events, wins
    assert not is_current(T2, T1)


def test_a_city_field_takes_an_older_value_only_if_no_newer_event_set_it() -> None:
    versions = {"population": T2.isoformat()}
    updates, after = plan_city_changes(
        versions, T1, {"population": {"population": 1}, "region": {"region": "Golfe"}}
    )
    assert updates == {"region": "Golfe"}
    assert after == {"population": T2.isoformat(), "region": T1.isoformat()}
    assert versions == {"population": T2.isoformat()}  # not changed in place


def test_a_group_of_fields_is_versioned_as_one() -> None:
    conflict = {"conflict_zone": "conflict_zone", "conflict_phase": "active"}
    updates, after = plan_city_changes({}, T2, {"conflict": conflict})
    assert (updates, after) == (conflict, {"conflict": T2.isoformat()})
    older = {"conflict_zone": "none", "conflict_phase": None}
    assert plan_city_changes(after, T1, {"conflict": older}) == ({}, after)


def test_city_updated_gives_only_the_profile_fields_it_changed() -> None:
    payload = CityUpdated(
        city_id=uuid.uuid4(),
        changed=["contacts", "official_languages", "population", "region"],
        population=871200,
        official_languages=None,
        contacts_changed=True,
    )
    # Contacts are not in the read model; a null in a changed field clears it.
    assert city_update_values(payload) == {
        "population": 871200,
        "official_languages": [],
        "region": None,
    }


def test_every_registry_event_but_identity_feeds_the_read_model() -> None:
    expected = {spec.type for spec in EVENTS} - {spec.type for spec in identity.EVENTS}
    assert {spec.type for spec in HANDLERS if spec.topic == TOPIC} == expected


def test_every_funding_event_about_an_agreement_is_a_sign_of_its_life() -> None:
    about_agreements = {s for s in funding.EVENTS if "agreement_id" in s.payload.model_fields}
    assert {spec for spec in HANDLERS if spec.topic == funding.TOPIC} == about_agreements
    assert all(HANDLERS[spec] is on_funding_activity for spec in about_agreements)
