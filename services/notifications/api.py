"""Notifications HTTP routes: the shared feeds of cities and funds; each caller's own
notifications (paged, read or unread, live over Server-Sent Events) and preferences."""

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.sse import EventSourceResponse, ServerSentEvent
from sqlalchemy import ColumnElement, func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.domain import (
    Channel,
    RecipientKind,
    check_email,
    check_event_types,
    wants,
)
from services.notifications.handlers import NEW_NOTIFICATIONS, language_of
from services.notifications.models import (
    Delivery,
    EmailPublic,
    EventType,
    FeedItem,
    FeedItemPublic,
    FeedPage,
    MarkedRead,
    Notification,
    NotificationPage,
    NotificationPublic,
    Preference,
    PreferencesPublic,
    PreferencesUpdate,
    ReadAll,
    Subscription,
    UnreadCount,
)
from services.notifications.notices import NOTICES
from services.notifications.paging import Before, Limit, newest_first
from services.notifications.unsubscribe import (
    UnsubscribeLinks,
    confirmation_page,
    done_page,
    email_off,
)
from services.notifications.webhooks.api import router as webhooks_router
from shared.auth import PUBLIC, Caller, Principal, Role, allow
from shared.db import read_only, utcnow
from shared.errors import DomainError, Forbidden, NotFound
from shared.service import SessionDep

router = APIRouter(tags=["notifications"])
router.include_router(webhooks_router)

FeedReader = Annotated[Principal, Depends(allow(Role.CITY_OFFICER, Role.FUND_ADMIN))]


def _check_may_read(principal: Principal, kind: str, recipient_id: uuid.UUID) -> None:
    """A city's feed is its officers' alone, a fund's its administrators' alone."""
    if kind == RecipientKind.CITY and not principal.acts_for_city(recipient_id):
        raise Forbidden(
            f"only an officer of city {recipient_id} may read its feed; "
            "your token does not act for that city"
        )
    if kind == RecipientKind.FUND and not principal.administers_fund(recipient_id):
        raise Forbidden(
            f"only an administrator of fund {recipient_id} may read its feed; "
            "your token does not administer that fund"
        )


@router.get(
    "/feeds/{recipient_kind}/{recipient_id}",
    response_model=FeedPage,
    tags=["feeds"],
    responses={
        401: {"description": "no valid bearer token"},
        403: {"description": "the caller is not an officer of the city / admin of the fund"},
    },
)
async def read_feed(
    recipient_kind: Literal["city", "fund"],
    recipient_id: uuid.UUID,
    session: SessionDep,
    principal: FeedReader,
    limit: Limit = 50,
    before: Before = None,
) -> FeedPage:
    """Newest first: the city's (or fund's) news shared by all its officers, in English. Each
    person's own notifications, in their language, are at /me/notifications."""
    _check_may_read(principal, recipient_kind, recipient_id)
    query = select(FeedItem).where(
        FeedItem.recipient_kind == recipient_kind, FeedItem.recipient_id == recipient_id
    )
    page, next_before = await newest_first(session, query, FeedItem.seq, limit, before)
    return FeedPage(
        items=[FeedItemPublic.model_validate(item) for item in page], next_before=next_before
    )


@router.get("/event-types", response_model=list[EventType])
async def event_types(_caller: Caller) -> list[EventType]:
    """What one can subscribe to: every event type notifications tells, whom it reaches, and
    whether it is emailed by default."""
    return [
        EventType(
            type=notice.spec.type,
            summary=notice.spec.summary,
            audiences=sorted({a.kind for a in notice.audiences(notice.spec.example)}),
            email_by_default=notice.email_by_default,
        )
        for notice in NOTICES.values()
    ]


async def _preferences_public(
    session: AsyncSession, subject: str, row: Preference | None
) -> PreferencesPublic:
    chosen = row.subscriptions if row else {}
    return PreferencesPublic(
        email=row.email if row else None,
        language=await language_of(session, subject, row.language if row else None),
        language_chosen=bool(row and row.language),
        digest=row.digest if row else PreferencesUpdate().digest,
        subscriptions={
            event_type: Subscription(
                in_app=wants(chosen, event_type, Channel.IN_APP, notice.email_by_default),
                email=wants(chosen, event_type, Channel.EMAIL, notice.email_by_default),
            )
            for event_type, notice in NOTICES.items()
        },
    )


