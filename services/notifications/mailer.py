"""Email: the sender loop and the digest loop.

The consumer writes one delivery row per email in its own transaction, whose commit wakes the
sender (which also looks every `sender_poll_seconds`); the sender claims a due row (a lease,
leases.py), sends it, and records the outcome. SMTP down: the row waits with exponential
backoff and is tried again, nothing is lost. A crash between sending and recording repeats that
one email when its lease lapses, with the same Message-ID (derived from the delivery id), so the
receiver can drop the copy.

The digest loop gathers, for a recipient who chose a daily or weekly digest, the rows held during
a period that has ended into one digest row, keyed by (digest:<frequency>:<period start>,
recipient, email): one digest per period, whoever runs the loop and however often."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from uuid import UUID

import aiosmtplib
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notifications.domain import (
    Channel,
    Digest,
    digest_period,
    message_id,
    retry_delay,
)
from services.notifications.handlers import language_of
from services.notifications.leases import EMAILS_QUEUED, LeasedRows
from services.notifications.models import DIGEST_TYPE, Delivery, DeliveryStatus, Preference
from services.notifications.notices import NOTICES
from services.notifications.rendering import Message, digest_email, email_of, render
from services.notifications.settings import NotificationsSettings
from services.notifications.unsubscribe import UnsubscribeLinks
from shared.db import utcnow
from shared.service import Runtime

log = logging.getLogger(__name__)

_BATCH = 50


class PermanentFailure(Exception):
    """The server refused the message for good (e.g. no such mailbox): retrying cannot help."""


EMAILS = LeasedRows(
    col(Delivery.id),
    col(Delivery.status),
    DeliveryStatus.PENDING,
    col(Delivery.next_attempt_at),
    col(Delivery.claimed_until),
)


async def claim(
    sessions: async_sessionmaker[AsyncSession], delivery_id: UUID, lease_seconds: float
) -> Delivery | None:
    """One email at a time: a batch claimed at once could outlast its lease on a slow server."""
    now = utcnow()
    async with sessions() as session:
        until = now + timedelta(seconds=lease_seconds)
        taken = await EMAILS.claim(
            session, [delivery_id], now, until, attempts=col(Delivery.attempts) + 1
        )
        if not taken:  # another sender took it first
            return None
        await session.commit()
        return await session.get(Delivery, delivery_id)


@dataclass(frozen=True)
class Email:
    message: Message
    missing_language: str | None  # the recipient's, when a template was missing (English used)
    event_types: tuple[str, ...]  # what it tells of: what its unsubscribe link turns off


async def render_delivery(session: AsyncSession, delivery: Delivery) -> Email:
    """The email of a delivery in its recipient's language now."""
    preference = await session.get(Preference, delivery.recipient)
    chosen = preference.language if preference else None
    language = await language_of(session, delivery.recipient, chosen)
    if delivery.event_type != DIGEST_TYPE:
        rendered = render(NOTICES[delivery.event_type], language, delivery.view)
        return Email(email_of(rendered), rendered.missing_language, (delivery.event_type,))
    items = (
        await session.exec(
            select(Delivery)
            .where(col(Delivery.digest_id) == delivery.id)
            .order_by(col(Delivery.occurred_at), col(Delivery.event_id))
        )
    ).all()
    renders = [render(NOTICES[item.event_type], language, item.view) for item in items]
    digest = Digest(delivery.view["digest"])
    start = digest_period(digest, delivery.occurred_at)[0]
    missing = next((r.missing_language for r in renders if r.missing_language), None)
    types = tuple(sorted({item.event_type for item in items}))
    return Email(digest_email(renders, digest, start, language), missing, types)


def compose(
    settings: NotificationsSettings, delivery: Delivery, to: str, content: Email
) -> EmailMessage:
    message = content.message
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = to
    email["Subject"] = message.subject
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = message_id(delivery.id, settings.message_id_domain)
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies, please
    link_token = UnsubscribeLinks(settings.unsubscribe_keys).token(
        delivery.recipient, content.event_types
    )
    email["List-Unsubscribe"] = f"<{settings.public_base_url.rstrip('/')}/unsubscribe/{link_token}>"
    # RFC 8058: mail clients may unsubscribe with one POST, no page to visit.
    email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    return email


