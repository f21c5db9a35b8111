"""Kinds of refusal a domain rule can give. The HTTP layer maps each to its status code; the
message goes to the caller as it is, so it must say what to do."""


class DomainError(Exception):
    status_code = 422

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(DomainError):
    status_code = 404


class Forbidden(DomainError):
    """The caller is known but may not do this to that object (this city, this fund)."""

    status_code = 403


class Conflict(DomainError):
    status_code = 409


class BadRequest(DomainError):
    status_code = 400
