"""Events about cities: registration, verification, profile."""

from uuid import UUID

from pydantic import Field

from shared.contracts import EventSpec, Payload
from shared.contracts.registry.topic import SOURCE, TOPIC

_ADMIN = "8d1c4a2e-0000-4000-8000-00000000a0a0"


class CityRegistered(Payload):
    city_id: UUID
    name: str
    country_code: str = Field(description="ISO 3166-1 alpha-2")
    region: str | None = None
    population: int | None = None


CITY_REGISTERED = EventSpec(
    "CityRegistered",
    CityRegistered,
    TOPIC,
    SOURCE,
    "A member city registered with the programme.",
    CityRegistered(
        city_id=UUID("5a1c0de0-0000-4000-8000-00000000070e"),
        name="Lomé",
        country_code="TG",
        region="Maritime",
        population=837437,
    ),
)


class CityVerified(Payload):
    city_id: UUID
    verified_by: str = Field(description="subject of the platform administrator")


CITY_VERIFIED = EventSpec(
    "CityVerified",
    CityVerified,
    TOPIC,
    SOURCE,
    "A platform administrator verified a registered city.",
    CityVerified(city_id=CITY_REGISTERED.example.city_id, verified_by=_ADMIN),
)

EVENTS = [CITY_REGISTERED, CITY_VERIFIED]
