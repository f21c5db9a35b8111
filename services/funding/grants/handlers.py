"""What grants does with the events funding consumes: the one table of event type -> handler.
Matching's agreement events and the registry's cities and conflict assessments feed the read
model, and through it the automatic holds (`services.funding.grants.read_model`)."""

from services.funding.grants import read_model
from shared.contracts import EventSpec
from shared.contracts.matching import AGREEMENT_ACCEPTED, AGREEMENT_PROPOSED, AGREEMENT_TRANSITIONS
from shared.contracts.registry.cities import CITY_REGISTERED, CITY_UPDATED
from shared.contracts.registry.conflict import CONFLICT_PROFILE_ASSESSED
from shared.inbox import Handler

HANDLERS: dict[EventSpec, Handler] = {
    AGREEMENT_PROPOSED: read_model.on_agreement_proposed,
    AGREEMENT_ACCEPTED: read_model.on_agreement_accepted,
    **{spec: read_model.on_agreement_transition for spec in AGREEMENT_TRANSITIONS},
    CITY_REGISTERED: read_model.on_city_registered,
    CITY_UPDATED: read_model.on_city_updated,
    CONFLICT_PROFILE_ASSESSED: read_model.on_conflict_profile_assessed,
}
