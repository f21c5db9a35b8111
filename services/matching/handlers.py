"""What matching does with the events it consumes: the one table of event type -> handler."""

from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching.models import KnownCity
from shared.contracts import EventSpec
from shared.contracts.registry import CITY_REGISTERED, CityRegistered
from shared.events import Event
from shared.inbox import Handler


async def on_city_registered(session: AsyncSession, _event: Event, payload: CityRegistered) -> None:
    city = await session.get(KnownCity, payload.city_id) or KnownCity(
        id=payload.city_id, name="", country_code=""
    )
    city.name = payload.name
    city.country_code = payload.country_code
    session.add(city)


HANDLERS: dict[EventSpec, Handler] = {CITY_REGISTERED: on_city_registered}
