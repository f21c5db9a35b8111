"""The registry's topic and CloudEvents source, shared by its contract modules."""

TOPIC = "registry.events"
SOURCE = "/city-exchange/registry"
