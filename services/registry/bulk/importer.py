"""Importing validated rows, a batch per transaction, each with the outbox rows of its events.

A row is imported, found already present (skipped: no update, no event), or rejected with its
reasons. Rows are checked on their own first (`rows`), then against the rest of the file (the
same city or external_ref twice), then against the database, inside the batch's transaction."""

import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy import insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry.bulk.files import Row
from services.registry.bulk.models import ImportRef
from services.registry.bulk.rows import CityRow, ItemRow, Rejection, city_row, item_row
from services.registry.events import EVENTS_BY_KIND, city_registered, need_or_offer
from services.registry.models import City
from services.registry.needs_offers import domain as items_domain
from services.registry.needs_offers.domain import Action, Kind, Status
from services.registry.needs_offers.models import NeedOffer, NeedOfferRevision
from shared.contracts.registry.cities import CITY_REGISTERED
from shared.db import utcnow
from shared.outbox import OUTBOX, record_events

BATCH_SIZE = 1000
# A batch whose check raced a concurrent registration (a unique constraint) is checked again.
_ATTEMPTS = 3

R = TypeVar("R", CityRow, ItemRow)
T = TypeVar("T")


@dataclass
class Summary:
    imported: int = 0
    present: int = 0
    rejected: int = 0  # rows; a row may have several rejections
    rejections: list[Rejection] = field(default_factory=list)

    def reject(self, rejections: Sequence[Rejection]) -> None:
        self.rejected += 1
        self.rejections.extend(rejections)


@dataclass
class _Outcome:
    imported: int = 0
    present: int = 0
    rejected: list[Rejection] = field(default_factory=list)


class _Importer(Generic[R]):
    tables: Sequence[str] = ()  # that an import fills, and its look-ups read

    def __init__(self, subject: str) -> None:
        self.subject = subject
        # The first row of each key seen in the file, to reject the same record given twice.
        self._seen: dict[tuple[str, object], int] = {}

    def check(self, row: Row) -> R | list[Rejection]:
        raise NotImplementedError

    def keys(self, row: R) -> Iterable[tuple[str, str, object]]:
        """(column, what it identifies, key) of each thing that identifies the row's record."""
        raise NotImplementedError

    async def write(self, session: AsyncSession, rows: list[R]) -> _Outcome:
        raise NotImplementedError

    def once_in_file(self, row: R) -> R | list[Rejection]:
        for column, what, key in self.keys(row):
            first = self._seen.setdefault((column, key), row.line)
            if first != row.line:
                return [Rejection(row.line, column, f"the same {what} as row {first}")]
        return row


async def import_rows(
    sessions: async_sessionmaker[AsyncSession],
    what: str,
    rows: Iterable[Row],
    subject: str,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int], None] = lambda done: None,
) -> Summary:
    """Import `rows` of cities, needs or offers (`what`); `progress` is told how many rows each
    batch took."""
    importer: _Importer[CityRow] | _Importer[ItemRow] = (
        _CityImporter(subject) if what == "cities" else _ItemImporter(subject, Kind(what[:-1]))
    )
    summary = Summary()
    statistics = _Statistics(importer.tables)
    batch: list[Row] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= batch_size:
            await _import_batch(sessions, importer, batch, summary)
            await statistics.refresh(sessions, summary.imported)
            progress(len(batch))
            batch = []
    if batch:
        await _import_batch(sessions, importer, batch, summary)
        progress(len(batch))
    return summary


class _Statistics:
    """PostgreSQL plans the batches' look-ups from its statistics of the tables. Autovacuum
    refreshes them in its own time, and until it does a table that grew from a few rows to tens
    of thousands is read whole by every look-up (seconds each, measured at 60k cities). So the
    import refreshes them itself each time it has doubled what it imported."""

    def __init__(self, tables: Sequence[str]) -> None:
        self._tables = tables
        self._next = BATCH_SIZE

    async def refresh(self, sessions: async_sessionmaker[AsyncSession], imported: int) -> None:
        if imported < self._next:
            return
        self._next = 2 * imported
        async with sessions() as session:
            if session.bind is None or session.bind.dialect.name != "postgresql":
                return
            for table in self._tables:
                await session.exec(text(f"ANALYZE {table}"))
            await session.commit()


