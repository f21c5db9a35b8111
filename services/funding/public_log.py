"""The fund's tamper-evident public log: every event about a fund is chained by hash, so that a
donor holding the chain head can verify that no past entry was changed, removed or reordered.

Each entry commits to its event through `digest` (SHA-256 of the event's canonical JSON) and to
everything before it through `previous_hash`; `hash` covers both. The public sees digests, not
documents (events name donors, and some donors are people): whoever holds an event, e.g. the
donor it concerns or a subscriber to `funding.events`, can check that its digest is in the log.

`record_fund_event` is the one way funding records an event about a fund: outbox and log in the
same transaction, the fund locked so that two writers cannot both take the next position. The
log is append-only in the database too (triggers, as for the ledger), so that changing a past
entry takes someone able to drop triggers, and then the chain still gives it away.

The verifier, for a donor or anyone holding a head (exit status 0: the chain holds; 1: it does
not, the first broken entry named first; 2: it could not be checked):

    python -m services.funding.public_log verify --url http://127.0.0.1:8003 --fund <id> \
        [--head <hash noted earlier>] [--events <file of events as published>]

A restricted fund's log is served to its administrators and donors only: give the donor's
access token in the environment variable CX_TOKEN."""

import argparse
import asyncio
import hashlib
import json
import os
import sys
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import httpx
from pydantic import BaseModel
from sqlalchemy import BigInteger, Integer, UniqueConstraint
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding.ledger.store import append_only, lock_fund
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


append_only("fund_log")


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


async def _last_entry(session: AsyncSession, fund_id: uuid.UUID) -> FundLogEntry | None:
    return (
        await session.exec(
            select(FundLogEntry)
            .where(col(FundLogEntry.fund_id) == fund_id)
            .order_by(col(FundLogEntry.position).desc())
            .limit(1)
        )
    ).first()


async def record_fund_event(
    session: AsyncSession, spec: EventSpec, fund_id: uuid.UUID, payload: BaseModel
) -> Event:
    """Record an event about `fund_id` (its aggregate: the Kafka key) in the outbox and append it
    to the fund's public log, in the caller's transaction."""
    await lock_fund(session, fund_id)
    event = await record_event(session, spec, fund_id, payload)
    last = await _last_entry(session, fund_id)
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


class LogEntryPublic(SQLModel):
    """What anyone may see of an entry: enough to recompute the chain, not the event itself."""

    position: int
    event_id: str
    event_type: str
    occurred_at: datetime
    digest: str = Field(description="SHA-256 of the event's canonical JSON")
    previous_hash: str
    hash: str

    def link(self) -> Link:
        return Link(**self.model_dump())

    @classmethod
    def of(cls, entry: FundLogEntry) -> "LogEntryPublic":
        return cls.model_validate(entry)


class LogEntryWithDocument(LogEntryPublic):
    document: dict[str, Any] = Field(description="the event as published (CloudEvents JSON)")

    @classmethod
    def of(cls, entry: FundLogEntry) -> "LogEntryWithDocument":
        return cls.model_validate(entry, update={"document": json.loads(entry.document)})


class LogPage(SQLModel):
    fund_id: uuid.UUID
    entries: list[LogEntryPublic]
    next_after: int | None = Field(
        description="ask again with after=this for the entries that follow; null: none follow"
    )

    ENTRY: ClassVar[type[LogEntryPublic]] = LogEntryPublic


class LogPageWithDocuments(LogPage):
    entries: list[LogEntryWithDocument]  # type: ignore[assignment]

    ENTRY: ClassVar[type[LogEntryPublic]] = LogEntryWithDocument


Page = TypeVar("Page", bound=LogPage)


class LogHead(SQLModel):
    fund_id: uuid.UUID
    position: int = Field(description="how many entries the chain has; 0: none yet")
    hash: str = Field(description="the last entry's hash: note it to check later")
    occurred_at: datetime | None


