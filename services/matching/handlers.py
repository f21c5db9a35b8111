"""What matching does with the events it consumes: the one table of event type -> handler.

Every registry event below feeds matching's read model; the rules (versions, events held until
their city is known, rebuilding, reactions of agreements) are in `services.matching.read_model`.
Every funding event about an agreement (its payload has `agreement_id`) is a sign of that
agreement's life (`services.matching.health`): taken from funding's contract, so an event
funding adds later is handled as soon as its contract is published."""

from services.matching import health, read_model
from shared.contracts import EventSpec, funding
from shared.contracts.registry.cities import CITY_REGISTERED, CITY_UPDATED, CITY_VERIFIED
from shared.contracts.registry.conflict import (
    CONFLICT_PROFILE_ASSESSED,
    DIPLOMACY_READINESS_STATED,
)
from shared.contracts.registry.needs_offers import (
    NEED_PUBLISHED,
    NEED_UPDATED,
    NEED_WITHDRAWN,
    OFFER_PUBLISHED,
    OFFER_UPDATED,
    OFFER_WITHDRAWN,
)
from shared.contracts.registry.networks import NETWORK_MEMBERSHIP_CHANGED, NETWORK_REGISTERED
from shared.inbox import Handler

HANDLERS: dict[EventSpec, Handler] = {
    CITY_REGISTERED: read_model.on_city_registered,
    CITY_UPDATED: read_model.on_city_updated,
    CITY_VERIFIED: read_model.on_city_verified,
    CONFLICT_PROFILE_ASSESSED: read_model.on_conflict_profile_assessed,
    DIPLOMACY_READINESS_STATED: read_model.on_diplomacy_readiness_stated,
    NEED_PUBLISHED: read_model.on_need_published,
    NEED_UPDATED: read_model.on_need_updated,
    NEED_WITHDRAWN: read_model.on_need_withdrawn,
    OFFER_PUBLISHED: read_model.on_offer_published,
    OFFER_UPDATED: read_model.on_offer_updated,
    OFFER_WITHDRAWN: read_model.on_offer_withdrawn,
    NETWORK_REGISTERED: read_model.on_network_registered,
    NETWORK_MEMBERSHIP_CHANGED: read_model.on_network_membership_changed,
    **dict.fromkeys(health.funding_activity_specs(funding.EVENTS), health.on_funding_activity),
}
