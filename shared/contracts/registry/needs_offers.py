"""Events about cities' needs and offers (to come with the registry issue)."""

from shared.contracts import EventSpec

EVENTS: list[EventSpec] = []
