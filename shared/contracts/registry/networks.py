"""Events about networks and associations of cities (to come with the registry issue)."""

from shared.contracts import EventSpec

EVENTS: list[EventSpec] = []
