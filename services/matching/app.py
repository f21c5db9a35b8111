"""The matching service: its own read model of cities (from registry events), partner
suggestions (to come) and agreements between cities."""

from services.matching.api import router
from services.matching.expiry import expire_regularly
from services.matching.handlers import HANDLERS
from services.matching.models import MatchingTable
from services.matching.settings import MatchingSettings
from shared.contracts import matching as contracts
from shared.service import ServiceDefinition

DEFINITION = ServiceDefinition(
    name="matching",
    title="city-exchange matching",
    description="Agreements between cities. Consumes `registry.events`, publishes `matching.events`.",
    metadata=MatchingTable.metadata,
    router=router,
    settings=MatchingSettings,
    produces=contracts.EVENTS,
    handlers=HANDLERS,
    background=(expire_regularly,),
)
