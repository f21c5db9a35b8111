"""The background sender: claims due deliveries under a lease, POSTs them signed, and records
each attempt, its outcome and the next one in the schedule.

Exactly once, as far as a network allows: a delivery row exists once per event and endpoint
(dispatch); it is sent only while its sender holds the lease; the outcome is recorded after the
POST. A crash between the POST and the record lets the lease lapse and the same delivery is
sent again, with the same `webhook-id`, which receivers dedupe by. Nothing else can repeat."""

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.leases import WEBHOOKS_QUEUED, LeasedRows
from services.notifications.webhooks import domain
from services.notifications.webhooks.models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookDeliveryStatus,
    WebhookEndpoint,
)
from services.notifications.webhooks.network import (
    Resolver,
    check_destination,
    post,
    system_resolver,
)
from services.notifications.webhooks.sealing import SecretBox
from services.notifications.webhooks.settings import WebhookSettings
from shared.contracts.notifications import WEBHOOK_ENDPOINT_DISABLED, WebhookEndpointDisabled
from shared.db import utcnow
from shared.errors import DomainError
from shared.outbox import record_event
from shared.service import Runtime

log = logging.getLogger(__name__)

DELIVERIES = LeasedRows(
    col(WebhookDelivery.seq),
    col(WebhookDelivery.status),
    WebhookDeliveryStatus.PENDING,
    col(WebhookDelivery.next_attempt_at),
    col(WebhookDelivery.lease_until),
)

USER_AGENT = "city-exchange-webhooks/1"


@dataclass(frozen=True)
class _Claimed:
    seq: int
    webhook_id: str
    body: str
    url: str
    secrets: list[str]


@dataclass(frozen=True)
class _Outcome:
    attempted_at: datetime
    response_code: int | None
    latency_ms: int
    error: str | None

    @property
    def succeeded(self) -> bool:
        return self.error is None


class WebhookSender:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        settings: WebhookSettings,
        client: httpx.AsyncClient,
        resolver: Resolver,
    ) -> None:
        self._sessions = sessions
        self._settings = settings
        self._client = client
        self._resolver = resolver
        self._keys = SecretBox(settings.webhook_secret_keys)

    async def send_due(self) -> int:
        """Send every delivery due now (up to a batch), concurrently; returns how many."""
        claimed = await self._claim()
        results = await asyncio.gather(
            *(self._attempt(delivery) for delivery in claimed), return_exceptions=True
        )
        for delivery, result in zip(claimed, results, strict=True):
            if isinstance(result, Exception):
                # Its lease lapses and it is sent again: at worst a duplicate, never a loss.
                log.error(
                    "webhook attempt not recorded",
                    exc_info=result,
                    extra={"webhook_id": delivery.webhook_id},
                )
        return len(claimed)

    async def _claim(self) -> list[_Claimed]:
        now = utcnow()
        lease_until = now + timedelta(seconds=self._settings.webhook_lease_seconds)
        async with self._sessions() as session:
            rows = (
                await session.exec(
                    select(WebhookDelivery, WebhookEndpoint)
                    .join(WebhookEndpoint)
                    .where(*DELIVERIES.due(now), col(WebhookEndpoint.enabled))
                    .order_by(col(WebhookDelivery.next_attempt_at))
                    .limit(self._settings.webhook_batch_size)
                )
            ).all()
            # Secrets opened before anything is leased: a key missing from the settings fails
            # here, loudly, and leaves every row free.
            candidates = [
                _Claimed(
                    delivery.seq,  # type: ignore[arg-type]
                    str(delivery.id),
                    delivery.body,
                    endpoint.url,
                    self._keys.signing_secrets(endpoint, now),
                )
                for delivery, endpoint in rows
            ]
            taken = set(
                await DELIVERIES.claim(session, [c.seq for c in candidates], now, lease_until)
            )
            await session.commit()
        return [claimed for claimed in candidates if claimed.seq in taken]

    async def _attempt(self, delivery: _Claimed) -> None:
        attempted_at = utcnow()
        started = time.monotonic()
        code: int | None = None
        error: str | None = None
        timeout = self._settings.webhook_timeout_seconds
        try:
            # The whole attempt (DNS, every address tried, the answer) within the timeout, so
            # that it always ends before its lease does.
            async with asyncio.timeout(timeout):
                destination = await check_destination(
                    delivery.url,
                    development=self._settings.environment == "development",
                    resolver=self._resolver,
                )
                headers = {
                    "webhook-id": delivery.webhook_id,
                    "webhook-timestamp": str(int(attempted_at.timestamp())),
                    "webhook-signature": domain.signature_header(
                        delivery.secrets, delivery.webhook_id, attempted_at, delivery.body
                    ),
                    "content-type": "application/cloudevents+json",
                    "user-agent": USER_AGENT,
                }
                code = await post(
                    self._client, delivery.url, destination, delivery.body.encode("utf-8"), headers
                )
            if not 200 <= code < 300:
                error = f"HTTP {code}"
        except DomainError as exc:  # the URL now points somewhere it must not
            error = exc.message
        except TimeoutError:
            error = f"no answer within {timeout:g} s"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        outcome = _Outcome(attempted_at, code, round((time.monotonic() - started) * 1000), error)
        await self._record(delivery, outcome)

    async def _record(self, claimed: _Claimed, outcome: _Outcome) -> None:
        settings = self._settings
        async with self._sessions() as session:
            delivery = await session.get(WebhookDelivery, claimed.seq, with_for_update=True)
            if delivery is None:
                return  # its endpoint was deleted while the attempt was in flight
            endpoint = await session.get(
                WebhookEndpoint, delivery.endpoint_id, with_for_update=True
            )
            assert endpoint is not None  # deliveries go with their endpoint
            delivery.attempts += 1
            delivery.round_attempts += 1
            delivery.lease_until = None
            delivery.last_attempt_at = outcome.attempted_at
            delivery.last_response_code = outcome.response_code
            delivery.last_latency_ms = outcome.latency_ms
            delivery.last_error = outcome.error
            session.add(
                WebhookAttempt(
                    delivery_seq=claimed.seq,
                    number=delivery.attempts,
                    attempted_at=outcome.attempted_at,
                    succeeded=outcome.succeeded,
                    response_code=outcome.response_code,
                    latency_ms=outcome.latency_ms,
                    error=outcome.error,
                )
            )
            if outcome.succeeded:
                delivery.status = WebhookDeliveryStatus.DELIVERED
                delivery.delivered_at = utcnow()
                delivery.next_attempt_at = None
                endpoint.failing_since = None
            else:
                delivery.next_attempt_at = domain.next_attempt_at(
                    settings.webhook_retry_schedule_seconds, delivery.round_attempts, utcnow()
                )
                if delivery.next_attempt_at is None:
                    delivery.status = WebhookDeliveryStatus.FAILED
                endpoint.failing_since = endpoint.failing_since or outcome.attempted_at
                await _disable_if_failing_too_long(session, endpoint, outcome, settings)
            session.add(delivery)
            session.add(endpoint)
            await session.commit()
        log.info(
            "webhook attempt",
            extra={
                "webhook_id": claimed.webhook_id,
                "endpoint_id": str(delivery.endpoint_id),
                "attempt": delivery.attempts,
                "status": delivery.status.value,
                "response_code": outcome.response_code,
                "latency_ms": outcome.latency_ms,
                "error": outcome.error,
            },
        )


