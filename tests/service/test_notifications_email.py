"""Email through a real SMTP server (aiosmtpd, on a free port, keeping a Maildir): what it
received is what these tests read. The sender and digest loops are run one pass at a time."""

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update
from sqlmodel import col, select

from services.notifications import mailer
from services.notifications.app import DEFINITION
from services.notifications.mailsink import received, running_sink
from services.notifications.models import DIGEST_TYPE, Delivery, DeliveryStatus
from services.notifications.settings import NotificationsSettings
from services.notifications.unsubscribe import UnsubscribeLinks
from shared.db import utcnow
from shared.devstack import free_port
from tests.conftest import DatabaseFactory
from tests.helpers import ServiceUnderTest, bearer, eventually, serve
from tests.service.test_notifications_me import propose, register_city

LYON_MAIL = "relations.internationales@lyon.example.org"


@dataclass
class Mailing:
    """Registry and matching as the events' sources; notifications sending to an SMTP port
    where a sink listens only while `smtp_up()` lasts."""

    registry: ServiceUnderTest
    matching: ServiceUnderTest
    notifications: ServiceUnderTest
    port: int
    maildir: Path

    @property
    def settings(self) -> NotificationsSettings:
        return self.notifications.runtime.settings  # type: ignore[return-value]

    @contextmanager
    def smtp_up(self) -> Iterator[None]:
        with running_sink(self.maildir, self.port):
            yield

    def received(self) -> list[EmailMessage]:
        return received(self.maildir)

    async def send_due(self) -> int:
        return await mailer.send_due(self.notifications.runtime.sessions, self.settings)

    async def deliveries(self) -> list[Delivery]:
        async with self.notifications.runtime.sessions() as session:
            query = select(Delivery).order_by(col(Delivery.created_at))
            return list((await session.exec(query)).all())

    async def lyon_hears(self, preferences: dict, *titles: str) -> str:
        """Lomé proposes agreements titled `titles` to Lyon, whose officer has `preferences`;
        notifications consumes it all. Lyon's officer's subject."""
        lome_officer, lyon_officer = str(uuid.uuid4()), str(uuid.uuid4())
        n = self.notifications
        lome = await register_city(self.registry, n, "Lomé", "TG", lome_officer, ["fr"])
        lyon = await register_city(self.registry, n, "Lyon", "FR", lyon_officer, ["fr"])
        await self.matching.deliver(*await self.registry.events("CityRegistered"))
        put = await n.client.put(
            "/me/preferences", json=preferences, headers=bearer(subject=lyon_officer)
        )
        assert put.status_code == 200, put.text
        for title in titles:
            await propose(self.matching, (lome, lome_officer), lyon, title)
        await n.deliver(*await self.matching.events())
        return lyon_officer


@pytest.fixture
async def mailing(
    registry: ServiceUnderTest,
    matching: ServiceUnderTest,
    new_database: DatabaseFactory,
    tmp_path: Path,
) -> AsyncIterator[Mailing]:
    port = free_port()
    settings = NotificationsSettings(
        database_url=await new_database("notifications"),
        smtp_port=port,
        retry_first_seconds=0.2,  # retrying fast
        sender_lease_seconds=0.5,  # a dead sender's email taken over soon
    )
    async with serve(DEFINITION, settings) as notifications:
        yield Mailing(registry, matching, notifications, port, tmp_path / "mail")


async def test_one_email_per_event_in_the_recipient_s_language_with_both_parts(
    mailing: Mailing,
) -> None:
    await mailing.lyon_hears({"email": LYON_MAIL}, "Lomé–Lyon: <eau potable> & assainissement")
    await mailing.notifications.deliver(*await mailing.matching.events())  # redelivered
    with mailing.smtp_up():
        assert await mailing.send_due() == 1
        assert await mailing.send_due() == 0
    [message] = mailing.received()
    [delivery] = await mailing.deliveries()

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


