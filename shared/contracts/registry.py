"""Events the registry service publishes."""

from uuid import UUID

from pydantic import Field

from shared.contracts import EventSpec, Payload

TOPIC = "registry.events"
SOURCE = "/city-exchange/registry"


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

EVENTS = [CITY_REGISTERED]