async def _import_batch(
    sessions: async_sessionmaker[AsyncSession],
    importer: "_Importer[CityRow] | _Importer[ItemRow]",
    batch: list[Row],
    summary: Summary,
) -> None:
    valid = []
    for row in batch:
        checked = importer.check(row)
        if not isinstance(checked, list):
            checked = importer.once_in_file(checked)  # type: ignore[arg-type]
        if isinstance(checked, list):
            summary.reject(checked)
        else:
            valid.append(checked)
    if not valid:
        return
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            async with sessions() as session:
                outcome = await importer.write(session, valid)  # type: ignore[arg-type]
                await session.commit()
            break
        except IntegrityError:
            if attempt == _ATTEMPTS:
                raise
    summary.imported += outcome.imported
    summary.present += outcome.present
    for rejection in outcome.rejected:
        summary.reject([rejection])


def _described(city: City) -> str:
    return f"{city.name} ({city.country_code}), city {city.id}"


class _CityImporter(_Importer[CityRow]):
    tables = (City.__tablename__, OUTBOX.name)

    def check(self, row: Row) -> CityRow | list[Rejection]:
        return city_row(row)

    def keys(self, row: CityRow) -> Iterable[tuple[str, str, object]]:
        yield "name", "city", (row.body.country_code, row.name_key)
        if row.body.external_id:
            yield "external_id", "external_id", row.body.external_id
        if row.id:
            yield "id", "id", row.id

    async def write(self, session: AsyncSession, rows: list[CityRow]) -> _Outcome:
        outcome = _Outcome()
        by_name = {
            (city.country_code, city.name_key): city
            for city in await _all(session, City, City.name_key, {row.name_key for row in rows})
        }
        external_ids = {row.body.external_id for row in rows if row.body.external_id}
        by_external_id = {
            city.external_id: city
            for city in await _all(session, City, City.external_id, external_ids)
        }
        ids = {row.id for row in rows if row.id}
        by_id = {city.id: city for city in await _all(session, City, City.id, ids)}
        new = []
        for row in rows:
            named = by_name.get((row.body.country_code, row.name_key))
            identified = by_external_id.get(row.body.external_id)
            same_id = by_id.get(row.id)
            existing = named or identified
            if named and identified and named.id != identified.id:
                reason = f"{row.body.external_id} identifies {_described(identified)}, but "
                reason += f"{row.body.name} is {_described(named)}"
                outcome.rejected.append(Rejection(row.line, "external_id", reason))
            elif same_id and (existing is None or same_id.id != existing.id):
                reason = f"this id belongs to {_described(same_id)}"
                outcome.rejected.append(Rejection(row.line, "id", reason))
            elif existing:
                outcome.present += 1  # the duplicate rule of the API: not registered twice
            else:
                # As the API stores it: the validated body, its name key, who registered it.
                city = City(
                    **row.body.model_dump(mode="json"),
                    name_key=row.name_key,
                    registered_by=self.subject,
                )
                if row.id:
                    city.id = row.id
                new.append(city)
        session.add_all(new)
        await session.flush()
        await record_events(
            session, [(CITY_REGISTERED, city.id, city_registered(city)) for city in new]
        )
        outcome.imported = len(new)
        return outcome


