"""Events the matching service publishes."""

from uuid import UUID

from shared.contracts import EventSpec, Payload

TOPIC = "matching.events"
SOURCE = "/city-exchange/matching"

_LOME = UUID("5a1c0de0-0000-4000-8000-00000000070e")
_LYON = UUID("5a1c0de0-0000-4000-8000-000000000001")
_EXAMPLE_AGREEMENT = UUID("a9ee0000-0000-4000-8000-000000000001")


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
    AgreementProposed(
        agreement_id=_EXAMPLE_AGREEMENT,
        title="Lomé–Lyon: waste collection and municipal staff training",
        kind="bilateral",
        party_city_ids=[_LOME, _LYON],
        proposed_by_city_id=_LOME,
    ),
)
AGREEMENT_ACCEPTED = EventSpec(
    "AgreementAccepted",
    AgreementAccepted,
    TOPIC,
    SOURCE,
    "One party accepted an agreement; `all_parties_accepted` tells whether it was the last.",
    AgreementAccepted(
        agreement_id=_EXAMPLE_AGREEMENT,
        title="Lomé–Lyon: waste collection and municipal staff training",
        city_id=_LYON,
        party_city_ids=[_LOME, _LYON],
        all_parties_accepted=True,
    ),
)

EVENTS = [AGREEMENT_PROPOSED, AGREEMENT_ACCEPTED]
