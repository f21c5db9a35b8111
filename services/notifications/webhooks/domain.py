"""Webhook rules, free of I/O: which URLs may receive, how a message is signed, when the next
attempt is due, when an endpoint is given up on, and what a recipient may be sent.

Signing follows the Standard Webhooks specification (https://www.standardwebhooks.com/): the
`standardwebhooks` library signs, so receivers can verify with any of its implementations."""

import base64
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID

from standardwebhooks import Webhook

from services.notifications.domain import Audience, RecipientKind
from services.notifications.notices import NOTICES
from shared.auth import Principal, Role
from shared.contracts.catalogue import CATALOGUE
from shared.contracts.registry.conflict import CONFLICT_PROFILE_ASSESSED
from shared.contracts.registry.identity import CREDENTIALS_REVOKED, ROLE_GRANTED, ROLE_REVOKED
from shared.errors import DomainError
from shared.events import Event

# The role that acts for each kind of owner: an officer of the city, an administrator of the
# fund, the donor's own client, an officer of the network.
OWNER_ROLES = {
    RecipientKind.CITY: Role.CITY_OFFICER,
    RecipientKind.FUND: Role.FUND_ADMIN,
    RecipientKind.DONOR: Role.DONOR,
    RecipientKind.NETWORK: Role.NETWORK_OFFICER,
}

# Identity events name accounts and clients of other people: they are the services' own
# plumbing, never news for an integration.
_NEVER_SENT = frozenset(spec.type for spec in (ROLE_GRANTED, ROLE_REVOKED, CREDENTIALS_REVOKED))
# A conflict profile is read only by the city's own officers (as in the registry), so it goes
# only to the city's own endpoints, whoever else the event concerns.
_OWN_CITY_ONLY = frozenset({CONFLICT_PROFILE_ASSESSED.type})

# The catalogue's types that notifications routes to someone (a row of NOTICES, which says whom
# each concerns): subscribing to any other would promise what never comes.
SUBSCRIBABLE_TYPES = tuple(sorted((set(CATALOGUE) & set(NOTICES)) - _NEVER_SENT))


class InvalidWebhookUrl(DomainError):
    pass


def check_owner_kind(kind: RecipientKind) -> None:
    if kind not in OWNER_ROLES:
        raise DomainError(
            f"a webhook endpoint belongs to a {', '.join(OWNER_ROLES)}, not to a {kind}"
        )


def owns(principal: Principal, owner: Audience) -> bool:
    role = OWNER_ROLES.get(owner.kind)
    return role is not None and str(owner.id) in principal.scopes(role)


def owners_of(principal: Principal) -> set[Audience]:
    """Every owner the caller acts for (ignoring grants whose scope is not an id)."""
    found = set()
    for kind, role in OWNER_ROLES.items():
        for scope in principal.scopes(role):
            try:
                found.add(Audience(kind, UUID(scope)))
            except ValueError:
                continue
    return found


def checked_event_types(event_types: Iterable[str] | None) -> list[str] | None:
    """None (or nothing) subscribes to every type; otherwise every name must be known."""
    if not event_types:
        return None
    chosen = sorted(set(event_types))
    unknown = [name for name in chosen if name not in SUBSCRIBABLE_TYPES]
    if unknown:
        raise DomainError(
            f"unknown event type(s) {', '.join(unknown)}; the types an endpoint can receive "
            f"are: {', '.join(SUBSCRIBABLE_TYPES)}"
        )
    return chosen


def accepts(event_types: Sequence[str] | None, event_type: str) -> bool:
    return event_types is None or event_type in event_types


# --- URLs -----------------------------------------------------------------------------------

# Names that never mean a public host, whatever a resolver says about them.
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".home.arpa", ".lan")


@dataclass(frozen=True)
class UrlTarget:
    """A checked URL: where to connect, and the host name it must be presented to."""

    scheme: str
    host: str
    port: int
    path: str  # path and query, as given