async def test_smtp_down_waits_and_retries_nothing_lost(mailing: Mailing) -> None:
    officer = await mailing.lyon_hears({"email": LYON_MAIL}, "Lomé–Lyon")

    assert await mailing.send_due() == 1  # nothing listens on the port
    [waiting] = await mailing.deliveries()
    assert waiting.status is DeliveryStatus.PENDING and waiting.attempts == 1
    assert waiting.last_error and waiting.next_attempt_at > utcnow()
    assert await mailing.send_due() == 0  # not before its time
    # The recipient can see it waiting, and why.
    mine = await mailing.notifications.client.get("/me/emails", headers=bearer(subject=officer))
    [shown] = mine.json()
    assert (shown["id"], shown["status"], shown["attempts"]) == (str(waiting.id), "pending", 1)
    assert shown["last_error"] == waiting.last_error

    await asyncio.sleep(0.3)
    with mailing.smtp_up():
        assert await mailing.send_due() == 1
    [sent] = await mailing.deliveries()
    assert (sent.status, sent.attempts, sent.last_error) == (DeliveryStatus.SENT, 2, None)
    assert len(mailing.received()) == 1


async def test_a_crash_between_sending_and_recording_repeats_only_that_email_with_its_id(
    mailing: Mailing,
) -> None:
    await mailing.lyon_hears({"email": LYON_MAIL}, "first", "second")
    first, second = await mailing.deliveries()
    sessions, settings = mailing.notifications.runtime.sessions, mailing.settings
    with mailing.smtp_up():
        # A sender claims the first email, sends it, and dies before recording that it did.
        claimed = await mailer.claim(sessions, first.id, settings.sender_lease_seconds)
        assert claimed is not None
        async with sessions() as session:
            content = await mailer.render_delivery(session, claimed)
        await mailer.send_email(settings, mailer.compose(settings, claimed, LYON_MAIL, content))
        # Another sender: the first is still claimed; the second goes.
        assert await mailing.send_due() == 1
        await asyncio.sleep(0.6)  # the dead sender's lease lapses
        assert await mailing.send_due() == 1
        assert await mailing.send_due() == 0
    ids = sorted(m["Message-ID"].strip() for m in mailing.received())
    domain = settings.message_id_domain
    assert ids == sorted([f"<{first.id}@{domain}>"] * 2 + [f"<{second.id}@{domain}>"])
    assert {(d.status, d.attempts) for d in await mailing.deliveries()} == {
        (DeliveryStatus.SENT, 2),
        (DeliveryStatus.SENT, 1),
    }


async def test_a_daily_digest_is_one_email_per_period(mailing: Mailing) -> None:
    prefs = {"email": LYON_MAIL, "language": "es", "digest": "daily"}
    await mailing.lyon_hears(prefs, "uno", "dos")
    sessions = mailing.notifications.runtime.sessions
    assert {d.status for d in await mailing.deliveries()} == {DeliveryStatus.HELD}
    assert await mailer.close_digests(sessions) == 0  # today is not over
    assert await mailing.send_due() == 0

    yesterday = utcnow() - timedelta(days=1)
    async with sessions() as session:
        await session.exec(update(Delivery).values(created_at=yesterday))
        await session.commit()
    assert await mailer.close_digests(sessions) == 1
    assert await mailer.close_digests(sessions) == 0  # exactly once per period
    with mailing.smtp_up():
        assert await mailing.send_due() == 1
    [message] = mailing.received()
    assert message["Subject"] == "Su resumen diario: 2 notificaciones"
    text = message.get_body(("plain",)).get_content()
    assert text.index("Acuerdo propuesto: uno") < text.index("Acuerdo propuesto: dos")
    rows = await mailing.deliveries()
    [digest] = [d for d in rows if d.event_type == DIGEST_TYPE]
    assert digest.event_id == f"digest:daily:{yesterday.date().isoformat()}"
    assert digest.status is DeliveryStatus.SENT
    assert {d.status for d in rows if d is not digest} == {DeliveryStatus.DIGESTED}
    # Its unsubscribe link turns off the email of what it gathered.
    link_token = message["List-Unsubscribe"].strip(" <>").rsplit("/", 1)[1]
    asked = UnsubscribeLinks(mailing.settings.unsubscribe_keys).read(link_token)
    assert asked.event_types == ("AgreementProposed",) and asked.subject == digest.recipient


