"""Events about cities in conflict zones: assessments of their phase and preconditions, and
helping cities' readiness (to come with the registry issue)."""

from shared.contracts import EventSpec

EVENTS: list[EventSpec] = []
