"""The funding service: solidarity funds and donors' pledges (applications, disbursements and
the ledger come with the funding issue)."""

from services.funding.api import router
from services.funding.models import FundingTable
from services.funding.settings import FundingSettings
from shared.contracts import funding as contracts
from shared.service import ServiceDefinition

DEFINITION = ServiceDefinition(
    name="funding",
    title="city-exchange funding",
    description="Solidarity funds and pledges. Publishes `funding.events`.",
    metadata=FundingTable.metadata,
    router=router,
    settings=FundingSettings,
    produces=contracts.EVENTS,
)
