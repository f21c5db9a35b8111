"""Webhook routes: an owner (a city's officer, a fund's administrator, a donor's client, a
network's officer) registers endpoints, rotates their secret, reads their delivery log and
replays deliveries. Another owner's endpoint answers 404: its existence is not revealed."""

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import delete, or_, update
from sqlmodel import col, select

from services.notifications.domain import Audience
from services.notifications.leases import WEBHOOKS_QUEUED
from services.notifications.paging import Before, Limit, newest_first
from services.notifications.webhooks import domain
from services.notifications.webhooks.models import (
    AttemptPublic,
    DeliveryDetail,
    DeliveryPage,
    DeliveryPublic,
    ReplayCount,
    ReplayRange,
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
    WebhookEndpointCreate,
    WebhookEndpointPublic,
    WebhookEndpointUpdate,
    WebhookEndpointWithSecret,
)
from services.notifications.webhooks.network import Resolver, check_destination, system_resolver
from services.notifications.webhooks.sealing import SecretBox
from shared.auth import PUBLIC, Principal, Role, allow
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.service import SessionDep

router = APIRouter(tags=["webhooks"])

Owner = Annotated[
    Principal,
    Depends(allow(Role.CITY_OFFICER, Role.FUND_ADMIN, Role.DONOR, Role.NETWORK_OFFICER)),
]


def dns_resolver() -> Resolver:
    """The resolver URL checks use; a dependency so that tests can play DNS."""
    return system_resolver


ResolverDep = Annotated[Resolver, Depends(dns_resolver)]

_NOT_YOURS = {404: {"description": "no such endpoint among those the caller owns"}}
_BAD_URL = {422: {"description": "the URL or an event type is refused; the message says why"}}


class _NoBody(BaseModel):
    """What an Idempotency-Key is compared against for a POST without a body."""


async def _checked_url(request: Request, resolver: Resolver, url: object) -> str:
    text = str(url)
    development = request.app.state.runtime.settings.environment == "development"
    await check_destination(text, development=development, resolver=resolver)
    return text


async def _owned(
    session: SessionDep, principal: Principal, endpoint_id: uuid.UUID
) -> WebhookEndpoint:
    endpoint = await session.get(WebhookEndpoint, endpoint_id)
    if endpoint is None or not domain.owns(principal, _owner(endpoint)):
        raise NotFound(f"you have no webhook endpoint {endpoint_id}")
    return endpoint


async def _owned_delivery(
    session: SessionDep, endpoint: WebhookEndpoint, delivery_id: uuid.UUID
) -> WebhookDelivery:
    delivery = (
        await session.exec(
            select(WebhookDelivery).where(
                WebhookDelivery.id == delivery_id, WebhookDelivery.endpoint_id == endpoint.id
            )
        )
    ).first()
    if delivery is None:
        raise NotFound(f"endpoint {endpoint.id} has no delivery {delivery_id}")
    return delivery


def _owner(endpoint: WebhookEndpoint) -> Audience:
    return Audience(endpoint.owner_kind, endpoint.owner_id)


def _public(endpoint: WebhookEndpoint) -> WebhookEndpointPublic:
    return WebhookEndpointPublic.model_validate(endpoint)


def _box(request: Request) -> SecretBox:
    return SecretBox(request.app.state.runtime.settings.webhook_secret_keys)


async def _showing_secret_once(
    session: SessionDep,
    request: Request,
    idempotency_key: str | None,
    body: BaseModel,
    issue: Callable[[], Awaitable[tuple[WebhookEndpoint, str]]],
) -> JSONResponse:
    """Run `issue` (which makes an endpoint's new secret) idempotently, and show the secret in
    this first answer only. The answer kept for replays has no secret: a secret stored there,
    even encrypted, would be one more copy to guard, and a retry that lost it can rotate."""
    issued: list[str] = []

    async def operation() -> WebhookEndpointWithSecret:
        endpoint, secret = await issue()
        issued.append(secret)
        return WebhookEndpointWithSecret.model_validate(endpoint, update={"secret": None})

    answer = await idempotent(session, request, idempotency_key, body, operation)
    if answer.headers.get("Idempotent-Replayed") or not issued:
        return answer  # an earlier request's answer (ours, if any, was rolled back)
    shown = json.loads(answer.body) | {"secret": issued[0]}
    return JSONResponse(shown, status_code=answer.status_code)


@router.get("/webhook-event-types", dependencies=[Depends(PUBLIC)])
async def list_event_types() -> list[str]:
    """The event types an endpoint can subscribe to (their schemas: docs/asyncapi.json)."""
    return list(domain.SUBSCRIBABLE_TYPES)


