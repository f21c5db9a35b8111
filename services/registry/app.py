"""The registry service: cities (and, as the programme grows, officials, networks, needs, offers
and conflict profiles). It is where a city's story begins; other services learn from its events."""

from services.registry.api import router
from services.registry.models import RegistryTable
from services.registry.settings import RegistrySettings
from shared.contracts import registry as contracts
from shared.service import ServiceDefinition

DEFINITION = ServiceDefinition(
    name="registry",
    title="city-exchange registry",
    description="Member cities of the programme. Publishes `registry.events`.",
    metadata=RegistryTable.metadata,
    router=router,
    settings=RegistrySettings,
    produces=contracts.EVENTS,
)
