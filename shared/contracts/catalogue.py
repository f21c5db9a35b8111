"""Every event type in the system, by type name."""

from shared.contracts import EventSpec, funding, matching, registry

PRODUCERS = {
    "registry": registry,
    "matching": matching,
    "funding": funding,
}

CATALOGUE: dict[str, EventSpec] = {
    spec.type: spec for module in PRODUCERS.values() for spec in module.EVENTS
}


def dead_letter_topic(consumer: str) -> str:
    return f"{consumer}.dlq"