@router.post(
    "/webhook-endpoints",
    status_code=201,
    response_model=WebhookEndpointWithSecret,
    responses={403: {"description": "the token does not act for that owner"}, **_BAD_URL},
)
async def create_endpoint(
    body: WebhookEndpointCreate,
    session: SessionDep,
    request: Request,
    principal: Owner,
    resolver: ResolverDep,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Register an endpoint for a city, fund, donor or network the caller acts for. The answer
    holds the signing secret, shown this once: a retry with the same Idempotency-Key answers
    the endpoint without it (rotate the secret if the first answer was lost)."""
    domain.check_owner_kind(body.owner_kind)
    owner = Audience(body.owner_kind, body.owner_id)
    if not domain.owns(principal, owner):
        raise Forbidden(
            f"your token does not act for {body.owner_kind} {body.owner_id}; register endpoints "
            "for a city, fund, donor or network you act for"
        )
    event_types = domain.checked_event_types(body.event_types)
    url = await _checked_url(request, resolver, body.url)

    async def create() -> tuple[WebhookEndpoint, str]:
        secret = domain.new_secret()
        endpoint = WebhookEndpoint(
            owner_kind=body.owner_kind,
            owner_id=body.owner_id,
            url=url,
            description=body.description,
            event_types=event_types,
            sealed_secret=_box(request).seal(secret),
        )
        session.add(endpoint)
        await session.flush()
        return endpoint, secret

    return await _showing_secret_once(session, request, idempotency_key, body, create)


@router.get("/webhook-endpoints", response_model=list[WebhookEndpointPublic])
async def list_endpoints(session: SessionDep, principal: Owner) -> list[WebhookEndpointPublic]:
    """Every endpoint of every city, fund, donor and network the caller acts for."""
    owners = domain.owners_of(principal)
    if not owners:
        return []
    rows = (
        await session.exec(
            select(WebhookEndpoint)
            .where(col(WebhookEndpoint.owner_id).in_({owner.id for owner in owners}))
            .order_by(col(WebhookEndpoint.created_at), col(WebhookEndpoint.id))
        )
    ).all()
    return [_public(row) for row in rows if _owner(row) in owners]


@router.get(
    "/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpointPublic, responses=_NOT_YOURS
)
async def get_endpoint(
    endpoint_id: uuid.UUID, session: SessionDep, principal: Owner
) -> WebhookEndpointPublic:
    return _public(await _owned(session, principal, endpoint_id))


@router.patch(
    "/webhook-endpoints/{endpoint_id}",
    response_model=WebhookEndpointPublic,
    responses={**_NOT_YOURS, **_BAD_URL},
)
async def update_endpoint(
    endpoint_id: uuid.UUID,
    body: WebhookEndpointUpdate,
    session: SessionDep,
    request: Request,
    principal: Owner,
    resolver: ResolverDep,
) -> WebhookEndpointPublic:
    """Change the URL, the event types, the description, or enable/disable it. Idempotent: the
    same request again changes nothing more. Re-enabling clears the failure record; deliveries
    still pending resume, and failed ones can be replayed."""
    endpoint = await _owned(session, principal, endpoint_id)
    changes = body.model_dump(exclude_unset=True)
    if "url" in changes:
        endpoint.url = await _checked_url(request, resolver, body.url)
    if "event_types" in changes:
        endpoint.event_types = domain.checked_event_types(body.event_types)
    if body.description is not None:
        endpoint.description = body.description
    if body.enabled is not None and body.enabled != endpoint.enabled:
        endpoint.enabled = body.enabled
        endpoint.disabled_reason = None if body.enabled else "disabled by its owner"
        endpoint.failing_since = None
        if body.enabled:  # its pending deliveries are due again
            WEBHOOKS_QUEUED.after_commit(session)
    session.add(endpoint)
    await session.commit()
    return _public(endpoint)


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=204, responses=_NOT_YOURS)
async def delete_endpoint(
    endpoint_id: uuid.UUID, session: SessionDep, principal: Owner
) -> Response:
    """The endpoint goes with its delivery log; nothing more is sent to it."""
    endpoint = await _owned(session, principal, endpoint_id)
    seqs = select(WebhookDelivery.seq).where(WebhookDelivery.endpoint_id == endpoint.id)
    await session.exec(delete(WebhookAttempt).where(col(WebhookAttempt.delivery_seq).in_(seqs)))
    await session.exec(
        delete(WebhookDelivery).where(col(WebhookDelivery.endpoint_id) == endpoint.id)
    )
    await session.delete(endpoint)
    await session.commit()
    return Response(status_code=204)


@router.post(
    "/webhook-endpoints/{endpoint_id}/secret-rotations",
    status_code=201,
    response_model=WebhookEndpointWithSecret,
    responses=_NOT_YOURS,
)
async def rotate_secret(
    endpoint_id: uuid.UUID,
    session: SessionDep,
    request: Request,
    principal: Owner,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """A new secret, shown this once. The previous one keeps signing too (two signatures in
    `webhook-signature`) until `previous_secret_expires_at`, time to deploy the new one. A
    rotation during that grace drops the oldest secret at once."""
    endpoint = await _owned(session, principal, endpoint_id)
    grace = timedelta(seconds=request.app.state.runtime.settings.webhook_secret_grace_seconds)

    async def rotate() -> tuple[WebhookEndpoint, str]:
        secret = domain.new_secret()
        endpoint.sealed_previous_secret = endpoint.sealed_secret
        endpoint.previous_secret_expires_at = utcnow() + grace
        endpoint.sealed_secret = _box(request).seal(secret)
        session.add(endpoint)
        await session.flush()
        return endpoint, secret

    return await _showing_secret_once(session, request, idempotency_key, _NoBody(), rotate)


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries", response_model=DeliveryPage, responses=_NOT_YOURS
)
async def list_deliveries(
    endpoint_id: uuid.UUID,
    session: SessionDep,
    principal: Owner,
    status: WebhookDeliveryStatus | None = None,
    limit: Limit = 50,
    before: Before = None,
) -> DeliveryPage:
    """The delivery log, newest first: status, attempts, last response code and latency."""
    endpoint = await _owned(session, principal, endpoint_id)
    query = select(WebhookDelivery).where(WebhookDelivery.endpoint_id == endpoint.id)
    if status is not None:
        query = query.where(WebhookDelivery.status == status)
    page, next_before = await newest_first(session, query, WebhookDelivery.seq, limit, before)
    return DeliveryPage(
        items=[DeliveryPublic.model_validate(row) for row in page], next_before=next_before
    )


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    responses=_NOT_YOURS,
)
async def get_delivery(
    endpoint_id: uuid.UUID, delivery_id: uuid.UUID, session: SessionDep, principal: Owner
) -> DeliveryDetail:
    """One delivery with every attempt made."""
    endpoint = await _owned(session, principal, endpoint_id)
    delivery = await _owned_delivery(session, endpoint, delivery_id)
    attempts = (
        await session.exec(
            select(WebhookAttempt)
            .where(WebhookAttempt.delivery_seq == delivery.seq)
            .order_by(col(WebhookAttempt.number))
        )
    ).all()
    return DeliveryDetail(
        **DeliveryPublic.model_validate(delivery).model_dump(),
        attempts_log=[AttemptPublic.model_validate(attempt) for attempt in attempts],
    )


def _check_enabled(endpoint: WebhookEndpoint) -> None:
    if not endpoint.enabled:
        raise Conflict(
            f"endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); re-enable it "
            "(PATCH enabled=true) before replaying"
        )


@router.post(
    "/webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replays",
    status_code=202,
    response_model=DeliveryPublic,
    responses={**_NOT_YOURS, 409: {"description": "the endpoint is disabled"}},
)
async def replay_delivery(
    endpoint_id: uuid.UUID,
    delivery_id: uuid.UUID,
    session: SessionDep,
    request: Request,
    principal: Owner,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Send a delivery again now, in a new round of the retry schedule, under the same
    webhook-id (receivers that already have it can skip it). One already being sent is left to
    that attempt."""
    endpoint = await _owned(session, principal, endpoint_id)
    _check_enabled(endpoint)
    delivery = await _owned_delivery(session, endpoint, delivery_id)

    async def replay() -> DeliveryPublic:
        now = utcnow()
        in_flight = delivery.lease_until is not None and delivery.lease_until > now
        if not in_flight:
            if delivery.status != WebhookDeliveryStatus.PENDING:
                delivery.round_attempts = 0
            delivery.status = WebhookDeliveryStatus.PENDING
            delivery.next_attempt_at = now
            session.add(delivery)
            await session.flush()
            WEBHOOKS_QUEUED.after_commit(session)
        return DeliveryPublic.model_validate(delivery)

    return await idempotent(session, request, idempotency_key, _NoBody(), replay, status_code=202)


@router.post(
    "/webhook-endpoints/{endpoint_id}/replays",
    status_code=202,
    response_model=ReplayCount,
    responses={**_NOT_YOURS, 409: {"description": "the endpoint is disabled"}},
)
async def replay_range(
    endpoint_id: uuid.UUID,
    body: ReplayRange,
    session: SessionDep,
    request: Request,
    principal: Owner,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Send again every delivered or failed delivery created in [since, until), e.g. what a
    receiver lost while it was broken, each under its own webhook-id. Deliveries still pending
    keep their schedule."""
    endpoint = await _owned(session, principal, endpoint_id)
    _check_enabled(endpoint)

    async def replay() -> ReplayCount:
        result = await session.exec(
            update(WebhookDelivery)
            .where(
                col(WebhookDelivery.endpoint_id) == endpoint.id,
                col(WebhookDelivery.created_at) >= body.since,
                col(WebhookDelivery.created_at) < body.until,
                or_(
                    col(WebhookDelivery.status) == WebhookDeliveryStatus.DELIVERED,
                    col(WebhookDelivery.status) == WebhookDeliveryStatus.FAILED,
                ),
            )
            .values(
                status=WebhookDeliveryStatus.PENDING, round_attempts=0, next_attempt_at=utcnow()
            )
        )
        WEBHOOKS_QUEUED.after_commit(session)
        return ReplayCount(replayed=result.rowcount)

    return await idempotent(session, request, idempotency_key, body, replay, status_code=202)