class _ItemImporter(_Importer[ItemRow]):
    tables = (NeedOffer.__tablename__, ImportRef.__tablename__, OUTBOX.name)

    def __init__(self, subject: str, kind: Kind) -> None:
        super().__init__(subject)
        self.kind = kind

    def check(self, row: Row) -> ItemRow | list[Rejection]:
        return item_row(row)

    def keys(self, row: ItemRow) -> Iterable[tuple[str, str, object]]:
        yield "external_ref", "external_ref", row.external_ref
        if row.id:
            yield "id", "id", row.id

    async def write(self, session: AsyncSession, rows: list[ItemRow]) -> _Outcome:
        outcome = _Outcome()
        refs = {row.external_ref for row in rows}
        imported = {
            ref.external_ref
            for ref in await _all(
                session, ImportRef, ImportRef.external_ref, refs, ImportRef.kind == self.kind
            )
        }
        ids = {row.id for row in rows if row.id}
        kinds = {item.id: item.kind for item in await _all(session, NeedOffer, NeedOffer.id, ids)}
        city_ids = {row.city_id for row in rows if row.city_id}
        cities = {city.id: city for city in await _all(session, City, City.id, city_ids)}
        name_keys = {row.city_name[1] for row in rows if row.city_name}
        named = {
            (city.country_code, city.name_key): city
            for city in await _all(session, City, City.name_key, name_keys)
        }
        new: list[tuple[NeedOffer, ItemRow]] = []
        for row in rows:
            if row.external_ref in imported or kinds.get(row.id) is self.kind:
                outcome.present += 1
                continue
            city, rejection = self._city(row, cities, named)
            if row.id in kinds:
                other = "an offer" if kinds[row.id] is Kind.OFFER else "a need"
                rejection = Rejection(row.line, "id", f"this id belongs to {other}")
            elif row.status not in (None, Status.OPEN):
                rejection = Rejection(
                    row.line,
                    "status",
                    f"only an open {self.kind} can be imported; this one is {row.status}",
                )
            if rejection or city is None:
                outcome.rejected.append(rejection or Rejection(row.line, "city_id", "no city"))
                continue
            item = NeedOffer(kind=self.kind, city_id=city.id)
            if row.id:
                item.id = row.id
            item.set_fields(row.body)
            new.append((item, row))
        if not new:
            return outcome
        session.add_all([item for item, _ in new])
        await session.flush()
        # The revision and the event of each publication, as the API's `_record` writes them,
        # for the whole batch at once (rows rather than objects: a third of the time).
        now = utcnow()
        revisions = [
            {
                "item_id": item.id,
                "action": Action.PUBLISHED,
                "actor": self.subject,
                "at": now,
                "changes": items_domain.changes({}, row.body.model_dump(mode="json")),
            }
            for item, row in new
        ]
        await session.exec(insert(NeedOfferRevision), params=revisions)
        refs = [
            {
                "kind": self.kind.value,
                "external_ref": row.external_ref,
                "item_id": item.id,
                "imported_at": now,
                "imported_by": self.subject,
            }
            for item, row in new
        ]
        await session.exec(insert(ImportRef), params=refs)
        spec = EVENTS_BY_KIND[self.kind].published
        await record_events(
            session, [(spec, item.id, need_or_offer(spec, item)) for item, _ in new]
        )
        outcome.imported = len(new)
        return outcome

    def _city(
        self,
        row: ItemRow,
        cities: dict[uuid.UUID, City],
        named: dict[tuple[str, str], City],
    ) -> tuple[City | None, Rejection | None]:
        by_id = cities.get(row.city_id) if row.city_id else None
        if row.city_id and by_id is None:
            return None, Rejection(row.line, "city_id", f"no city with id {row.city_id}")
        if row.city_name is None:
            return by_id, None
        country, key, name = row.city_name
        by_name = named.get((country, key))
        if by_name is None:
            reason = f"no city named {name!r} in {country}: register it first (import cities)"
            return None, Rejection(row.line, "city_name", reason)
        if by_id and by_id.id != by_name.id:
            reason = f"city {by_id.id} is {by_id.name} ({by_id.country_code}), not {name}"
            return None, Rejection(row.line, "city_id", reason)
        return by_name, None


async def _all(
    session: AsyncSession, table: type[T], column: Any, values: set[Any], *where: Any
) -> list[T]:
    """The rows of `table` whose `column` is one of `values` (and `where`)."""
    if not values:
        return []
    statement = select(table).where(col(column).in_(values), *where)
    return list((await session.exec(statement)).all())