async def log_page(
    session: AsyncSession, fund_id: uuid.UUID, after: int, limit: int, page: type[Page]
) -> Page:
    """The entries after position `after`, at most `limit`, as `page` shows them, and where
    the next page starts."""
    entries = (
        await session.exec(
            select(FundLogEntry)
            .where(col(FundLogEntry.fund_id) == fund_id, col(FundLogEntry.position) > after)
            .order_by(col(FundLogEntry.position))
            .limit(limit + 1)
        )
    ).all()
    more = len(entries) > limit
    entries = entries[:limit]
    return page(
        fund_id=fund_id,
        entries=[page.ENTRY.of(entry) for entry in entries],
        next_after=entries[-1].position if more else None,
    )


async def log_head(session: AsyncSession, fund_id: uuid.UUID) -> LogHead:
    last = await _last_entry(session, fund_id)
    if last is None:
        return LogHead(fund_id=fund_id, position=0, hash=GENESIS, occurred_at=None)
    return LogHead(
        fund_id=fund_id, position=last.position, hash=last.hash, occurred_at=last.occurred_at
    )


def event_problems(
    entries: Sequence[LogEntryPublic], events: Iterable[dict[str, Any]]
) -> list[str]:
    """What is wrong between a holder's copies of events (as published) and the log: an event
    missing from it, or whose digest there is not the digest of the copy."""
    by_event = {entry.event_id: entry for entry in entries}
    problems: list[str] = []
    for event in events:
        entry = by_event.get(str(event.get("id")))
        if entry is None:
            problems.append(f"event {event.get('id')} ({event.get('type')}) is not in the log")
        elif entry.digest != digest_of(canonical(event)):
            problems.append(
                f"entry {entry.position}: its digest is not that of event {entry.event_id} as "
                "published: the log's record of it was changed"
            )
    return problems


@dataclass(frozen=True)
class Verification:
    entries: int
    head: str
    problems: list[str]


async def verify(
    client: httpx.AsyncClient,
    fund_id: uuid.UUID,
    expected_head: str | None = None,
    events: Sequence[dict[str, Any]] = (),
    page_size: int = 1000,
) -> Verification:
    """Fetch the fund's whole public log through its HTTP API and check it: the chain
    recomputed, `expected_head` still in it, each of `events` in it with its digest."""
    entries: list[LogEntryPublic] = []
    after: int | None = 0
    while after is not None:
        response = await client.get(
            f"/funds/{fund_id}/public-log", params={"after": after, "limit": page_size}
        )
        response.raise_for_status()
        page = LogPage.model_validate(response.json())
        entries += page.entries
        after = page.next_after
    problems = chain_problems((entry.link() for entry in entries), expected_head)
    problems += event_problems(entries, events)
    return Verification(len(entries), entries[-1].hash if entries else GENESIS, problems)


def _read_events(path: Path) -> list[dict[str, Any]]:
    """Events as published: a JSON array of CloudEvents, or one CloudEvent a line."""
    text = path.read_text("utf-8").strip()
    if text.startswith("["):
        return list(json.loads(text))
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.funding.public_log",
        description="Check a fund's tamper-evident public log.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="recompute the chain of a fund's public log")
    check.add_argument("--url", required=True, help="the funding service, e.g. http://host:8003")
    check.add_argument("--fund", required=True, type=uuid.UUID, help="the fund's id")
    check.add_argument("--head", help="a head hash noted earlier, which must still be in the chain")
    check.add_argument(
        "--events", type=Path, help="a file of events as published (JSON array or JSON lines)"
    )
    args = parser.parse_args(argv)
    try:
        events = _read_events(args.events) if args.events else []
    except (OSError, ValueError) as exc:
        print(f"cannot read the events file: {exc}", file=sys.stderr)
        return 2

    token = os.environ.get("CX_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    async def run() -> Verification:
        async with httpx.AsyncClient(base_url=args.url, headers=headers, timeout=30) as client:
            return await verify(client, args.fund, args.head, events)

    try:
        result = asyncio.run(run())
    except httpx.HTTPError as exc:
        print(f"cannot fetch the public log of fund {args.fund}: {exc}", file=sys.stderr)
        return 2
    if result.problems:
        print(f"BROKEN: {result.problems[0]}")
        for problem in result.problems[1:]:
            print(f"also: {problem}")
        return 1
    print(f"OK: {result.entries} entries chain up to head {result.head}")
    if events:
        print(f"OK: all {len(events)} events given are in the log as published")
    return 0


if __name__ == "__main__":
    sys.exit(main())
