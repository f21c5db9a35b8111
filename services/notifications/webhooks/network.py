"""Where a webhook may be sent, checked against DNS: at registration, and again at every attempt,
connecting to the very address that was checked (so a name that is re-pointed to a private
address after registration, DNS rebinding, reaches nothing inside)."""

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx

from services.notifications.webhooks import domain

# host, port -> the addresses it resolves to. Injected so that tests can play DNS.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


@dataclass(frozen=True)
class Destination:
    target: domain.UrlTarget
    # The checked addresses to connect to, in order; empty in development, where the URL is
    # used as it is (no rebinding to fear on a developer's machine).
    addresses: list[str]


async def check_destination(url: str, *, development: bool, resolver: Resolver) -> Destination:
    """The URL's rules, then its host's addresses; raises InvalidWebhookUrl with the reason."""
    target = domain.parse_url(url, development=development)
    if development:
        return Destination(target, [])
    try:
        addresses = await resolver(target.host, target.port)
    except OSError:
        addresses = []
    domain.check_resolved(target, addresses, development=False)
    return Destination(target, addresses)


async def post(
    client: httpx.AsyncClient,
    url: str,
    destination: Destination,
    body: bytes,
    headers: dict[str, str],
) -> int:
    """POST to the checked addresses (the next one if one refuses the connection), presenting
    the URL's host name for TLS and HTTP; returns the status code. The answer's body is never
    read: a receiver cannot make us download anything."""
    target = destination.target
    if not destination.addresses:
        return await _send(client, client.build_request("POST", url, content=body, headers=headers))
    host_header = target.host if target.port in (80, 443) else f"{target.host}:{target.port}"
    last_error: httpx.ConnectError | None = None
    for address in destination.addresses:
        literal = f"[{address}]" if ":" in address else address
        request = client.build_request(
            "POST",
            f"{target.scheme}://{literal}:{target.port}{target.path}",
            content=body,
            headers={**headers, "Host": host_header},
            # The certificate is checked against the host name, not the address.
            extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
        )
        try:
            return await _send(client, request)
        except httpx.ConnectError as exc:
            last_error = exc
    assert last_error is not None
    raise last_error


async def _send(client: httpx.AsyncClient, request: httpx.Request) -> int:
    response = await client.send(request, stream=True)
    await response.aclose()
    return response.status_code
