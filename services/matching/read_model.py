"""Matching's read model of the registry: cities, needs and offers, conflict profiles, readiness
for city diplomacy, networks and memberships, built only from `registry.events` (nothing on the
hot path asks the registry), and rebuildable from scratch by replaying that topic.

The rules every handler here follows:

- **Idempotent and order-tolerant.** Each row keeps `version`, the envelope `time` of the last
  event applied to it (the registry stamps it when it records the event, in the transaction
  that makes the change). An event older than the row's version is not applied; one as new or
  newer is (at equal times the later arrival wins: one aggregate's events arrive in the order
  they were published). A city keeps a version per field (and per group: "verified",
  "conflict", "readiness"), because CityUpdated carries only the fields it changed: an older
  update is still applied to a field that no newer event has set. A redelivered event is
  skipped by the inbox; one replayed after the inbox forgot it (retention, a replayed
  dead letter) finds newer versions and changes nothing.
- **Held, not dropped.** An event about a city matching does not know yet (NeedPublished or a
  membership overtaking CityRegistered: they have other keys, hence other partitions) is stored
  in `pending_events` and applied in the transaction that applies the city's CityRegistered.
  Holding is not an error, so nothing is retried or dead-lettered. On PostgreSQL a
  transaction-scoped advisory lock per city orders "hold" against "register", so that a held
  event cannot slip in just after the registration looked for held events (SQLite already runs
  one writer at a time).
- **Reacting.** A withdrawn need or offer, and a city's escalation to active conflict, change
  agreements and expressions of interest in the same transaction (`services.matching.reactions`,
  idempotent like the rest: a replay finds nothing left to change).
- **Rebuildable.** `clear_read_model` empties the read-model tables and the matching consumer's
  inbox rows (agreements are matching's own data and stay). With the consumer group's offsets
  then reset to the earliest, every registry event is delivered again and the same rows are
  built. Run it with the matching instances stopped:

      python -m services.matching.read_model --clear      # MATCHING_DATABASE_URL as the service
      kafka-consumer-groups --bootstrap-server <broker> --group matching \\
          --topic registry.events --reset-offsets --to-earliest --execute
      # then start matching again: it replays registry.events and rebuilds the read model

  (or start matching with another consumer group id instead of resetting the offsets). A change
  to the read-model tables is a migration like any other (`make migration SERVICE=matching`).
  The topic must keep every event for a rebuild to be complete (`retention.ms=-1` on
  `registry.events`).
"""

import argparse
import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import delete, text
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import reactions
from services.matching.models import (
    READ_MODEL_TABLES,
    ItemKind,
    KnownCity,
    KnownMembership,
    KnownNeedOffer,
    KnownNetwork,
    PendingEvent,
)
from shared.contracts import EventSpec
from shared.contracts.registry.cities import (
    CITY_UPDATED,
    CITY_VERIFIED,
    CityRegistered,
    CityUpdated,
    CityVerified,
)
from shared.contracts.registry.conflict import (
    CONFLICT_PROFILE_ASSESSED,
    DIPLOMACY_READINESS_STATED,
    ConflictProfileAssessed,
    DiplomacyReadinessStated,
)
from shared.contracts.registry.needs_offers import (
    NEED_PUBLISHED,
    NEED_UPDATED,
    NEED_WITHDRAWN,
    OFFER_PUBLISHED,
    OFFER_UPDATED,
    OFFER_WITHDRAWN,
)
from shared.contracts.registry.networks import (
    NETWORK_MEMBERSHIP_CHANGED,
    MembershipChange,
    NetworkMembershipChanged,
    NetworkRegistered,
)
from shared.events import Event, MalformedEvent, decode, encode
from shared.inbox import INBOX, Handler

log = logging.getLogger(__name__)

CONSUMER = "matching"  # the consumer (and consumer group) name: the service's name

# The city's fields a registry event sets, each versioned on its own.
REGISTERED_FIELDS = (
    "name",
    "country_code",
    "region",
    "population",
    "latitude",
    "longitude",
    "official_languages",
    "is_ldc",
    "external_id",
)
# Of them, those CityUpdated may name in `changed` (it may also name "contacts": not kept here).
UPDATABLE_FIELDS = frozenset(
    {"region", "population", "latitude", "longitude", "official_languages", "external_id"}
)

