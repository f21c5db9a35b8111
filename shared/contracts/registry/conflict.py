"""Events about cities in conflict zones: assessments of their phase and of the report's
preconditions for city diplomacy, and helping cities' stated readiness."""

from datetime import UTC, date, datetime
from typing import Literal
from uuid import UUID

from pydantic import Field

from shared.contracts import EventSpec, Payload
from shared.contracts.registry.topic import SOURCE, TOPIC

Zone = Literal["none", "conflict_zone", "zone_of_peace"]
Phase = Literal["pre_conflict", "active", "post_conflict"]
Met = Literal["yes", "no", "unknown"]


class ConflictProfileAssessed(Payload):
    # No free-text notes, by design: they may name people or sources at risk in a conflict
    # zone, and this topic is read by every service (and whoever operates the broker). The
    # notes stay in the registry, readable only by those who need them.
    # The preconditions are flat fields, not nested objects: the catalogue publishes each payload
    # as one self-contained schema.
    assessment_id: UUID
    city_id: UUID
    zone: Zone
    phase: Phase | None = Field(description="null when the zone is 'none'")
    disarmament_or_pacification_met: Met = Field(
        description="required: a disarmament or pacification process exists"
    )
    disarmament_or_pacification_assessed_on: date
    rule_of_law_met: Met = Field(
        description="required: some rule of law (independent, impartial justice and police)"
    )
    rule_of_law_assessed_on: date
    competent_local_officials_met: Met = Field(
        description="required: competent and courageous local officials are identified"
    )
    competent_local_officials_assessed_on: date
    local_elections_met: Met = Field(
        description="helpful, not required: local elections have been held"
    )
    local_elections_assessed_on: date
    preconditions_hold: bool = Field(
        description="every required precondition is met ('unknown' counts as not met)"
    )
    missing_preconditions: list[str] = Field(
        default_factory=list,
        description="the required preconditions not known to be met, in the report's order",
    )
    assessed_at: datetime


class DiplomacyReadinessStated(Payload):
    # A helping city states these publicly (any signed-in member may read them), so the text
    # travels with the event.
    city_id: UUID
    motivation: str
    result_objectives: list[str]
    commits_beyond_conflict: bool = Field(description="to last beyond the end of the conflict")
    has_formal_policy: bool = Field(description="the city has a formal city-diplomacy policy")
    stated_at: datetime


# Kneževi Vinogradi, Eastern Croatia: the report's case study of local governments in
# post-conflict reconstruction, after the 1997 local elections.
_KNEZEVI_VINOGRADI = UUID("5a1c0de0-0000-4000-8000-0000000000c1")
_THE_HAGUE = UUID("5a1c0de0-0000-4000-8000-0000000000d1")
_ASSESSED_ON = date(1998, 1, 15)

CONFLICT_PROFILE_ASSESSED = EventSpec(
    "ConflictProfileAssessed",
    ConflictProfileAssessed,
    TOPIC,
    SOURCE,
    "A city's conflict zone, phase and the preconditions for city diplomacy were assessed "
    "(a new dated assessment; earlier ones stand). Notes are not published.",
    ConflictProfileAssessed(
        assessment_id=UUID("c0f1c700-0000-4000-8000-000000000001"),
        city_id=_KNEZEVI_VINOGRADI,
        zone="conflict_zone",
        phase="post_conflict",
        disarmament_or_pacification_met="yes",
        disarmament_or_pacification_assessed_on=_ASSESSED_ON,
        rule_of_law_met="yes",
        rule_of_law_assessed_on=_ASSESSED_ON,
        competent_local_officials_met="yes",
        competent_local_officials_assessed_on=_ASSESSED_ON,
        local_elections_met="yes",
        local_elections_assessed_on=date(1997, 4, 13),
        preconditions_hold=True,
        assessed_at=datetime(1998, 1, 20, 10, 0, tzinfo=UTC),
    ),
)

DIPLOMACY_READINESS_STATED = EventSpec(
    "DiplomacyReadinessStated",
    DiplomacyReadinessStated,
    TOPIC,
    SOURCE,
    "A city stated its readiness to help cities in conflict zones (city diplomacy): its "
    "motivation, result objectives and commitments. Each statement supersedes the previous.",
    DiplomacyReadinessStated(
        city_id=_THE_HAGUE,
        motivation=(
            "Host of the first World Conference on City Diplomacy; we want our experience of "
            "local democracy to support colleagues rebuilding theirs."
        ),
        result_objectives=[
            "Train twenty municipal staff of the partner city in budget transparency",
            "A multi-ethnic youth football team playing a yearly tournament",
        ],
        commits_beyond_conflict=True,
        has_formal_policy=True,
        stated_at=datetime(2008, 6, 11, 9, 0, tzinfo=UTC),
    ),
)

EVENTS: list[EventSpec] = [CONFLICT_PROFILE_ASSESSED, DIPLOMACY_READINESS_STATED]
