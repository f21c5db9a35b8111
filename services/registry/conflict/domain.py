"""Conflict-profile rules, free of I/O: the vocabulary of the Council of Europe's report on city
diplomacy (zones, phases, the preconditions in the conflict zone), what makes an assessment
valid, whether the preconditions hold, and who may read or state what."""

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple
from uuid import UUID

from shared.auth import Principal
from shared.errors import Forbidden

# The class names are distinctive on purpose: PostgreSQL keeps one enum type per name for the
# whole registry database, which other parts of the registry share.


class ConflictZone(StrEnum):
    NONE = "none"  # not in a conflict zone
    CONFLICT_ZONE = "conflict_zone"
    ZONE_OF_PEACE = "zone_of_peace"  # a place where the conflict abates while it rages around


class ConflictPhase(StrEnum):
    PRE_CONFLICT = "pre_conflict"  # low violence before a conflict
    ACTIVE = "active"  # high and fluctuating violence
    POST_CONFLICT = "post_conflict"  # low violence, reconstruction


class Precondition(StrEnum):
    """The report's preconditions in the conflict zone, in its order."""

    DISARMAMENT_OR_PACIFICATION = "disarmament_or_pacification"
    RULE_OF_LAW = "rule_of_law"  # independent, impartial justice and police; civil society heard
    COMPETENT_LOCAL_OFFICIALS = "competent_local_officials"  # competent, courageous, identified
    LOCAL_ELECTIONS = "local_elections"  # held; helpful, not required


class PreconditionMet(StrEnum):
    YES = "yes"
    NO = "no"
    UNKNOWN = "unknown"


# "Il n'en reste pas moins que des élections locales peuvent créer une dynamique allant dans la
# bonne direction": the report names elections with the preconditions, but as helpful only.
REQUIRED_PRECONDITIONS = (
    Precondition.DISARMAMENT_OR_PACIFICATION,
    Precondition.RULE_OF_LAW,
    Precondition.COMPETENT_LOCAL_OFFICIALS,
)

MAX_NOTE_LENGTH = 2000

# A date is "today" somewhere on Earth as long as it is today at UTC+14 (Line Islands): an
# assessor far east of UTC must not be told that their today is in the future.
_EARLIEST_UTC_OFFSET = timedelta(hours=14)


class PreconditionsVerdict(NamedTuple):
    hold: bool
    missing: list[Precondition]  # required preconditions not known to be met, in report order


def preconditions_hold(assessment: Mapping[Precondition, PreconditionMet]) -> PreconditionsVerdict:
    """Whether city diplomacy may act, as far as the conflict zone goes: every required
    precondition is met. "Unknown" is not met: the report would act "si, et seulement si" the
    preconditions are fulfilled, so doubt counts against."""
    missing = [p for p in REQUIRED_PRECONDITIONS if assessment.get(p) is not PreconditionMet.YES]
    return PreconditionsVerdict(hold=not missing, missing=missing)


def places_in_conflict_zone(zone: ConflictZone) -> bool:
    """A zone of peace lies inside a conflict zone: its officials are as exposed."""
    return zone is not ConflictZone.NONE


def check_phase(zone: ConflictZone, phase: ConflictPhase | None) -> None:
    """A city in a conflict zone (or a zone of peace) has a phase; a city outside has none."""
    if places_in_conflict_zone(zone) and phase is None:
        choices = ", ".join(repr(str(p)) for p in ConflictPhase)
        raise ValueError(f"zone {str(zone)!r} needs a phase, one of {choices}")
    if not places_in_conflict_zone(zone) and phase is not None:
        raise ValueError(
            "a city outside any conflict zone has no conflict phase: leave phase out (or send "
            "zone 'conflict_zone' or 'zone_of_peace')"
        )


def check_assessed_on(assessed_on: date, now: datetime) -> date:
    """An assessment says what was observed, so its date cannot lie in the future."""
    latest = (now.astimezone(UTC) + _EARLIEST_UTC_OFFSET).date()
    if assessed_on > latest:
        raise ValueError(
            f"assessed_on {assessed_on.isoformat()} is in the future: give the date the "
            "precondition was assessed on"
        )
    return assessed_on


def may_read_profile(principal: Principal, city_id: UUID) -> bool:
    """A conflict profile can endanger the people it names: only platform administrators and
    the city's own officers read it. Anyone else is answered as if there were none."""
    return principal.is_platform_admin or principal.acts_for_city(city_id)


def check_states_readiness_for(principal: Principal, city_id: UUID) -> None:
    """Only the city's own officers speak for its readiness (the id in the path is a claim)."""
    if not principal.acts_for_city(city_id):
        raise Forbidden(
            f"you do not act for city {city_id}: only its officers state its readiness; refresh "
            "your token if you were made its officer a moment ago"
        )
