"""Email through a real SMTP server (aiosmtpd, on a free port, keeping a Maildir): what it
received is what these tests read. The sender and digest loops are run one pass at a time."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlmodel import col, select

from services.notifications import mailer
from services.notifications.app import DEFINITION
from services.notifications.mailsink import received, running_sink
from services.notifications.models import DIGEST_TYPE, Delivery, DeliveryStatus
from services.notifications.settings import NotificationsSettings
from shared.db import utcnow
from shared.devstack import free_port
from tests.conftest import DatabaseFactory
from tests.helpers import ServiceUnderTest, bearer, serve
from tests.service.test_notifications_me import propose, register_city


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def maildir(tmp_path: Path) -> Path:
    return tmp_path / "mail"


@pytest.fixture
async def mailing(new_database: DatabaseFactory, smtp_port: int) -> AsyncIterator[ServiceUnderTest]:
    """Notifications sending to `smtp_port`, retrying fast, with a short lease."""
    settings = NotificationsSettings(
        database_url=await new_database("notifications"),
        smtp_port=smtp_port,
        retry_first_seconds=0.2,
        sender_lease_seconds=0.5,
    )
    async with serve(DEFINITION, settings) as service:
        yield service


async def send_due(service: ServiceUnderTest) -> int:
    return await mailer.send_due(service.runtime.sessions, service.runtime.settings)  # type: ignore[arg-type]


async def deliveries(service: ServiceUnderTest) -> list[Delivery]:
    async with service.runtime.sessions() as session:
        return list((await session.exec(select(Delivery).order_by(col(Delivery.created_at)))).all())


async def two_cities(
    registry: ServiceUnderTest,
    matching: ServiceUnderTest,
    notifications: ServiceUnderTest,
    preferences: dict,
) -> tuple[tuple[str, str], tuple[str, str]]:
    """Lomé and Lyon with their officers; Lyon's officer has `preferences`."""
    lome_officer, lyon_officer = str(uuid.uuid4()), str(uuid.uuid4())
    lome = await register_city(registry, notifications, "Lomé", "TG", lome_officer, ["fr"])
    lyon = await register_city(registry, notifications, "Lyon", "FR", lyon_officer, ["fr"])
    await matching.deliver(*await registry.events("CityRegistered"))
    put = await notifications.client.put(
        "/me/preferences", json=preferences, headers=bearer(subject=lyon_officer)
    )
    assert put.status_code == 200, put.text
    return (lome, lome_officer), (lyon, lyon_officer)


LYON_MAIL = "relations.internationales@lyon.example.org"


async def test_one_email_per_event_in_the_recipient_s_language_with_both_parts(
    registry: ServiceUnderTest,
    matching: ServiceUnderTest,
    mailing: ServiceUnderTest,
    smtp_port: int,
    maildir: Path,
) -> None:
    lome, (lyon, _) = await two_cities(registry, matching, mailing, {"email": LYON_MAIL})
    await propose(matching, lome, lyon, "Lomé–Lyon: <eau potable> & assainissement")
    events = await matching.events()
    await mailing.deliver(*events)
    await mailing.deliver(*events)  # redelivered: still one email
    with running_sink(maildir, smtp_port):
        assert await send_due(mailing) == 1
        assert await send_due(mailing) == 0
    [message] = received(maildir)
    [delivery] = await deliveries(mailing)

    assert message["To"] == LYON_MAIL
    assert message["Subject"] == "Accord proposé : Lomé–Lyon: <eau potable> & assainissement"
    assert message["Message-ID"].strip() == f"<{delivery.id}@notifications.city-exchange.test>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Lomé a proposé un accord (bilateral) ; votre ville est invitée à l'accepter." in text
    assert "&lt;eau potable&gt; &amp; assainissement" in html and "<eau potable>" not in html
    assert (delivery.status, delivery.attempts, delivery.missing_language) == (
        DeliveryStatus.SENT,
        1,
        None,
    )


async def test_smtp_down_waits_and_retries_nothing_lost(
    registry: ServiceUnderTest,
    matching: ServiceUnderTest,
    mailing: ServiceUnderTest,
    smtp_port: int,
    maildir: Path,
) -> None:
    lome, (lyon, _) = await two_cities(registry, matching, mailing, {"email": LYON_MAIL})
    await propose(matching, lome, lyon, "Lomé–Lyon")
    await mailing.deliver(*await matching.events())

    assert await send_due(mailing) == 1  # nothing listens on the port
    [waiting] = await deliveries(mailing)
    assert waiting.status is DeliveryStatus.PENDING and waiting.attempts == 1
    assert waiting.last_error and waiting.next_attempt_at > utcnow()
    assert await send_due(mailing) == 0  # not before its time

    await asyncio.sleep(0.3)
    with running_sink(maildir, smtp_port):
        assert await send_due(mailing) == 1
    [sent] = await deliveries(mailing)
    assert (sent.status, sent.attempts, sent.last_error) == (DeliveryStatus.SENT, 2, None)
    assert len(received(maildir)) == 1


