"""Identity rules, free of I/O."""

import re

from shared.auth import Grant, Role
from shared.errors import DomainError

MIN_PASSWORD_LENGTH = 12
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def username(value: str) -> str:
    """Usernames are e-mail addresses, compared without case."""
    normalised = value.strip().lower()
    if not _EMAIL.match(normalised):
        raise ValueError("the username must be an e-mail address")
    return normalised


def grant(role: Role, scope: str | None) -> Grant:
    try:
        return Grant(role, scope)
    except ValueError as exc:
        raise DomainError(f"{exc}: e.g. city_officer needs the city's id as scope") from exc


def subject_kind(role: Role) -> str:
    """Donor roles belong to machine clients; every other role to people's accounts."""
    return "client" if role is Role.DONOR else "user"
