"""Who hears of what, and how: pure rules, no I/O.

An event reaches *audiences* (a city, a fund, a donor, a network, the platform); the people and
machine clients holding a role scoped to an audience are its recipients; each recipient's
preferences say on which channel they hear of each event type. What each event type says, and
to which audiences, is one row of the table in `notices.py`."""

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, Literal
from uuid import UUID

from shared.errors import DomainError


class RecipientKind(StrEnum):
    CITY = "city"
    FUND = "fund"
    DONOR = "donor"
    NETWORK = "network"
    PLATFORM = "platform"
    # Every donor that pledged to the fund (the id): the handler expands it to their DONOR
    # audiences from its read model of pledges before anyone is told, webhooks included.
    FUND_DONORS = "fund_donors"


# The platform is one audience of its own; an Audience still carries a UUID so that every
# audience has the same shape for the webhooks' endpoint lookup.
THE_PLATFORM = UUID(int=0)


@dataclass(frozen=True, order=True)
class Audience:
    kind: RecipientKind
    id: UUID


# Which role makes its holder part of which kind of audience.
ROLE_AUDIENCE = {
    "city_officer": RecipientKind.CITY,
    "fund_admin": RecipientKind.FUND,
    "donor": RecipientKind.DONOR,
    "network_officer": RecipientKind.NETWORK,
    "platform_admin": RecipientKind.PLATFORM,
}


def audience_of_role(role: str, scope: str | None) -> Audience | None:
    """The audience a role grant makes its holder part of; None for a role or scope this
    service does not know (a newer role, a malformed scope), which then reaches no one."""
    kind = ROLE_AUDIENCE.get(role)
    if kind is None:
        return None
    if kind is RecipientKind.PLATFORM:
        return Audience(kind, THE_PLATFORM)
    try:
        return Audience(kind, UUID(scope or ""))
    except ValueError:
        return None


class Channel(StrEnum):
    IN_APP = "in_app"
    EMAIL = "email"


Language = Literal["en", "fr", "es"]
LANGUAGES: tuple[Language, ...] = ("en", "fr", "es")
FALLBACK_LANGUAGE: Language = "en"


def default_language(city_languages: list[list[str]]) -> Language:
    """A city officer reads first in their city's first official language we have templates
    for; everyone else (or a city speaking none of them) in English."""
    for languages in city_languages:
        for code in languages:
            if code in LANGUAGES:
                return code  # type: ignore[return-value]
    return FALLBACK_LANGUAGE


class Digest(StrEnum):
    IMMEDIATE = "immediate"  # one email per event
    DAILY = "daily"
    WEEKLY = "weekly"


def digest_period(digest: Digest, at: datetime) -> tuple[datetime, datetime]:
    """The period (UTC day, or ISO week from Monday) that `at` falls in: [start, end)."""
    day = datetime(at.year, at.month, at.day, tzinfo=UTC)
    if digest is Digest.DAILY:
        return day, day + timedelta(days=1)
    if digest is Digest.WEEKLY:
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=7)
    raise ValueError("an immediate delivery has no digest period")


# Subscriptions: per event type, per channel, on (True) or off (False); absent means the default.
Subscriptions = Mapping[str, Mapping[str, bool]]


class UnknownEventType(DomainError):
    pass


def check_event_types(subscriptions: Subscriptions, known: list[str]) -> None:
    unknown = sorted(set(subscriptions) - set(known))
    if unknown:
        raise UnknownEventType(
            f"unknown event type{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}; "
            f"the types one can subscribe to are: {', '.join(sorted(known))} "
            "(GET /event-types lists them)"
        )


def wants(
    subscriptions: Subscriptions, event_type: str, channel: Channel, email_by_default: bool
) -> bool:
    """Whether a recipient hears of `event_type` on `channel`. By default everything reaching
    one's audiences shows in the app; email is on for what others did, off for the echo of one's
    own city's actions (a need it published), unless the recipient chose otherwise."""
    chosen = subscriptions.get(event_type, {}).get(channel)
    if chosen is not None:
        return chosen
    return channel is Channel.IN_APP or email_by_default


# Deliberately simple: the address is checked by sending to it, not by a regular expression.
# What matters here is one address, without spaces or line breaks (header injection).
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class InvalidEmail(DomainError):
    pass


def check_email(address: str) -> str:
    if len(address) > 254 or not _EMAIL.match(address):
        raise InvalidEmail(
            f"{address!r} is not an email address: give one address like name@example.org"
        )
    return address


def message_id(delivery_id: UUID, domain: str) -> str:
    """Derived from the delivery, so a message sent twice (a crash between sending and
    recording) carries the same Message-ID and the receiver can drop the copy."""
    return f"<{delivery_id}@{domain}>"


def retry_delay(attempts: int, first: float, most: float) -> timedelta:
    """Exponential backoff after `attempts` failed tries: first, twice that, ... capped at most."""
    return timedelta(seconds=min(first * 2 ** max(attempts - 1, 0), most))


# What a template may read: plain values only, never an object it could walk into.
View = dict[str, Any]