@router.get("/me/preferences", response_model=PreferencesPublic)
async def read_preferences(session: SessionDep, caller: Caller) -> PreferencesPublic:
    """Your choices, with the defaults filled in: what you receive, where, in which language."""
    row = await session.get(Preference, caller.subject)
    return await _preferences_public(session, caller.subject, row)


@router.put(
    "/me/preferences",
    response_model=PreferencesPublic,
    responses={422: {"description": "an unknown event type or channel, or not an address"}},
)
async def write_preferences(
    body: PreferencesUpdate, session: SessionDep, caller: Caller
) -> PreferencesPublic:
    """Replaces your preferences (a PUT: repeating it changes nothing more). Subscriptions name
    event types from GET /event-types and say per channel true or false; those not named keep
    their default. Without an email address, nothing is emailed."""
    check_event_types(body.subscriptions, list(NOTICES))
    row = Preference(
        subject=caller.subject,
        email=check_email(body.email) if body.email is not None else None,
        language=body.language,
        digest=body.digest,
        subscriptions={
            event_type: choice.model_dump(exclude_none=True)
            for event_type, choice in body.subscriptions.items()
        },
        updated_at=utcnow(),
    )
    row = await session.merge(row)
    await session.commit()
    return await _preferences_public(session, caller.subject, row)


def _mine(subject: str) -> ColumnElement[bool]:
    return col(Notification.subject) == subject


async def _unread(session: AsyncSession, subject: str) -> int:
    query = select(func.count()).where(_mine(subject), col(Notification.read_at).is_(None))
    return (await session.exec(query)).one()


@router.get("/me/notifications", response_model=NotificationPage)
async def my_notifications(
    session: SessionDep,
    caller: Caller,
    limit: Limit = 50,
    before: Before = None,
    unread_only: bool = False,
) -> NotificationPage:
    """Your notifications, newest first, in your language, with how many are unread. For live
    updates, open /me/notifications/stream."""
    query = select(Notification).where(_mine(caller.subject))
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    page, next_before = await newest_first(session, query, Notification.seq, limit, before)
    return NotificationPage(
        items=[NotificationPublic.of(row) for row in page],
        next_before=next_before,
        unread_count=await _unread(session, caller.subject),
    )


@router.get("/me/notifications/unread-count", response_model=UnreadCount)
async def unread_count(session: SessionDep, caller: Caller) -> UnreadCount:
    return UnreadCount(unread_count=await _unread(session, caller.subject))


async def _mark_read(
    session: AsyncSession, subject: str, *conditions: ColumnElement[bool]
) -> MarkedRead:
    marked = await session.exec(
        update(Notification)
        .where(_mine(subject), col(Notification.read_at).is_(None), *conditions)
        .values(read_at=utcnow())
    )
    await session.commit()
    return MarkedRead(marked=marked.rowcount, unread_count=await _unread(session, subject))


@router.post(
    "/me/notifications/{seq}/read",
    response_model=MarkedRead,
    responses={404: {"description": "you have no notification with this seq"}},
)
async def mark_one_read(seq: int, session: SessionDep, caller: Caller) -> MarkedRead:
    """Idempotent: marking a read notification again changes nothing (marked: 0)."""
    row = await session.get(Notification, seq)
    if row is None or row.subject != caller.subject:
        raise NotFound(f"you have no notification {seq}")
    return await _mark_read(session, caller.subject, col(Notification.seq) == seq)


@router.post("/me/notifications/read", response_model=MarkedRead)
async def mark_all_read(
    session: SessionDep, caller: Caller, body: Annotated[ReadAll | None, Body()] = None
) -> MarkedRead:
    """Marks all your notifications read (or those up to `up_to`); idempotent."""
    up_to = body.up_to if body else None
    conditions = [col(Notification.seq) <= up_to] if up_to is not None else []
    return await _mark_read(session, caller.subject, *conditions)


