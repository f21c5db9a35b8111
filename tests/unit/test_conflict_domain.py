import uuid
from datetime import UTC, date, datetime
from typing import Any, get_args

import pytest
from pydantic import ValidationError

from services.registry.conflict.domain import (
    ConflictPhase,
    ConflictZone,
    Precondition,
    PreconditionMet,
    check_assessed_on,
    check_phase,
    check_states_readiness_for,
    may_read_profile,
    places_in_conflict_zone,
    preconditions_hold,
)
from services.registry.conflict.models import AssessmentCreate, DiplomacyReadinessUpdate
from shared.auth import Grant, Principal, Role
from shared.contracts.registry import conflict as contract
from shared.errors import Forbidden

YES, NO, UNKNOWN = PreconditionMet.YES, PreconditionMet.NO, PreconditionMet.UNKNOWN
PACIFICATION, RULE_OF_LAW, OFFICIALS, ELECTIONS = Precondition


def test_the_preconditions_hold_when_the_three_required_are_met() -> None:
    assert preconditions_hold(dict.fromkeys(Precondition, YES)) == (True, [])


def test_local_elections_are_helpful_not_required() -> None:
    assessment = {PACIFICATION: YES, RULE_OF_LAW: YES, OFFICIALS: YES, ELECTIONS: NO}
    assert preconditions_hold(assessment) == (True, [])


@pytest.mark.parametrize("met", [NO, UNKNOWN])
def test_a_required_precondition_not_known_to_be_met_is_missing(met: PreconditionMet) -> None:
    assessment = {PACIFICATION: YES, RULE_OF_LAW: met, OFFICIALS: YES, ELECTIONS: YES}
    assert preconditions_hold(assessment) == (False, [RULE_OF_LAW])


def test_missing_preconditions_come_in_the_report_order_and_unassessed_ones_count() -> None:
    hold, missing = preconditions_hold({OFFICIALS: NO, ELECTIONS: YES})
    assert (hold, missing) == (False, [PACIFICATION, RULE_OF_LAW, OFFICIALS])


@pytest.mark.parametrize(
    ("zone", "in_zone"),
    [
        (ConflictZone.NONE, False),
        (ConflictZone.CONFLICT_ZONE, True),
        (ConflictZone.ZONE_OF_PEACE, True),
    ],
)
def test_a_zone_of_peace_counts_as_in_a_conflict_zone(zone: ConflictZone, in_zone: bool) -> None:
    assert places_in_conflict_zone(zone) is in_zone


@pytest.mark.parametrize("zone", [ConflictZone.CONFLICT_ZONE, ConflictZone.ZONE_OF_PEACE])
def test_a_city_in_a_conflict_zone_needs_a_phase(zone: ConflictZone) -> None:
    check_phase(zone, ConflictPhase.POST_CONFLICT)
    with pytest.raises(ValueError, match=f"zone '{zone}' needs a phase, one of 'pre_conflict'"):
        check_phase(zone, None)


def test_a_city_outside_conflict_zones_has_no_phase() -> None:
    check_phase(ConflictZone.NONE, None)
    with pytest.raises(ValueError, match="no conflict phase"):
        check_phase(ConflictZone.NONE, ConflictPhase.ACTIVE)


@pytest.mark.parametrize(
    ("now", "assessed_on", "allowed"),
    [
        (datetime(2025, 3, 1, 12, 0, tzinfo=UTC), date(2025, 3, 1), True),
        (datetime(2025, 3, 1, 12, 0, tzinfo=UTC), date(2020, 1, 1), True),
        # 12:00 UTC is already 2 March at UTC+14: an assessor there may write their today.
        (datetime(2025, 3, 1, 12, 0, tzinfo=UTC), date(2025, 3, 2), True),
        (datetime(2025, 3, 1, 9, 0, tzinfo=UTC), date(2025, 3, 2), False),
        (datetime(2025, 3, 1, 12, 0, tzinfo=UTC), date(2025, 3, 3), False),
    ],
)
def test_an_assessment_date_is_never_in_the_future_anywhere(
    now: datetime, assessed_on: date, allowed: bool
) -> None:
    if allowed:
        assert check_assessed_on(assessed_on, now) == assessed_on
    else:
        with pytest.raises(ValueError, match=f"{assessed_on.isoformat()} is in the future"):
            check_assessed_on(assessed_on, now)


CITY, OTHER = uuid.uuid4(), uuid.uuid4()


def _principal(*grants: Grant) -> Principal:
    return Principal(subject="someone", kind="user", grants=frozenset(grants), issued_at=0)


