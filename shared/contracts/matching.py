"""Events the matching service publishes."""

from uuid import UUID

from shared.contracts import EventSpec, Payload

TOPIC = "matching.events"
SOURCE = "/city-exchange/matching"


class AgreementProposed(Payload):
    agreement_id: UUID
    title: str
    kind: str
    party_city_ids: list[UUID]
    proposed_by_city_id: UUID


class AgreementAccepted(Payload):
    agreement_id: UUID
    title: str
    city_id: UUID
    party_city_ids: list[UUID]
    all_parties_accepted: bool


AGREEMENT_PROPOSED = EventSpec(
    "AgreementProposed",
    AgreementProposed,
    TOPIC,
    SOURCE,
    "A city proposed an agreement to one or more partner cities; the proposer counts as accepting.",
)
AGREEMENT_ACCEPTED = EventSpec(
    "AgreementAccepted",
    AgreementAccepted,
    TOPIC,
    SOURCE,
    "One party accepted an agreement; `all_parties_accepted` tells whether it was the last.",
)

EVENTS = [AGREEMENT_PROPOSED, AGREEMENT_ACCEPTED]
