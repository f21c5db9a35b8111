"""Every event type in the system, by type name."""

from shared.contracts import EventSpec, funding, matching, notifications, registry

PRODUCERS = {
    "registry": registry,
    "matching": matching,
    "funding": funding,
    "notifications": notifications,
}

CATALOGUE: dict[str, EventSpec] = {
    spec.type: spec for module in PRODUCERS.values() for spec in module.EVENTS
}


def dead_letter_topic(consumer: str) -> str:
    return f"{consumer}.dlq"
