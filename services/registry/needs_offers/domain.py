"""Rules of needs and offers, free of I/O. A need (what a city asks for) and an offer (what it can
give) have the same shape and the same life, so every rule here serves both kinds."""

from collections.abc import Iterable, Mapping
from datetime import date
from enum import StrEnum
from typing import Any, TypeVar
from uuid import UUID

import pycountry

from services.registry.needs_offers.taxonomy import TAXONOMY
from shared.auth import Principal, Role
from shared.errors import Conflict, Forbidden

T = TypeVar("T")

MAX_TITLE = 200
MAX_DESCRIPTION = 4000


class Kind(StrEnum):
    NEED = "need"
    OFFER = "offer"

    @property
    def plural(self) -> str:
        return f"{self.value}s"


class Status(StrEnum):
    OPEN = "open"
    MATCHED = "matched"  # an agreement took it up
    WITHDRAWN = "withdrawn"  # the city took it back; the record stays, for the history


class Form(StrEnum):
    """The form the help takes."""

    EXPERTISE = "expertise"
    TRAINING = "training"
    EQUIPMENT = "equipment"
    FUNDING = "funding"
    EXCHANGE_VISITS = "exchange-visits"


class Action(StrEnum):
    """What a revision of a need or an offer records."""

    PUBLISHED = "published"
    UPDATED = "updated"
    WITHDRAWN = "withdrawn"


def domain_code(code: str) -> str:
    """The taxonomy code for `code` (case and surrounding spaces ignored)."""
    normalised = code.strip().lower()
    if normalised not in TAXONOMY:
        raise ValueError(
            f"unknown domain {code!r}: use a code from GET /domains ({', '.join(TAXONOMY.codes)})"
        )
    return normalised


def language_code(code: str) -> str:
    """The ISO 639 code for `code`: alpha-2 where the language has one ('fra' and 'fre' are 'fr'),
    else alpha-3 ('mos' for Mooré, spoken in Ouagadougou, has no alpha-2), lower-cased."""
    normalised = code.strip().lower()
    language = None
    if len(normalised) == 2:
        language = pycountry.languages.get(alpha_2=normalised)
    elif len(normalised) == 3:
        language = pycountry.languages.get(alpha_3=normalised) or pycountry.languages.get(
            bibliographic=normalised
        )
    if language is None:
        raise ValueError(
            f"{code!r} is not an ISO 639 language code (e.g. 'fr', 'en', 'ee' for Ewe)"
        )
    return str(getattr(language, "alpha_2", language.alpha_3))


def language_codes(codes: Iterable[str]) -> list[str]:
    return unique(language_code(code) for code in codes)


def unique(values: Iterable[T]) -> list[T]:
    """`values` without repeats, in their first order: 'fr' twice is one language of work."""
    return list(dict.fromkeys(values))


def one_line(text: str) -> str:
    """A title: spacing collapsed, never blank."""
    collapsed = " ".join(text.split())
    if not collapsed:
        raise ValueError("cannot be blank")
    return collapsed


def paragraphs(text: str) -> str:
    """A description: its line breaks kept, its surrounding space trimmed, never blank."""
    stripped = text.strip()
    if not stripped:
        raise ValueError("cannot be blank")
    return stripped


def check_capacity(staff_days: int | None, partners: int | None) -> None:
    if staff_days is None and partners is None:
        raise ValueError(
            "give the capacity as staff_days, partners or both (e.g. {'staff_days': 20})"
        )


def check_period(start: date, end: date) -> None:
    if end <= start:
        raise ValueError(f"the period must end after it starts ({end} is not after {start})")


def check_acts_for(principal: Principal, city_id: UUID) -> None:
    """Only the city's own officers speak for it (OWASP API1: the city in the path is a claim)."""
    if not principal.acts_for_city(city_id):
        yours = sorted(principal.scopes(Role.CITY_OFFICER))
        cities = f"{'city' if len(yours) == 1 else 'cities'} {', '.join(yours)}"
        raise Forbidden(
            f"you act for {cities if yours else 'no city'}, not for city {city_id}; ask its "
            "officer, or refresh your token if you were made its officer a moment ago"
        )


def check_changeable(kind: Kind, status: Status) -> None:
    # A matched item is what an agreement was made on, and a withdrawn one is history: changing
    # either would rewrite what others relied on.
    if status is not Status.OPEN:
        raise Conflict(
            f"this {kind} is {status}; only an open {kind} can be changed (publish a new one)"
        )


def withdrawal_changes(status: Status) -> bool:
    """Whether withdrawing changes anything. A city may always take back what it published,
    matched or not; withdrawing twice is harmless, so a retried request raises no second event."""
    return status is not Status.WITHDRAWN


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """What a revision records: each field whose value differs, with its value before and after
    (JSON values; a field absent before, as at publication, was None)."""
    return {
        name: {"before": before.get(name), "after": value}
        for name, value in after.items()
        if before.get(name) != value
    }
