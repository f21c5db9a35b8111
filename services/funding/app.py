"""The funding service: solidarity funds, donors' pledges and receipts, the ledger, and grants
(applications, milestones and tranches). It consumes matching's agreement events and the
registry's cities and conflict assessments, for its read model and the holds on tranches."""

from services.funding.api import router
from services.funding.grants.handlers import HANDLERS as GRANT_HANDLERS
from services.funding.models import FundingTable
from services.funding.overdue import flag_overdue_regularly
from services.funding.settings import FundingSettings
from shared.contracts import funding as contracts
from shared.service import ServiceDefinition

DEFINITION = ServiceDefinition(
    name="funding",
    title="city-exchange funding",
    description="Solidarity funds, pledges, grants and their ledger. Publishes `funding.events`; "
    "consumes `matching.events` and `registry.events`.",
    metadata=FundingTable.metadata,
    router=router,
    settings=FundingSettings,
    produces=contracts.EVENTS,
    handlers=GRANT_HANDLERS,
    background=(flag_overdue_regularly,),
)
