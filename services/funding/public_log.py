"""The fund's tamper-evident public log: every event about a fund is chained by hash, so that a
donor holding the chain head can verify that no past entry was changed, removed or reordered.

Each entry commits to its event through `digest` (SHA-256 of the event's canonical JSON) and to
everything before it through `previous_hash`; `hash` covers both. The public sees digests, not
documents (events name donors, and some donors are people): whoever holds an event, e.g. the
donor it concerns or a subscriber to `funding.events`, can check that its digest is in the log.

`record_fund_event` is the one way funding records an event about a fund: outbox and log in the
same transaction, the fund locked so that two writers cannot both take the next position."""

import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import BigInteger, Integer, UniqueConstraint
from sqlmodel import Field, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding.ledger.store import lock_fund
from services.funding.models import FundingTable
from shared.contracts import EventSpec
from shared.db import UTCDateTime
from shared.events import Event, encode
from shared.outbox import record_event

GENESIS = "0" * 64


class FundLogEntry(FundingTable, table=True):
    __tablename__ = "fund_log"
    __table_args__ = (UniqueConstraint("fund_id", "position"),)

    seq: int | None = Field(
        default=None, primary_key=True, sa_type=BigInteger().with_variant(Integer, "sqlite")
    )
    fund_id: uuid.UUID = Field(index=True)
    position: int = Field(description="1, 2, 3... within the fund")
    event_id: str = Field(max_length=36, unique=True)
    event_type: str = Field(max_length=100)
    occurred_at: datetime = Field(sa_type=UTCDateTime)
    document: str = Field(description="the event as published (CloudEvents JSON), canonical")
    digest: str = Field(max_length=64)
    previous_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


def canonical(document: Any) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest_of(document: str) -> str:
    return hashlib.sha256(document.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Link:
    """What the chain covers of one entry: enough to recompute it without the document."""

    position: int
    event_id: str
    event_type: str
    occurred_at: datetime
    digest: str
    previous_hash: str
    hash: str


def link_hash(
    previous_hash: str,
    position: int,
    event_id: str,
    event_type: str,
    occurred_at: datetime,
    digest: str,
) -> str:
    covered = "|".join(
        (previous_hash, str(position), event_id, event_type, occurred_at.isoformat(), digest)
    )
    return hashlib.sha256(covered.encode("utf-8")).hexdigest()


def chain_problems(links: Iterable[Link], expected_head: str | None = None) -> list[str]:
    """Everything that breaks the chain, in order; [] when it holds (and ends at
    `expected_head`, when given: the head a donor noted earlier must still be in the chain)."""
    problems: list[str] = []
    previous = GENESIS
    seen_heads = {GENESIS}
    for expected_position, link in enumerate(links, start=1):
        if link.position != expected_position:
            problems.append(f"entry {link.position}: expected position {expected_position}")
        if link.previous_hash != previous:
            problems.append(f"entry {link.position}: previous_hash does not match entry before")
        recomputed = link_hash(
            link.previous_hash,
            link.position,
            link.event_id,
            link.event_type,
            link.occurred_at,
            link.digest,
        )
        if recomputed != link.hash:
            problems.append(f"entry {link.position}: hash does not match its contents")
        previous = link.hash
        seen_heads.add(link.hash)
    if expected_head is not None and expected_head not in seen_heads:
        problems.append(f"the head {expected_head} is not in the chain: history was rewritten")
    return problems


async def record_fund_event(
    session: AsyncSession, spec: EventSpec, fund_id: uuid.UUID, payload: BaseModel
) -> Event:
    """Record an event about `fund_id` (its aggregate: the Kafka key) in the outbox and append it
    to the fund's public log, in the caller's transaction."""
    await lock_fund(session, fund_id)
    event = await record_event(session, spec, fund_id, payload)
    last = (
        await session.exec(
            select(FundLogEntry)
            .where(col(FundLogEntry.fund_id) == fund_id)
            .order_by(col(FundLogEntry.position).desc())
            .limit(1)
        )
    ).first()
    position = last.position + 1 if last else 1
    previous_hash = last.hash if last else GENESIS
    document = canonical(json.loads(encode(event).value))
    digest = digest_of(document)
    session.add(
        FundLogEntry(
            fund_id=fund_id,
            position=position,
            event_id=event.id,
            event_type=event.type,
            occurred_at=event.time,
            document=document,
            digest=digest,
            previous_hash=previous_hash,
            hash=link_hash(previous_hash, position, event.id, event.type, event.time, digest),
        )
    )
    await session.flush()
    return event
