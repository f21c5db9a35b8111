"""Conflict profiles (dated assessments, read by few) and helping cities' readiness (public)."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from services.registry.conflict.queries import in_conflict_zone
from shared.contracts.registry.conflict import (
    CONFLICT_PROFILE_ASSESSED,
    DIPLOMACY_READINESS_STATED,
)
from tests.helpers import ServiceUnderTest, bearer

USER = bearer()  # an authenticated account with no role
ADMIN_SUBJECT = str(uuid.uuid4())
SECRET = "the deputy mayor meets the militia's envoy on Tuesdays"


async def _city(registry: ServiceUnderTest, name: str, country_code: str) -> str:
    response = await registry.client.post(
        "/cities", json={"name": name, "country_code": country_code}, headers=USER
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _admin() -> dict[str, str]:
    return bearer("platform_admin", subject=ADMIN_SUBJECT)


def _officer(city_id: str) -> dict[str, str]:
    return bearer(f"city_officer:{city_id}")


def _precondition(met: str, note: str | None = None, on: str = "2024-05-02") -> dict[str, Any]:
    return {"met": met, "assessed_on": on, "note": note}


def _assessment(
    zone: str = "conflict_zone", phase: str | None = "active", **met: str
) -> dict[str, Any]:
    states = {
        "disarmament_or_pacification": "no",
        "rule_of_law": "unknown",
        "competent_local_officials": "yes",
        "local_elections": "no",
        **met,
    }
    return {
        "zone": zone,
        "phase": phase,
        "preconditions": {
            name: _precondition(state, note=SECRET if name == "competent_local_officials" else None)
            for name, state in states.items()
        },
    }


async def _assess(registry: ServiceUnderTest, city_id: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await registry.client.post(
        f"/cities/{city_id}/conflict-assessments", json=body, headers=_admin()
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _profile(
    registry: ServiceUnderTest, city_id: str, headers: dict[str, str]
) -> httpx.Response:
    return await registry.client.get(f"/cities/{city_id}/conflict-profile", headers=headers)


async def test_assessments_are_kept_as_a_dated_history_newest_first(
    registry: ServiceUnderTest,
) -> None:
    kinshasa = await _city(registry, "Kinshasa", "CD")
    first = await _assess(registry, kinshasa, _assessment())
    assert first["assessed_by"] == ADMIN_SUBJECT
    assert (first["preconditions_hold"], first["missing_preconditions"]) == (
        False,
        ["disarmament_or_pacification", "rule_of_law"],
    )
    assert first["preconditions"]["competent_local_officials"]["note"] == SECRET

    later = _assessment(phase="post_conflict", disarmament_or_pacification="yes", rule_of_law="yes")
    second = await _assess(registry, kinshasa, later)
    assert (second["preconditions_hold"], second["missing_preconditions"]) == (True, [])

    profile = (await _profile(registry, kinshasa, _admin())).json()
    assert profile["city_id"] == kinshasa
    assert profile["in_conflict_zone"] is True
    assert profile["latest"] == second
    assert profile["history"] == [second, first]  # the first stands as it was
    assert second["assessed_at"] >= first["assessed_at"]


async def test_events_carry_each_preconditions_state_but_never_the_notes(
    registry: ServiceUnderTest,
) -> None:
    kinshasa = await _city(registry, "Kinshasa", "CD")
    first = await _assess(registry, kinshasa, _assessment())
    second = await _assess(registry, kinshasa, _assessment(zone="none", phase=None))

    events = await registry.events("ConflictProfileAssessed")
    assert [event.subject for event in events] == [kinshasa, kinshasa]
    payloads = [event.payload(CONFLICT_PROFILE_ASSESSED) for event in events]
    assert [str(p.assessment_id) for p in payloads] == [first["id"], second["id"]]
    assert [(p.zone, p.phase, p.preconditions_hold) for p in payloads] == [
        ("conflict_zone", "active", False),
        ("none", None, False),
    ]
    first_event = payloads[0]
    assert (first_event.rule_of_law_met, first_event.rule_of_law_assessed_on.isoformat()) == (
        "unknown",
        "2024-05-02",
    )
    for event in events:
        data = json.dumps(event.data)
        assert SECRET not in data
        assert "note" not in data


async def test_only_administrators_and_the_citys_officers_read_the_profile(
    registry: ServiceUnderTest,
) -> None:
    kinshasa = await _city(registry, "Kinshasa", "CD")
    goma = await _city(registry, "Goma", "CD")
    await _assess(registry, kinshasa, _assessment())

    own = await _profile(registry, kinshasa, _officer(kinshasa))
    assert own.status_code == 200
    assert own.json()["latest"]["preconditions"]["competent_local_officials"]["note"] == SECRET

    # Another city's officer learns nothing, not even whether there is a profile.
    assessed = await _profile(registry, kinshasa, _officer(goma))
    unassessed = await _profile(registry, goma, _officer(kinshasa))
    assert (assessed.status_code, unassessed.status_code) == (404, 404)
    assert SECRET not in assessed.text
    assert "conflict_zone" not in assessed.text

    fund_admin = await _profile(registry, kinshasa, bearer(f"fund_admin:{uuid.uuid4()}"))
    assert fund_admin.status_code == 403
    assert (await _profile(registry, kinshasa, {})).status_code == 401

    # The city's own officer cannot assess it (nor can anyone but an administrator).
    for headers in (_officer(kinshasa), USER):
        refused = await registry.client.post(
            f"/cities/{kinshasa}/conflict-assessments", json=_assessment(), headers=headers
        )
        assert refused.status_code == 403, refused.text
    assert len((await _profile(registry, kinshasa, _admin())).json()["history"]) == 1


async def test_a_city_without_assessment_has_an_empty_profile(registry: ServiceUnderTest) -> None:
    lyon = await _city(registry, "Lyon", "FR")
    profile = (await _profile(registry, lyon, _officer(lyon))).json()
    assert profile == {"city_id": lyon, "in_conflict_zone": False, "latest": None, "history": []}


async def test_in_conflict_zone_follows_the_latest_assessment(registry: ServiceUnderTest) -> None:
    city = await _city(registry, "Kneževi Vinogradi", "HR")

    async def ask() -> bool:
        async with registry.runtime.sessions() as session:
            return await in_conflict_zone(session, uuid.UUID(city))

    assert await ask() is False
    await _assess(registry, city, _assessment(zone="conflict_zone", phase="active"))
    assert await ask() is True
    await _assess(registry, city, _assessment(zone="zone_of_peace", phase="post_conflict"))
    assert await ask() is True
    await _assess(registry, city, _assessment(zone="none", phase=None))
    assert await ask() is False


async def test_bad_assessments_get_a_clear_422_and_write_nothing(
    registry: ServiceUnderTest,
) -> None:
    city = await _city(registry, "Kinshasa", "CD")
    tomorrow_everywhere = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()

    def with_precondition(**fields: Any) -> dict[str, Any]:
        body = _assessment()
        body["preconditions"]["rule_of_law"].update(fields)
        return body

    cases = [
        (_assessment(phase=None), "needs a phase"),
        (_assessment(zone="none", phase="active"), "no conflict phase"),
        (_assessment(zone="frontline"), "Input should be 'none', 'conflict_zone' or"),
        (_assessment(phase="truce"), "Input should be 'pre_conflict', 'active' or"),
        (with_precondition(met="probably"), "Input should be 'yes', 'no' or 'unknown'"),
        (with_precondition(assessed_on=tomorrow_everywhere), "is in the future"),
        (with_precondition(note="x" * 2001), "at most 2000 characters"),
        ({**_assessment(), "assessed_by": "someone else"}, "Extra inputs are not permitted"),
        ({"zone": "none"}, "Field required"),
    ]
    for body, message in cases:
        response = await registry.client.post(
            f"/cities/{city}/conflict-assessments", json=body, headers=_admin()
        )
        assert response.status_code == 422, (body, response.text)
        assert message in response.text, (body, response.text)

    unknown = await registry.client.post(
        f"/cities/{uuid.uuid4()}/conflict-assessments", json=_assessment(), headers=_admin()
    )
    assert unknown.status_code == 404
    assert (await _profile(registry, str(uuid.uuid4()), _admin())).status_code == 404
    assert (await _profile(registry, city, _admin())).json()["history"] == []
    assert await registry.events("ConflictProfileAssessed") == []


async def test_an_idempotency_key_records_one_assessment(registry: ServiceUnderTest) -> None:
    city = await _city(registry, "Kinshasa", "CD")
    headers = {**_admin(), "Idempotency-Key": str(uuid.uuid4())}
    url = f"/cities/{city}/conflict-assessments"
    first = await registry.client.post(url, json=_assessment(), headers=headers)
    retry = await registry.client.post(url, json=_assessment(), headers=headers)
    assert (first.status_code, retry.status_code) == (201, 201)
    assert retry.json() == first.json()
    assert retry.headers["Idempotent-Replayed"] == "true"
    assert len(await registry.events("ConflictProfileAssessed")) == 1


READINESS = {
    "motivation": "Our council wants our experience of local democracy to serve peace-building.",
    "result_objectives": ["Train twenty municipal staff in budget transparency"],
    "commits_beyond_conflict": True,
    "has_formal_policy": False,
}


async def test_a_city_states_its_readiness_and_keeps_the_history(
    registry: ServiceUnderTest,
) -> None:
    the_hague = await _city(registry, "Den Haag", "NL")
    url = f"/cities/{the_hague}/diplomacy-readiness"

    first = await registry.client.put(url, json=READINESS, headers=_officer(the_hague))
    assert first.status_code == 200, first.text
    assert first.json()["latest"]["motivation"] == READINESS["motivation"]

    changed = {**READINESS, "has_formal_policy": True}
    second = (await registry.client.put(url, json=changed, headers=_officer(the_hague))).json()
    # A retried PUT (the same statement) adds no entry and no event.
    again = await registry.client.put(url, json=changed, headers=_officer(the_hague))
    assert again.json() == second

    public = (await registry.client.get(url, headers=USER)).json()
    assert public == second
    assert [s["has_formal_policy"] for s in public["history"]] == [True, False]
    assert public["latest"] == public["history"][0]
    assert "stated_by" not in public["latest"]

    events = await registry.events("DiplomacyReadinessStated")
    assert [event.subject for event in events] == [the_hague, the_hague]
    payload = events[-1].payload(DIPLOMACY_READINESS_STATED)
    assert (payload.has_formal_policy, payload.result_objectives) == (
        True,
        READINESS["result_objectives"],
    )


async def test_only_the_citys_officer_states_its_readiness(registry: ServiceUnderTest) -> None:
    the_hague = await _city(registry, "Den Haag", "NL")
    kinshasa = await _city(registry, "Kinshasa", "CD")
    url = f"/cities/{the_hague}/diplomacy-readiness"

    other_officer = await registry.client.put(url, json=READINESS, headers=_officer(kinshasa))
    assert other_officer.status_code == 403
    assert f"do not act for city {the_hague}" in other_officer.json()["detail"]
    assert (await registry.client.put(url, json=READINESS, headers=_admin())).status_code == 403

    nowhere = str(uuid.uuid4())
    unknown = await registry.client.put(
        f"/cities/{nowhere}/diplomacy-readiness", json=READINESS, headers=_officer(nowhere)
    )
    assert unknown.status_code == 404
    assert (
        await registry.client.get(f"/cities/{nowhere}/diplomacy-readiness", headers=USER)
    ).status_code == 404

    for body, message in [
        ({**READINESS, "motivation": "  "}, "at least 1 character"),
        ({**READINESS, "result_objectives": []}, "at least 1 item"),
        ({**READINESS, "stated_by": "someone"}, "Extra inputs are not permitted"),
    ]:
        bad = await registry.client.put(url, json=body, headers=_officer(the_hague))
        assert bad.status_code == 422, bad.text
        assert message in bad.text

    empty = (await registry.client.get(url, headers=USER)).json()
    assert empty == {"city_id": the_hague, "latest": None, "history": []}
    assert await registry.events("DiplomacyReadinessStated") == []