def parse_url(url: str, *, development: bool) -> UrlTarget:
    """The URL's own rules, before any name is resolved. Outside development only https, and no
    literal address or name that is not public."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidWebhookUrl(f"{url!r} is not a valid URL: {exc}") from exc
    allowed = ("https", "http") if development else ("https",)
    if parts.scheme not in allowed:
        raise InvalidWebhookUrl(
            f"a webhook URL must use https (got {parts.scheme or 'no scheme'!r}); "
            "http is accepted only in development"
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise InvalidWebhookUrl(f"{url!r} names no host")
    if parts.username or parts.password:
        raise InvalidWebhookUrl(
            "a webhook URL must not carry credentials: URLs end up in logs; verify our "
            "signature instead"
        )
    if parts.fragment:
        raise InvalidWebhookUrl("a webhook URL must not have a #fragment: it is never sent")
    if not development:
        if host == "localhost" or host.endswith(_LOCAL_SUFFIXES):
            raise InvalidWebhookUrl(
                f"{host} is a local name; a webhook must reach a public host outside development"
            )
        _check_public(host, host)
    path = parts.path or "/"
    return UrlTarget(
        parts.scheme,
        host,
        port or (443 if parts.scheme == "https" else 80),
        path + (f"?{parts.query}" if parts.query else ""),
    )


def _literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _check_public(host: str, address: str) -> None:
    ip = _literal(address)
    if ip is None:
        return  # a name: its addresses are checked once resolved
    # An IPv4 address written as IPv6 (::ffff:127.0.0.1) is judged as the IPv4 address it is.
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast:
        raise InvalidWebhookUrl(
            f"{host} is or resolves to {ip}, a private, loopback, link-local or otherwise "
            "non-public address; a webhook must reach a public host outside development"
        )


def check_resolved(target: UrlTarget, addresses: Sequence[str], *, development: bool) -> str:
    """The address to connect to, once every address the host resolves to is public: a host
    with one private address among public ones could be steered to it."""
    if not addresses:
        raise InvalidWebhookUrl(f"{target.host} does not resolve to any address")
    if not development:
        for address in addresses:
            _check_public(target.host, address)
    return addresses[0]


# --- Signing --------------------------------------------------------------------------------

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    # The spec asks for 24 to 64 random bytes, base64, behind the whsec_ prefix.
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def signature_header(
    secrets_in_use: Iterable[str], webhook_id: str, timestamp: datetime, body: str
) -> str:
    """One `v1,<base64>` per secret still signing, space separated: during a rotation's grace a
    receiver holding either the old or the new secret verifies the message."""
    return " ".join(
        Webhook(secret).sign(msg_id=webhook_id, timestamp=timestamp, data=body)
        for secret in secrets_in_use
    )


# --- Retries and giving up ------------------------------------------------------------------


def next_attempt_at(
    schedule: Sequence[float], attempts_made: int, now: datetime
) -> datetime | None:
    """When the attempt after `attempts_made` (of this round) is due; None once the schedule is
    spent. `schedule[i]` is the delay before attempt i + 1, the first one included."""
    if attempts_made >= len(schedule):
        return None
    return now + timedelta(seconds=schedule[attempts_made])


def should_disable(failing_since: datetime, now: datetime, after: timedelta) -> bool:
    """An endpoint is given up on when every attempt to it has failed for `after` (5 days by
    default): long enough to survive a weekend's outage and any one delivery's whole schedule,
    short enough that a dead receiver is not hammered for weeks."""
    return now - failing_since >= after


# --- What a recipient is sent ---------------------------------------------------------------


def webhook_data(event: Event, audience: Audience) -> dict[str, Any] | None:
    """The event's data as its contract publishes it, for this recipient; None when this
    recipient must not receive this event at all.

    The data is re-read through the producer's payload model, so a field the contract does not
    publish is never sent, even if a producer put it in the message."""
    spec = CATALOGUE.get(event.type)
    if spec is None or spec.type in _NEVER_SENT:
        return None
    payload = event.payload(spec)
    if spec.type in _OWN_CITY_ONLY and audience != Audience(
        RecipientKind.CITY,
        payload.city_id,  # type: ignore[attr-defined]
    ):
        return None
    return payload.model_dump(mode="json")