async def send_email(settings: NotificationsSettings, email: EmailMessage) -> None:
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    try:
        await aiosmtplib.send(
            email,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_username,
            password=password,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=settings.smtp_timeout_seconds,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise PermanentFailure(str(exc)) from exc
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code >= 500:
            raise PermanentFailure(f"{exc.code} {exc.message}") from exc
        raise


async def deliver(
    sessions: async_sessionmaker[AsyncSession], settings: NotificationsSettings, delivery: Delivery
) -> None:
    """Send one claimed delivery and record the outcome."""
    async with sessions() as session:
        preference = await session.get(Preference, delivery.recipient)
        content = await render_delivery(session, delivery)
    outcome: dict[str, object] = {
        "claimed_until": None,
        "missing_language": content.missing_language,
    }
    if preference is None or preference.email is None:
        outcome |= {"status": DeliveryStatus.SKIPPED, "last_error": "no email address any more"}
    else:
        try:
            await send_email(settings, compose(settings, delivery, preference.email, content))
            outcome |= {"status": DeliveryStatus.SENT, "sent_at": utcnow(), "last_error": None}
        except PermanentFailure as exc:
            outcome |= {"status": DeliveryStatus.FAILED, "last_error": str(exc)[:500]}
        except (aiosmtplib.SMTPException, OSError) as exc:
            wait = retry_delay(
                delivery.attempts, settings.retry_first_seconds, settings.retry_most_seconds
            )
            log.warning(
                "email not sent, will retry",
                extra={"delivery_id": str(delivery.id), "error": repr(exc), "retry_in": str(wait)},
            )
            outcome |= {
                "status": DeliveryStatus.PENDING,
                "next_attempt_at": utcnow() + wait,
                "last_error": repr(exc)[:500],
            }
    async with sessions() as session:
        await session.exec(
            update(Delivery).where(col(Delivery.id) == delivery.id).values(**outcome)
        )
        await session.commit()


async def send_due(
    sessions: async_sessionmaker[AsyncSession], settings: NotificationsSettings
) -> int:
    """Send every email due now; the number claimed."""
    sent = 0
    while True:
        now = utcnow()
        async with sessions() as session:
            due = (
                await session.exec(
                    select(Delivery.id)
                    .where(*EMAILS.due(now))
                    .order_by(col(Delivery.next_attempt_at))
                    .limit(_BATCH)
                )
            ).all()
        if not due:
            return sent
        for delivery_id in due:
            delivery = await claim(sessions, delivery_id, settings.sender_lease_seconds)
            if delivery is not None:
                await deliver(sessions, settings, delivery)
                sent += 1


async def close_digests(sessions: async_sessionmaker[AsyncSession]) -> int:
    """Turn what was held for digests during ended periods into one digest row per recipient
    and period; the number of digests made. A recipient back to one email per event gets the
    held ones as such."""
    made = 0
    async with sessions() as session:
        waiting = (
            await session.exec(
                select(Delivery.recipient)
                .where(col(Delivery.status) == DeliveryStatus.HELD)
                .distinct()
            )
        ).all()
    for recipient in waiting:
        async with sessions() as session:
            try:
                made += await _close_digest(session, recipient)
                await session.commit()
            except IntegrityError:
                await session.rollback()  # another instance made this digest meanwhile
    return made


async def _close_digest(session: AsyncSession, recipient: str) -> int:
    preference = await session.get(Preference, recipient)
    held = (col(Delivery.recipient) == recipient, col(Delivery.status) == DeliveryStatus.HELD)
    if preference is None or preference.digest is Digest.IMMEDIATE:
        await session.exec(update(Delivery).where(*held).values(status=DeliveryStatus.PENDING))
        EMAILS_QUEUED.after_commit(session)
        return 0
    current_start = digest_period(preference.digest, utcnow())[0]
    # Held before this period began: they belong to the period (or periods) that ended.
    ended = (*held, col(Delivery.created_at) < current_start)
    items = (await session.exec(select(Delivery.id).where(*ended))).all()
    if not items:
        return 0
    start = digest_period(preference.digest, current_start - timedelta(microseconds=1))[0]
    key = f"digest:{preference.digest}:{start.date().isoformat()}"
    digest = Delivery(
        event_id=key,
        recipient=recipient,
        channel=Channel.EMAIL,
        event_type=DIGEST_TYPE,
        view={"digest": str(preference.digest)},
        occurred_at=start,
    )
    session.add(digest)
    # The unique key: a second digest for this period fails here. Rows held late for a period
    # whose digest already exists (a long consumer transaction) go out with the next one.
    await session.flush()
    await session.exec(
        update(Delivery)
        .where(col(Delivery.id).in_(items))
        .values(status=DeliveryStatus.DIGESTED, digest_id=digest.id)
    )
    EMAILS_QUEUED.after_commit(session)
    return 1


async def send_regularly(runtime: Runtime) -> None:
    settings: NotificationsSettings = runtime.settings  # type: ignore[assignment]
    while True:
        await send_due(runtime.sessions, settings)
        await EMAILS_QUEUED.wait(settings.sender_poll_seconds)


async def digest_regularly(runtime: Runtime) -> None:
    settings: NotificationsSettings = runtime.settings  # type: ignore[assignment]
    while True:
        await close_digests(runtime.sessions)
        await asyncio.sleep(settings.digest_every_seconds)
