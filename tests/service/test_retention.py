"""The janitor purges what the delivery guarantees no longer need, and nothing else."""

from datetime import timedelta

from sqlalchemy import insert, update
from sqlmodel import func, select

from shared.db import utcnow
from shared.inbox import INBOX
from shared.outbox import OUTBOX
from shared.retention import purge
from tests.helpers import ServiceUnderTest, bearer


async def test_old_published_rows_and_old_inbox_ids_go_and_the_rest_stays(
    registry: ServiceUnderTest,
) -> None:
    for name in ("Andenne", "Evere", "Ostende"):
        await registry.client.post(
            "/cities", json={"name": name, "country_code": "BE"}, headers=bearer()
        )
    sessions = registry.runtime.sessions
    long_ago, now = utcnow() - timedelta(days=40), utcnow()
    async with sessions() as session:
        seqs = list((await session.exec(select(OUTBOX.c.seq).order_by(OUTBOX.c.seq))).all())
        # One row published long ago, one published now, the others never published.
        await session.exec(
            update(OUTBOX).where(OUTBOX.c.seq == seqs[0]).values(published_at=long_ago)
        )
        await session.exec(update(OUTBOX).where(OUTBOX.c.seq == seqs[1]).values(published_at=now))
        for event_id, at in (("old", long_ago), ("recent", now)):
            await session.exec(
                insert(INBOX).values(
                    consumer="registry", event_id=event_id, event_type="T", processed_at=at
                )
            )
        await session.commit()

    assert await purge(sessions, outbox_days=7, inbox_days=30) == (1, 1)

    async with sessions() as session:
        left = list((await session.exec(select(OUTBOX.c.seq).order_by(OUTBOX.c.seq))).all())
        assert left == seqs[1:]  # unpublished rows are never purged, whatever their age
        ids = list((await session.exec(select(INBOX.c.event_id))).all())
        assert ids == ["recent"]
        assert (await session.exec(select(func.count()).select_from(OUTBOX))).one() == len(seqs) - 1