async def _disable_if_failing_too_long(
    session: AsyncSession,
    endpoint: WebhookEndpoint,
    outcome: _Outcome,
    settings: WebhookSettings,
) -> None:
    assert endpoint.failing_since is not None
    now = utcnow()
    after = timedelta(seconds=settings.webhook_disable_after_seconds)
    if not endpoint.enabled or not domain.should_disable(endpoint.failing_since, now, after):
        return
    endpoint.enabled = False
    endpoint.disabled_reason = (
        f"every delivery attempt failed for {_duration(after)} (last: {outcome.error})"
    )
    # The owner hears of it from notifications (feed, email), not from the endpoint that broke.
    await record_event(
        session,
        WEBHOOK_ENDPOINT_DISABLED,
        endpoint.id,
        WebhookEndpointDisabled(
            endpoint_id=endpoint.id,
            owner_kind=endpoint.owner_kind,
            owner_id=endpoint.owner_id,
            url=endpoint.url,
            reason=endpoint.disabled_reason,
            failing_since=endpoint.failing_since,
            disabled_at=now,
        ),
    )
    log.warning(
        "webhook endpoint disabled",
        extra={"endpoint_id": str(endpoint.id), "reason": endpoint.disabled_reason},
    )


def _duration(span: timedelta) -> str:
    seconds = span.total_seconds()
    for unit, size in (("days", 86400), ("hours", 3600), ("minutes", 60)):
        if seconds >= size:
            return f"{seconds / size:g} {unit}"
    return f"{seconds:g} s"


async def send_webhooks(runtime: Runtime) -> None:
    """The service's background loop (ServiceDefinition.background)."""
    settings = runtime.settings
    assert isinstance(settings, WebhookSettings)
    async with httpx.AsyncClient(
        timeout=settings.webhook_timeout_seconds,
        # Redirects are not followed: a receiver could point us at an address we refused.
        follow_redirects=False,
        # Connections go to checked addresses; a proxy from the environment would resolve the
        # name itself, out of our checks.
        trust_env=False,
        # No connection is reused: one made to an address for one host name (its TLS name)
        # must not carry a request for another host that shares the address.
        limits=httpx.Limits(max_keepalive_connections=0),
    ) as client:
        sender = WebhookSender(runtime.sessions, settings, client, system_resolver)
        while True:
            if not await sender.send_due():
                await WEBHOOKS_QUEUED.wait(settings.webhook_poll_seconds)