def test_a_profile_is_read_by_administrators_and_the_citys_own_officers_only() -> None:
    assert may_read_profile(_principal(Grant(Role.PLATFORM_ADMIN)), CITY)
    assert may_read_profile(_principal(Grant(Role.CITY_OFFICER, str(CITY))), CITY)
    assert not may_read_profile(_principal(Grant(Role.CITY_OFFICER, str(OTHER))), CITY)
    assert not may_read_profile(_principal(Grant(Role.FUND_ADMIN, str(CITY))), CITY)


def test_only_the_citys_officers_state_its_readiness() -> None:
    check_states_readiness_for(_principal(Grant(Role.CITY_OFFICER, str(CITY))), CITY)
    for principal in (
        _principal(Grant(Role.CITY_OFFICER, str(OTHER))),
        _principal(Grant(Role.PLATFORM_ADMIN)),
    ):
        with pytest.raises(Forbidden, match=f"do not act for city {CITY}"):
            check_states_readiness_for(principal, CITY)


def test_the_contract_speaks_the_domains_vocabulary() -> None:
    assert get_args(contract.Zone) == tuple(ConflictZone)
    assert get_args(contract.Phase) == tuple(ConflictPhase)
    assert get_args(contract.Met) == tuple(PreconditionMet)
    fields = set(contract.ConflictProfileAssessed.model_fields)
    assert {f"{p}_met" for p in Precondition} | {f"{p}_assessed_on" for p in Precondition} <= fields


def _precondition(**overrides: Any) -> dict[str, Any]:
    return {"met": "yes", "assessed_on": "2024-05-01", "note": "seen on a visit", **overrides}


def _assessment(**overrides: Any) -> dict[str, Any]:
    preconditions = {str(p): _precondition() for p in Precondition}
    return {
        "zone": "conflict_zone",
        "phase": "post_conflict",
        "preconditions": preconditions,
        **overrides,
    }


def test_a_valid_assessment_reads_by_precondition_and_blank_notes_are_none() -> None:
    body = _assessment()
    body["preconditions"]["local_elections"] = _precondition(met="unknown", note="   ")
    assessment = AssessmentCreate.model_validate(body)
    by_precondition = assessment.preconditions.by_precondition()
    assert list(by_precondition) == list(Precondition)
    assert by_precondition[ELECTIONS].met is UNKNOWN
    assert by_precondition[ELECTIONS].note is None
    assert by_precondition[RULE_OF_LAW].note == "seen on a visit"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda b: b.pop("phase"), "needs a phase"),
        (lambda b: b.update(zone="none"), "no conflict phase"),
        (lambda b: b.update(zone="war"), "Input should be 'none', 'conflict_zone' or"),
        (lambda b: b.update(phase="ceasefire"), "Input should be 'pre_conflict', 'active' or"),
        (lambda b: b.update(assessed_by="someone else"), "Extra inputs are not permitted"),
        (lambda b: b["preconditions"].pop("rule_of_law"), "Field required"),
        (lambda b: b["preconditions"].update(elections={}), "Extra inputs are not permitted"),
        (
            lambda b: b["preconditions"]["rule_of_law"].update(met="maybe"),
            "Input should be 'yes', 'no' or 'unknown'",
        ),
        (
            lambda b: b["preconditions"]["rule_of_law"].update(note="x" * 2001),
            "at most 2000 characters",
        ),
        (
            lambda b: b["preconditions"]["rule_of_law"].update(assessed_on="3024-01-01"),
            "3024-01-01 is in the future",
        ),
        (
            lambda b: b["preconditions"]["rule_of_law"].update(assessed_on="last week"),
            "valid date",
        ),
    ],
)
def test_an_invalid_assessment_says_what_is_wrong(change: Any, message: str) -> None:
    body = _assessment()
    change(body)
    with pytest.raises(ValidationError, match=message):
        AssessmentCreate.model_validate(body)


def test_readiness_is_trimmed_and_needs_a_motivation_and_an_objective() -> None:
    stated = DiplomacyReadinessUpdate.model_validate(
        {
            "motivation": "  peace in the region  ",
            "result_objectives": [" train municipal staff "],
            "commits_beyond_conflict": True,
            "has_formal_policy": False,
        }
    )
    assert (stated.motivation, stated.result_objectives) == (
        "peace in the region",
        ["train municipal staff"],
    )
    for bad, message in [
        ({"motivation": "   "}, "at least 1 character"),
        ({"result_objectives": []}, "at least 1 item"),
        ({"result_objectives": [" "]}, "at least 1 character"),
        ({"result_objectives": ["x" * 301]}, "at most 300 characters"),
    ]:
        with pytest.raises(ValidationError, match=message):
            DiplomacyReadinessUpdate.model_validate({**stated.model_dump(), **bad})
