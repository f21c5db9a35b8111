"""Events about cities' needs (what a city asks for) and offers (what it can give).

Needs and offers have the same shape; their events differ only in the id field (`need_id`,
`offer_id`), so a consumer cannot mistake one for the other. Each event carries the whole item as
it stands after the change, so a consumer never has to ask the registry. Capacity and period are
flat fields: the catalogue publishes each payload's schema on its own, without shared
definitions."""

from datetime import UTC, date, datetime
from uuid import UUID

from pydantic import Field

from shared.contracts import EventSpec, Payload
from shared.contracts.registry.cities import CITY_REGISTERED
from shared.contracts.registry.topic import SOURCE, TOPIC


class _NeedOrOffer(Payload):
    city_id: UUID = Field(description="the city that published it")
    title: str
    description: str
    domain: str = Field(description="a code of the domain taxonomy (the registry's GET /domains)")
    languages: list[str] = Field(
        description="languages of work, ISO 639 (alpha-2 where one exists)"
    )
    forms: list[str] = Field(
        description="forms of help: expertise, training, equipment, funding, exchange-visits"
    )
    capacity_staff_days: int | None = Field(description="staff-days of work asked for or offered")
    capacity_partners: int | None = Field(description="how many partner cities it can take on")
    period_start: date
    period_end: date = Field(description="after period_start")
    status: str = Field(description="open, matched or withdrawn")


class _Need(_NeedOrOffer):
    need_id: UUID


class _Offer(_NeedOrOffer):
    offer_id: UUID


class _Update(Payload):
    changed: list[str] = Field(description="the fields this update changed")


class _Withdrawal(Payload):
    withdrawn_at: datetime


class NeedPublished(_Need):
    pass


class NeedUpdated(_Need, _Update):
    pass


class NeedWithdrawn(_Need, _Withdrawal):
    pass


class OfferPublished(_Offer):
    pass


class OfferUpdated(_Offer, _Update):
    pass


class OfferWithdrawn(_Offer, _Withdrawal):
    pass


# The Lomé-Lyon partnership of the 2001 mayors' meeting: Lomé asks for training in waste
# collection, Lyon offers it.
_LOME = CITY_REGISTERED.example.city_id
_LYON = UUID("5a1c0de0-0000-4000-8000-000000000001")
_LOME_NEED = dict(
    need_id=UUID("0eed0000-0000-4000-8000-000000000001"),
    city_id=_LOME,
    title="Training for waste collection teams",
    description=(
        "Lomé's districts grow faster than its waste collection. We ask for training of 40 "
        "municipal agents in collection rounds, vehicle upkeep and sorting at transfer points."
    ),
    domain="waste-collection",
    languages=["fr", "ee"],
    forms=["training", "exchange-visits"],
    capacity_staff_days=60,
    capacity_partners=1,
    period_start=date(2027, 2, 1),
    period_end=date(2027, 7, 31),
    status="open",
)
_LYON_OFFER = dict(
    offer_id=UUID("0ffe0000-0000-4000-8000-000000000001"),
    city_id=_LYON,
    title="Waste collection: training by our cleansing department",
    description=(
        "Lyon's cleansing department trains collection supervisors on site and hosts "
        "two-week exchange visits for their trainers."
    ),
    domain="waste-collection",
    languages=["fr", "en"],
    forms=["training", "expertise", "exchange-visits"],
    capacity_staff_days=90,
    capacity_partners=2,
    period_start=date(2027, 1, 15),
    period_end=date(2027, 12, 15),
    status="open",
)
_AT = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)

NEED_PUBLISHED = EventSpec(
    "NeedPublished",
    NeedPublished,
    TOPIC,
    SOURCE,
    "A city published a need: help it asks for, in a domain of the taxonomy.",
    NeedPublished(**_LOME_NEED),
)
NEED_UPDATED = EventSpec(
    "NeedUpdated",
    NeedUpdated,
    TOPIC,
    SOURCE,
    "A city changed an open need; `changed` names the fields, the rest is the need as it now is.",
    NeedUpdated(**{**_LOME_NEED, "capacity_staff_days": 80}, changed=["capacity"]),
)
NEED_WITHDRAWN = EventSpec(
    "NeedWithdrawn",
    NeedWithdrawn,
    TOPIC,
    SOURCE,
    "A city withdrew a need; it stays on record, with its history.",
    NeedWithdrawn(**{**_LOME_NEED, "status": "withdrawn"}, withdrawn_at=_AT),
)
OFFER_PUBLISHED = EventSpec(
    "OfferPublished",
    OfferPublished,
    TOPIC,
    SOURCE,
    "A city published an offer: help it can give, in a domain of the taxonomy.",
    OfferPublished(**_LYON_OFFER),
)
OFFER_UPDATED = EventSpec(
    "OfferUpdated",
    OfferUpdated,
    TOPIC,
    SOURCE,
    "A city changed an open offer; `changed` names the fields, the rest is the offer as it now is.",
    OfferUpdated(**{**_LYON_OFFER, "languages": ["fr", "en", "es"]}, changed=["languages"]),
)
OFFER_WITHDRAWN = EventSpec(
    "OfferWithdrawn",
    OfferWithdrawn,
    TOPIC,
    SOURCE,
    "A city withdrew an offer; it stays on record, with its history.",
    OfferWithdrawn(**{**_LYON_OFFER, "status": "withdrawn"}, withdrawn_at=_AT),
)

EVENTS = [
    NEED_PUBLISHED,
    NEED_UPDATED,
    NEED_WITHDRAWN,
    OFFER_PUBLISHED,
    OFFER_UPDATED,
    OFFER_WITHDRAWN,
]
