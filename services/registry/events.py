"""The registry's events as made from its rows: one home, so that the API and the bulk importer
publish exactly the same facts."""

from dataclasses import dataclass

from pydantic import BaseModel

from services.registry.data import LDC_LIST
from services.registry.models import City
from services.registry.needs_offers.domain import Kind
from services.registry.needs_offers.models import NeedOffer
from shared.contracts import EventSpec
from shared.contracts.registry import CityRegistered
from shared.contracts.registry import needs_offers as contracts


def city_registered(city: City) -> CityRegistered:
    return CityRegistered(
        city_id=city.id,
        name=city.name,
        country_code=city.country_code,
        region=city.region,
        population=city.population,
        latitude=city.latitude,
        longitude=city.longitude,
        official_languages=city.official_languages,
        is_ldc=LDC_LIST.includes(city.country_code),
        external_id=city.external_id,
    )


@dataclass(frozen=True)
class KindEvents:
    published: EventSpec
    updated: EventSpec
    withdrawn: EventSpec


EVENTS_BY_KIND = {
    Kind.NEED: KindEvents(
        contracts.NEED_PUBLISHED, contracts.NEED_UPDATED, contracts.NEED_WITHDRAWN
    ),
    Kind.OFFER: KindEvents(
        contracts.OFFER_PUBLISHED, contracts.OFFER_UPDATED, contracts.OFFER_WITHDRAWN
    ),
}


def need_or_offer(spec: EventSpec, item: NeedOffer, **extra: object) -> BaseModel:
    """The payload's fields are the table's columns, except the id, which is named by kind."""
    return spec.payload.model_validate({**item.model_dump(), f"{item.kind}_id": item.id, **extra})
