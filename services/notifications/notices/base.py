"""What a notice is: event type -> audiences, view and templates. The rows are in this
package's modules, one per producer; NOTICES in __init__ gathers them.

Adding an event type is adding one row to its producer's ROWS: who hears of it (`audiences`,
pure, also what webhooks are sent to), the only values its templates may read (`view`: plain values picked
from the payload, never the payload itself, so no template can reach a field the recipient may
not see), and its subject and body in English, French and Spanish (Jinja; the HTML part is
autoescaped, see rendering.py). A language missing from a row falls back to English, and the
delivery records which language was missing."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from services.notifications.domain import Audience, Language, RecipientKind, View
from shared.contracts import EventSpec


@dataclass(frozen=True)
class Names:
    """Names of the cities and networks an event mentions, from this service's read model.
    Events of different topics arrive in any order: a name not known yet is None, and the
    templates say "a partner city" rather than hold the notification back."""

    cities: Mapping[UUID, str] = field(default_factory=dict)
    networks: Mapping[UUID, str] = field(default_factory=dict)

    def city(self, city_id: UUID | None) -> str | None:
        return self.cities.get(city_id) if city_id else None

    def network(self, network_id: UUID) -> str | None:
        return self.networks.get(network_id)


# (subject, body) per language, as Jinja sources.
Templates = Mapping[Language, tuple[str, str]]


@dataclass(frozen=True)
class Notice:
    spec: EventSpec
    audiences: Callable[[Any], set[Audience]]
    view: Callable[[Any, Names, Audience], View]
    templates: Templates
    # Email for what others did; the echo of one's own city's action shows in the app only.
    email_by_default: bool = True


def city(p: Any) -> set[Audience]:
    return {Audience(RecipientKind.CITY, p.city_id)}


def parties(p: Any) -> set[Audience]:
    return {Audience(RecipientKind.CITY, city) for city in p.party_city_ids}


def fund(p: Any) -> set[Audience]:
    return {Audience(RecipientKind.FUND, p.fund_id)}


def nothing(_p: Any, _names: Names, _audience: Audience) -> View:
    return {}


# The tail of a sentence that may carry a reason, in every language alike.
REASON = "{% if reason %}: {{ reason }}{% else %}.{% endif %}"
