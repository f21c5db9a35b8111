"""Events about networks and associations of cities (UCLG, CITYNET, Sister Cities International,
AIMF, ALDA, national associations...): their registration, their member cities, and the mandate
each member city gives its network to act for it. The subject of every event is the network."""

from datetime import UTC, datetime
from enum import StrEnum
from uuid import UUID

from pydantic import Field

from shared.contracts import EventSpec, Payload
from shared.contracts.registry.topic import SOURCE, TOPIC


class NetworkScope(StrEnum):
    GLOBAL = "global"  # e.g. UCLG, Mayors for Peace, Sister Cities International
    REGIONAL = "regional"  # e.g. CITYNET (Asia-Pacific), ALDA (Europe)
    NATIONAL = "national"  # e.g. VNG, FCM, the Belgian cities' and municipalities' association


class MembershipChange(StrEnum):
    JOINED = "joined"
    LEFT = "left"  # a departure also ends the mandate
    MANDATE_GRANTED = "mandate_granted"  # also sent when a city changes the mandate's domains
    MANDATE_WITHDRAWN = "mandate_withdrawn"


class NetworkRegistered(Payload):
    network_id: UUID
    name: str
    acronym: str | None = None
    scope: NetworkScope
    country_code: str | None = Field(
        default=None, description="ISO 3166-1 alpha-2; set for national networks only"
    )
    website: str | None = None


class NetworkMembershipChanged(Payload):
    network_id: UUID
    city_id: UUID
    change: MembershipChange
    mandate: bool = Field(description="whether the network holds the city's mandate afterwards")
    mandate_domains: list[str] = Field(
        default_factory=list,
        description="the domains the mandate is limited to; empty: every domain (or no mandate)",
    )
    at: datetime


_ALDA = UUID("a1da0000-0000-4000-8000-000000000001")
_KUTAISI = UUID("5a1c0de0-0000-4000-8000-0000000000c1")

NETWORK_REGISTERED = EventSpec(
    "NetworkRegistered",
    NetworkRegistered,
    TOPIC,
    SOURCE,
    "A platform administrator registered a network or association of cities.",
    NetworkRegistered(
        network_id=_ALDA,
        name="Association of Local Democracy Agencies",
        acronym="ALDA",
        scope=NetworkScope.REGIONAL,
        website="http://www.alda-europe.eu/",
    ),
)
NETWORK_MEMBERSHIP_CHANGED = EventSpec(
    "NetworkMembershipChanged",
    NetworkMembershipChanged,
    TOPIC,
    SOURCE,
    "A city joined or left a network, or granted or withdrew the network's mandate to act for it.",
    NetworkMembershipChanged(
        network_id=_ALDA,
        city_id=_KUTAISI,
        change=MembershipChange.MANDATE_GRANTED,
        mandate=True,
        mandate_domains=["cross_border_cooperation", "inter_ethnic_dialogue"],
        at=datetime(2026, 11, 22, 9, 30, tzinfo=UTC),
    ),
)

EVENTS = [NETWORK_REGISTERED, NETWORK_MEMBERSHIP_CHANGED]
