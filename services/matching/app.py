"""The matching service: its own read model of cities (from registry events), partner
suggestions, expressions of interest between cities, and agreements between cities with their
health (activity, dormancy reminders)."""

from fastapi import APIRouter

from services.matching import api, interest_api
from services.matching.expiry import expire_regularly
from services.matching.handlers import HANDLERS
from services.matching.health import remind_regularly
from services.matching.models import MatchingTable
from services.matching.settings import MatchingSettings
from shared.contracts import matching as contracts
from shared.service import ServiceDefinition

router = APIRouter()
router.include_router(api.router)
router.include_router(interest_api.router)

DEFINITION = ServiceDefinition(
    name="matching",
    title="city-exchange matching",
    description="Agreements between cities. Consumes `registry.events` and `funding.events`, "
    "publishes `matching.events`.",
    metadata=MatchingTable.metadata,
    router=router,
    settings=MatchingSettings,
    produces=contracts.EVENTS,
    handlers=HANDLERS,
    background=(expire_regularly, remind_regularly),
)
