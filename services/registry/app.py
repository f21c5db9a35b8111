"""The registry service: cities (and, as the programme grows, officials, networks, needs, offers
and conflict profiles). It is where a city's story begins; other services learn from its events."""

from fastapi import APIRouter

from services.registry.api import router as cities
from services.registry.conflict.api import router as conflict
from services.registry.identity.api import router as identity
from services.registry.identity.bootstrap import start_identity
from services.registry.models import RegistryTable
from services.registry.needs_offers.api import router as needs_offers
from services.registry.networks.api import router as networks
from services.registry.settings import RegistrySettings
from shared.contracts import registry as contracts
from shared.service import ServiceDefinition

router = APIRouter()
router.include_router(cities)
router.include_router(conflict)
router.include_router(identity)
router.include_router(needs_offers)
router.include_router(networks)

DEFINITION = ServiceDefinition(
    name="registry",
    title="city-exchange registry",
    description=(
        "Member cities of the programme, and identity: accounts, the OAuth2 token endpoint, "
        "role grants, donor systems' clients. Publishes `registry.events`."
    ),
    metadata=RegistryTable.metadata,
    router=router,
    settings=RegistrySettings,
    produces=contracts.EVENTS,
    on_startup=start_identity,
)