@router.get("/me/emails", response_model=list[EmailPublic])
async def my_emails(session: SessionDep, caller: Caller, limit: Limit = 50) -> list[EmailPublic]:
    """The emails to you, newest first, and what became of each: sent, waiting for a retry
    (with the last error), held for your digest, or failed for good."""
    rows = (
        await session.exec(
            select(Delivery)
            .where(col(Delivery.recipient) == caller.subject)
            .order_by(col(Delivery.created_at).desc(), col(Delivery.id))
            .limit(limit)
        )
    ).all()
    return [EmailPublic.model_validate(row) for row in rows]


class NotAnEventStreamRequest(DomainError):
    status_code = 406


def _stream_reader(caller: Caller, accept: Annotated[str, Header()] = "") -> Principal:
    """The caller, once they are known to read a stream: it never ends by itself, so a client
    that would wait for its end (a plain GET) is told so rather than left hanging. Browsers'
    EventSource always sends this Accept header."""
    if "text/event-stream" not in accept:
        raise NotAnEventStreamRequest(
            "this is a Server-Sent Events stream: send Accept: text/event-stream "
            "(an EventSource does); for a page of notifications, GET /me/notifications"
        )
    return caller


@router.get(
    "/me/notifications/stream",
    response_class=EventSourceResponse,
    responses={406: {"description": "the request does not accept text/event-stream"}},
)
async def notification_stream(
    request: Request,
    caller: Annotated[Principal, Depends(_stream_reader)],
    last_event_id: Annotated[
        int | None,
        Header(ge=0, description="set by EventSource on reconnection: resume after it"),
    ] = None,
    after: Annotated[
        int | None, Query(ge=0, description="first connection: the newest seq already shown")
    ] = None,
) -> AsyncIterator[ServerSentEvent]:
    """Your new notifications as they arrive: events named `notification`, each with its seq as
    id and a NotificationPublic as data. Reconnecting with Last-Event-ID (EventSource does it by
    itself) resumes after the last one received, missing none; without it, the stream starts
    after `after`, or from now."""
    runtime = request.app.state.runtime
    poll = runtime.settings.stream_poll_seconds
    cursor = last_event_id if last_event_id is not None else after
    while True:
        async with runtime.sessions() as session:
            await read_only(session)
            if cursor is None:
                newest = select(func.max(Notification.seq)).where(_mine(caller.subject))
                cursor = (await session.exec(newest)).one() or 0
            rows = (
                await session.exec(
                    select(Notification)
                    .where(_mine(caller.subject), col(Notification.seq) > cursor)
                    .order_by(col(Notification.seq))
                    .limit(100)
                )
            ).all()
        for row in rows:
            yield ServerSentEvent(
                event="notification", id=str(row.seq), data=NotificationPublic.of(row)
            )
            cursor = row.seq
        if not rows:
            await NEW_NOTIFICATIONS.wait(poll)


def _links(request: Request) -> UnsubscribeLinks:
    return UnsubscribeLinks(request.app.state.runtime.settings.unsubscribe_keys)


_BAD_LINK = {400: {"description": "the link is not one we signed (cut short or altered)"}}


@router.get(
    "/unsubscribe/{token}",
    response_class=HTMLResponse,
    dependencies=[Depends(PUBLIC)],
    responses=_BAD_LINK,
)
async def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """The page an email's unsubscribe link opens: it asks to confirm (a GET changes nothing,
    since mail scanners open links by themselves). The link itself is the proof of who asks."""
    return HTMLResponse(confirmation_page(_links(request).read(token)))


@router.post(
    "/unsubscribe/{token}",
    response_class=HTMLResponse,
    dependencies=[Depends(PUBLIC)],
    responses=_BAD_LINK,
)
async def unsubscribe(token: str, session: SessionDep, request: Request) -> HTMLResponse:
    """Turn email off for the event types the email told of, for its recipient: one-click from
    the mail client (RFC 8058, body `List-Unsubscribe=One-Click`, which needs no reading) or
    the page's button. Idempotent: again, it changes nothing more. The app keeps them."""
    asked = _links(request).read(token)
    row = await session.get(Preference, asked.subject, with_for_update=True)
    row = row or Preference(subject=asked.subject)
    row.subscriptions = email_off(row.subscriptions, asked.event_types)
    row.updated_at = utcnow()
    session.add(row)
    await session.commit()
    return HTMLResponse(done_page(asked))
