"""Events about cities: registration, verification, profile.

Contact officials are personal data and never travel in events: a consumer that needs them
asks the registry, which applies its access rules."""

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
    # Added later, so with defaults: events recorded before them still read.
    latitude: float | None = None
    longitude: float | None = None
    official_languages: list[str] = Field(
        default_factory=list, description="ISO 639 codes (639-1 where one exists)"
    )
    is_ldc: bool | None = Field(
        default=None,
        description="the country was on the UN list of least developed countries when the city "
        "registered; null in events from before this field existed",
    )
    external_id: str | None = Field(
        default=None, description="'geonames:<id>' or 'unlocode:<UN/LOCODE>'"
    )


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
        latitude=6.1375,
        longitude=1.2123,
        official_languages=["fr", "ee"],
        is_ldc=True,
        external_id="unlocode:TGLFW",
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


class CityUpdated(Payload):
    city_id: UUID
    changed: list[str] = Field(
        description="the fields that changed; only these carry a value here, and one of them "
        "that is null was cleared"
    )
    region: str | None = None
    population: int | None = None
    latitude: float | None = None
    longitude: float | None = None
    official_languages: list[str] | None = None
    external_id: str | None = None
    contacts_changed: bool = Field(
        default=False,
        description="the contact officials changed; they are personal data, so they are not "
        "here: read them from the registry (GET /cities/{city_id})",
    )


CITY_UPDATED = EventSpec(
    "CityUpdated",
    CityUpdated,
    TOPIC,
    SOURCE,
    "A city's officer or a platform administrator changed its profile (name and country never "
    "change; verification has its own event).",
    CityUpdated(
        city_id=CITY_REGISTERED.example.city_id,
        changed=["contacts", "population"],
        population=871200,
        contacts_changed=True,
    ),
)

EVENTS = [CITY_REGISTERED, CITY_VERIFIED, CITY_UPDATED]