async def test_no_address_any_more_means_nothing_sent_and_said_so(mailing: Mailing) -> None:
    officer = await mailing.lyon_hears({"email": LYON_MAIL}, "Lomé–Lyon")
    removed = await mailing.notifications.client.put(
        "/me/preferences", json={"email": None}, headers=bearer(subject=officer)
    )
    assert removed.status_code == 200, removed.text
    with mailing.smtp_up():
        assert await mailing.send_due() == 1
    [skipped] = await mailing.deliveries()
    assert skipped.status is DeliveryStatus.SKIPPED and "no email address" in skipped.last_error
    assert mailing.received() == []


class _NoSuchMailbox:
    """An SMTP server's answer to an address it does not have: a permanent refusal."""

    async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]
        return "550 5.1.1 no such mailbox here"


async def test_a_permanent_refusal_fails_the_email_without_retrying(mailing: Mailing) -> None:
    await mailing.lyon_hears({"email": LYON_MAIL}, "Lomé–Lyon")
    refusing = Controller(_NoSuchMailbox(), hostname="127.0.0.1", port=mailing.port)
    refusing.start()
    try:
        assert await mailing.send_due() == 1
    finally:
        refusing.stop()
    [failed] = await mailing.deliveries()
    assert failed.status is DeliveryStatus.FAILED and failed.attempts == 1
    assert "550" in failed.last_error and "no such mailbox" in failed.last_error
    assert await mailing.send_due() == 0  # not tried again


async def test_a_queued_email_wakes_the_sender_long_before_its_poll(mailing: Mailing) -> None:
    mailing.settings.sender_poll_seconds = 3600
    with mailing.smtp_up():
        sender = asyncio.create_task(mailer.send_regularly(mailing.notifications.runtime))
        try:
            await asyncio.sleep(0.2)  # it looked, found nothing, and sleeps for up to an hour
            await mailing.lyon_hears({"email": LYON_MAIL}, "Lomé–Lyon")
            [message] = await eventually(
                lambda: asyncio.sleep(0, mailing.received()),
                within=10,
                what="an email sent on the consumer's commit",
            )
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
    assert message["To"] == LYON_MAIL


async def test_the_unsubscribe_link_turns_that_event_type_s_email_off_in_one_click(
    mailing: Mailing,
) -> None:
    officer = await mailing.lyon_hears({"email": LYON_MAIL}, "first")
    with mailing.smtp_up():
        assert await mailing.send_due() == 1
    [message] = mailing.received()
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = message["List-Unsubscribe"].strip()
    base = f"<{mailing.settings.public_base_url}/unsubscribe/"
    assert link.startswith(base) and link.endswith(">")
    path = link[len("<" + mailing.settings.public_base_url) : -1]
    client = mailing.notifications.client

    async def subscription() -> dict[str, bool]:
        mine = await client.get("/me/preferences", headers=bearer(subject=officer))
        return mine.json()["subscriptions"]["AgreementProposed"]

    # Opening the link (a mail scanner would) only asks to confirm.
    page = await client.get(path)
    assert page.status_code == 200 and '<form method="post">' in page.text
    assert await subscription() == {"in_app": True, "email": True}

    one_click = {"content-type": "application/x-www-form-urlencoded"}
    for _ in range(2):  # the mail client's POST, then a repeat: the same outcome
        done = await client.post(path, content="List-Unsubscribe=One-Click", headers=one_click)
        assert done.status_code == 200 and "Unsubscribed" in done.text
    assert await subscription() == {"in_app": True, "email": False}
    preferences = await client.get("/me/preferences", headers=bearer(subject=officer))
    assert preferences.json()["email"] == LYON_MAIL  # the other types are still emailed

    lome = (await mailing.registry.events("CityRegistered"))[0].data["city_id"]
    lyon = (await mailing.registry.events("CityRegistered"))[1].data["city_id"]
    await propose(mailing.matching, (lome, str(uuid.uuid4())), lyon, "second")
    await mailing.notifications.deliver(*await mailing.matching.events())
    assert len(await mailing.deliveries()) == 1  # no email for the second proposal

    payload, _, signature = path.removeprefix("/unsubscribe/").partition(".")
    for forged in (f"{payload}.{signature[:-2]}", f"{payload[:-2]}.{signature}", "nonsense"):
        refused = await client.post(f"/unsubscribe/{forged}")
        assert refused.status_code == 400 and "PUT /me/preferences" in refused.json()["detail"]