# --- Pure rules ------------------------------------------------------------------------------


def is_current(version: datetime | None, time: datetime) -> bool:
    """Whether an event of `time` may be applied over a state of `version` (None: no state)."""
    return version is None or time >= version


def plan_city_changes(
    field_versions: Mapping[str, str], time: datetime, groups: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """What an event of `time` changes on a city: `groups` maps a versioned group (often one
    field) to the column values the event gives it. Returns the column values to set, those of
    the groups no newer event set, and the field versions afterwards."""
    updates: dict[str, Any] = {}
    versions = dict(field_versions)
    for group, values in groups.items():
        known = versions.get(group)
        if is_current(datetime.fromisoformat(known) if known else None, time):
            updates.update(values)
            versions[group] = time.isoformat()
    return updates, versions


def city_update_values(p: CityUpdated) -> dict[str, Any]:
    """The profile fields a CityUpdated changed, with their new values (null: cleared)."""
    values = {name: getattr(p, name) for name in p.changed if name in UPDATABLE_FIELDS}
    if "official_languages" in values:
        values["official_languages"] = list(values["official_languages"] or [])
    return values


# --- Applying events -------------------------------------------------------------------------

Applier = Callable[[AsyncSession, Event, Any], Awaitable[None]]

# Event type -> how to apply it once its city is known: what releasing held events runs.
_APPLY_WHEN_CITY_KNOWN: dict[str, tuple[EventSpec, Applier]] = {}


async def _lock_city(session: AsyncSession, city_id: uuid.UUID) -> None:
    """Orders holding an event for a city against registering that city (PostgreSQL; SQLite
    transactions already run one at a time)."""
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        key = int.from_bytes(city_id.bytes[:8], "big", signed=True)
        await session.exec(text("SELECT pg_advisory_xact_lock(:key)").bindparams(key=key))


async def _hold_unless_known(session: AsyncSession, event: Event, city_id: uuid.UUID) -> bool:
    """True if the city is unknown, the event then being held until it registers."""
    if await session.get(KnownCity, city_id) is not None:
        return False
    await _lock_city(session, city_id)
    # Again under the lock: a registration that committed meanwhile is seen now.
    if await session.get(KnownCity, city_id) is not None:
        return False
    if await session.get(PendingEvent, event.id) is None:
        session.add(
            PendingEvent(
                event_id=event.id,
                event_type=event.type,
                city_id=city_id,
                event_time=event.time,
                envelope=encode(event).value.decode("utf-8"),
            )
        )
    log.info(
        "event held until its city is known",
        extra={"event_type": event.type, "event_id": event.id, "city_id": str(city_id)},
    )
    return True


def _city_bound(spec: EventSpec) -> Callable[[Applier], Handler]:
    """The handler of `spec`, an event about a city: applied if the city is known, else held."""

    def register(apply: Applier) -> Handler:
        _APPLY_WHEN_CITY_KNOWN[spec.type] = (spec, apply)

        async def handle(session: AsyncSession, event: Event, payload: Any) -> None:
            if not await _hold_unless_known(session, event, payload.city_id):
                await apply(session, event, payload)

        handle.__name__ = handle.__qualname__ = f"on_{spec.type}"
        return handle

    return register


async def _release_held(session: AsyncSession, city_id: uuid.UUID) -> None:
    held = (
        await session.exec(
            select(PendingEvent)
            .where(col(PendingEvent.city_id) == city_id)
            .order_by(col(PendingEvent.event_time), col(PendingEvent.event_id))
        )
    ).all()
    for row in held:
        try:
            event = decode(row.envelope.encode("utf-8"))
            spec, apply = _APPLY_WHEN_CITY_KNOWN[row.event_type]
            payload = event.payload(spec)
        except (MalformedEvent, KeyError, ValidationError):
            # Validated when it was held, so only a later version of this code can get here:
            # it stays held, for someone to look at, rather than block the city's registration.
            log.exception("a held event cannot be read any more", extra={"event_id": row.event_id})
            continue
        await apply(session, event, payload)
        await session.delete(row)
        log.info("held event applied", extra={"event_type": row.event_type, "event_id": event.id})


def _set_city(city: KnownCity, event: Event, groups: Mapping[str, Mapping[str, Any]]) -> None:
    updates, versions = plan_city_changes(city.field_versions, event.time, groups)
    for name, value in updates.items():
        setattr(city, name, value)
    city.field_versions = versions  # a new dict, so that the JSON column is seen as changed
    city.version = max(city.version, event.time)


async def on_city_registered(session: AsyncSession, event: Event, p: CityRegistered) -> None:
    await _lock_city(session, p.city_id)
    city = await session.get(KnownCity, p.city_id)
    if city is None:
        city = KnownCity(
            id=p.city_id,
            name=p.name,
            country_code=p.country_code,
            known_since=event.time,
            version=event.time,
        )
    values = p.model_dump(include=set(REGISTERED_FIELDS))
    values["official_languages"] = list(p.official_languages)
    _set_city(city, event, {name: {name: value} for name, value in values.items()})
    city.known_since = min(city.known_since, event.time)
    session.add(city)
    await session.flush()
    await _release_held(session, p.city_id)


async def _known_city(session: AsyncSession, city_id: uuid.UUID) -> KnownCity:
    city = await session.get(KnownCity, city_id)
    assert city is not None, "checked by _city_bound"
    return city


@_city_bound(CITY_UPDATED)
async def on_city_updated(session: AsyncSession, event: Event, p: CityUpdated) -> None:
    city = await _known_city(session, p.city_id)
    values = city_update_values(p)
    _set_city(city, event, {name: {name: value} for name, value in values.items()})
    session.add(city)


@_city_bound(CITY_VERIFIED)
async def on_city_verified(session: AsyncSession, event: Event, p: CityVerified) -> None:
    city = await _known_city(session, p.city_id)
    _set_city(city, event, {"verified": {"verified": True, "verified_at": event.time}})
    session.add(city)


@_city_bound(CONFLICT_PROFILE_ASSESSED)
async def on_conflict_profile_assessed(
    session: AsyncSession, event: Event, p: ConflictProfileAssessed
) -> None:
    city = await _known_city(session, p.city_id)
    was_in_active_conflict = reactions.in_active_conflict(city.conflict_zone, city.conflict_phase)
    assessment = {
        "conflict_zone": p.zone,
        "conflict_phase": p.phase,
        "preconditions_hold": p.preconditions_hold,
        "missing_preconditions": p.missing_preconditions,
        "conflict_assessment_id": p.assessment_id,
        "conflict_assessed_at": p.assessed_at,
    }
    _set_city(city, event, {"conflict": assessment})
    session.add(city)
    await reactions.on_conflict_assessed(
        session, city, was_in_active_conflict=was_in_active_conflict
    )


@_city_bound(DIPLOMACY_READINESS_STATED)
async def on_diplomacy_readiness_stated(
    session: AsyncSession, event: Event, p: DiplomacyReadinessStated
) -> None:
    city = await _known_city(session, p.city_id)
    statement = {
        "commits_beyond_conflict": p.commits_beyond_conflict,
        "has_formal_policy": p.has_formal_policy,
        "readiness_stated_at": p.stated_at,
    }
    _set_city(city, event, {"readiness": statement})
    session.add(city)


def _need_or_offer(kind: ItemKind) -> Applier:
    async def apply(session: AsyncSession, event: Event, p: Any) -> None:
        item_id = p.need_id if kind is ItemKind.NEED else p.offer_id
        item = await session.get(KnownNeedOffer, item_id)
        if item is not None and not is_current(item.version, event.time):
            log.info("older event not applied", extra={"event_id": event.id})
            return
        values = p.model_dump(
            include={
                "city_id",
                "title",
                "domain",
                "capacity_staff_days",
                "capacity_partners",
                "period_start",
                "period_end",
                "status",
            }
        )
        values |= {
            "languages": list(p.languages),
            "forms": list(p.forms),
            "withdrawn_at": getattr(p, "withdrawn_at", None),
            "version": event.time,
        }
        if item is None:
            item = KnownNeedOffer(id=item_id, kind=kind, **values)
        else:
            item.sqlmodel_update(values)
        session.add(item)
        if item.status == "withdrawn":
            await reactions.on_item_withdrawn(session, item)

    return apply


_apply_need, _apply_offer = _need_or_offer(ItemKind.NEED), _need_or_offer(ItemKind.OFFER)
on_need_published = _city_bound(NEED_PUBLISHED)(_apply_need)
on_need_updated = _city_bound(NEED_UPDATED)(_apply_need)
on_need_withdrawn = _city_bound(NEED_WITHDRAWN)(_apply_need)
on_offer_published = _city_bound(OFFER_PUBLISHED)(_apply_offer)
on_offer_updated = _city_bound(OFFER_UPDATED)(_apply_offer)
on_offer_withdrawn = _city_bound(OFFER_WITHDRAWN)(_apply_offer)


async def on_network_registered(session: AsyncSession, event: Event, p: NetworkRegistered) -> None:
    network = await session.get(KnownNetwork, p.network_id)
    if network is not None and not is_current(network.version, event.time):
        return
    values = {"name": p.name, "acronym": p.acronym, "scope": p.scope.value, "version": event.time}
    if network is None:
        network = KnownNetwork(id=p.network_id, **values)
    else:
        network.sqlmodel_update(values)
    session.add(network)


@_city_bound(NETWORK_MEMBERSHIP_CHANGED)
async def on_network_membership_changed(
    session: AsyncSession, event: Event, p: NetworkMembershipChanged
) -> None:
    # The network's own events share this event's key, so NetworkRegistered came first; the
    # membership does not need it anyway.
    membership = await session.get(KnownMembership, (p.network_id, p.city_id))
    if membership is not None and not is_current(membership.version, event.time):
        return
    current = p.change is not MembershipChange.LEFT
    mandate = current and p.mandate  # leaving ends the mandate
    values = {
        "current": current,
        "mandate": mandate,
        "mandate_domains": list(p.mandate_domains) if mandate else [],
        "changed_at": p.at,
        "version": event.time,
    }
    if membership is None:
        membership = KnownMembership(network_id=p.network_id, city_id=p.city_id, **values)
    else:
        membership.sqlmodel_update(values)
    session.add(membership)


# --- Rebuilding ------------------------------------------------------------------------------


async def clear_read_model(session: AsyncSession, consumer: str = CONSUMER) -> dict[str, int]:
    """Empty the read model (held events included) and forget which events `consumer` applied,
    so that replaying the topic from the earliest offset builds it again. Agreements stay. The
    caller commits. Returns the rows deleted per table."""
    deleted: dict[str, int] = {}
    for table in READ_MODEL_TABLES:
        result = await session.exec(delete(table))
        deleted[table.__tablename__] = result.rowcount
    result = await session.exec(delete(INBOX).where(INBOX.c.consumer == consumer))
    deleted[INBOX.name] = result.rowcount
    return deleted


async def _rebuild_main() -> None:
    # Imported here: the service definition imports this module (through its handlers).
    from services.matching.app import DEFINITION
    from services.matching.settings import MatchingSettings
    from shared import migrations
    from shared.db import create_engine, session_factory

    settings = MatchingSettings()
    engine = create_engine(settings.database_url)
    try:
        await migrations.upgrade(engine, DEFINITION.name)
        async with session_factory(engine)() as session:
            deleted = await clear_read_model(session, DEFINITION.name)
            await session.commit()
    finally:
        await engine.dispose()
    print(f"matching read model cleared: {deleted}")
    print(
        f"now reset the offsets of consumer group {DEFINITION.name!r} on registry.events to the "
        "earliest (kafka-consumer-groups --reset-offsets --to-earliest --execute) and start "
        "matching: it replays the topic and rebuilds the read model"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m services.matching.read_model",
        description="Clear matching's read model and inbox, for a rebuild by replaying "
        "registry.events (stop the matching instances first).",
    )
    parser.add_argument("--clear", action="store_true", required=True, help="do clear it")
    parser.parse_args(argv)
    asyncio.run(_rebuild_main())


if __name__ == "__main__":
    main()
