"""Events the registry service publishes, one module per part of its domain; this package
gathers them. Consumers import names from the module that defines them."""

from shared.contracts.registry import cities, conflict, identity, needs_offers, networks
from shared.contracts.registry.cities import (
    CITY_REGISTERED,
    CITY_VERIFIED,
    CityRegistered,
    CityVerified,
)
from shared.contracts.registry.identity import (
    CREDENTIALS_REVOKED,
    ROLE_GRANTED,
    ROLE_REVOKED,
    CredentialsRevoked,
    RoleGranted,
    RoleRevoked,
)
from shared.contracts.registry.topic import SOURCE, TOPIC

EVENTS = [
    *cities.EVENTS,
    *conflict.EVENTS,
    *identity.EVENTS,
    *needs_offers.EVENTS,
    *networks.EVENTS,
]

__all__ = [
    "CITY_REGISTERED",
    "CITY_VERIFIED",
    "CREDENTIALS_REVOKED",
    "EVENTS",
    "ROLE_GRANTED",
    "ROLE_REVOKED",
    "SOURCE",
    "TOPIC",
    "CityRegistered",
    "CityVerified",
    "CredentialsRevoked",
    "RoleGranted",
    "RoleRevoked",
]