async def test_a_crash_between_sending_and_recording_repeats_only_that_email_with_its_id(
    registry: ServiceUnderTest,
    matching: ServiceUnderTest,
    mailing: ServiceUnderTest,
    smtp_port: int,
    maildir: Path,
) -> None:
    lome, (lyon, _) = await two_cities(registry, matching, mailing, {"email": LYON_MAIL})
    await propose(matching, lome, lyon, "first")
    await propose(matching, lome, lyon, "second")
    await mailing.deliver(*await matching.events())
    first, second = await deliveries(mailing)
    settings: NotificationsSettings = mailing.runtime.settings  # type: ignore[assignment]
    with running_sink(maildir, smtp_port):
        # A sender claims the first email, sends it, and dies before recording that it did.
        claimed = await mailer.claim(mailing.runtime.sessions, first.id, 0.5)
        assert claimed is not None
        async with mailing.runtime.sessions() as session:
            message, _ = await mailer.render_delivery(session, claimed)
        await mailer.send_email(settings, mailer.compose(settings, claimed, LYON_MAIL, message))
        # Another sender: the first is still claimed; the second goes.
        assert await send_due(mailing) == 1
        await asyncio.sleep(0.6)  # the dead sender's lease lapses
        assert await send_due(mailing) == 1
        assert await send_due(mailing) == 0
    ids = [m["Message-ID"].strip() for m in received(maildir)]
    assert sorted(ids) == sorted(
        [f"<{first.id}@notifications.city-exchange.test>"] * 2
        + [f"<{second.id}@notifications.city-exchange.test>"]
    )
    assert {(d.status, d.attempts) for d in await deliveries(mailing)} == {
        (DeliveryStatus.SENT, 2),
        (DeliveryStatus.SENT, 1),
    }


async def test_a_daily_digest_is_one_email_per_period(
    registry: ServiceUnderTest,
    matching: ServiceUnderTest,
    mailing: ServiceUnderTest,
    smtp_port: int,
    maildir: Path,
) -> None:
    prefs = {"email": LYON_MAIL, "language": "es", "digest": "daily"}
    lome, (lyon, _) = await two_cities(registry, matching, mailing, prefs)
    await propose(matching, lome, lyon, "uno")
    await propose(matching, lome, lyon, "dos")
    await mailing.deliver(*await matching.events())
    sessions = mailing.runtime.sessions
    assert {d.status for d in await deliveries(mailing)} == {DeliveryStatus.HELD}
    assert await mailer.close_digests(sessions) == 0  # today is not over
    assert await send_due(mailing) == 0

    yesterday = utcnow() - timedelta(days=1)
    async with sessions() as session:
        await session.exec(update(Delivery).values(created_at=yesterday))
        await session.commit()
    assert await mailer.close_digests(sessions) == 1
    assert await mailer.close_digests(sessions) == 0  # exactly once per period
    with running_sink(maildir, smtp_port):
        assert await send_due(mailing) == 1
    [message] = received(maildir)
    assert message["Subject"] == "Su resumen diario: 2 notificaciones"
    text = message.get_body(("plain",)).get_content()
    assert text.index("Acuerdo propuesto: uno") < text.index("Acuerdo propuesto: dos")
    rows = await deliveries(mailing)
    [digest] = [d for d in rows if d.event_type == DIGEST_TYPE]
    assert digest.event_id == f"digest:daily:{yesterday.date().isoformat()}"
    assert digest.status is DeliveryStatus.SENT
    assert {d.status for d in rows if d is not digest} == {DeliveryStatus.DIGESTED}


async def test_no_address_any_more_means_nothing_sent_and_said_so(
    registry: ServiceUnderTest,
    matching: ServiceUnderTest,
    mailing: ServiceUnderTest,
    smtp_port: int,
    maildir: Path,
) -> None:
    lome, (lyon, lyon_officer) = await two_cities(registry, matching, mailing, {"email": LYON_MAIL})
    await propose(matching, lome, lyon, "Lomé–Lyon")
    await mailing.deliver(*await matching.events())
    removed = await mailing.client.put(
        "/me/preferences", json={"email": None}, headers=bearer(subject=lyon_officer)
    )
    assert removed.status_code == 200, removed.text
    with running_sink(maildir, smtp_port):
        assert await send_due(mailing) == 1
    [skipped] = await deliveries(mailing)
    assert skipped.status is DeliveryStatus.SKIPPED and "no email address" in skipped.last_error
    assert received(maildir) == []
