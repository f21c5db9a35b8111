"""Matching's read model of the registry, built only from registry events delivered through its
inbox: every event type, duplicates, events out of order, events held until their city is
known, and a rebuild from scratch."""

import asyncio
import dataclasses
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlmodel import select

from services.matching.domain import AgreementKind
from services.matching.models import (
    READ_MODEL_TABLES,
    Agreement,
    KnownCity,
    KnownMembership,
    KnownNeedOffer,
    KnownNetwork,
)
from services.matching.read_model import clear_read_model
from shared.contracts import EventSpec
from shared.contracts.registry.cities import (
    CITY_REGISTERED,
    CITY_UPDATED,
    CITY_VERIFIED,
    CityRegistered,
    CityUpdated,
)
from shared.contracts.registry.conflict import CONFLICT_PROFILE_ASSESSED, DIPLOMACY_READINESS_STATED
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
    NETWORK_REGISTERED,
    MembershipChange,
)
from shared.events import Event, new_event
from shared.inbox import INBOX, Outcome
from tests.helpers import ServiceUnderTest

T0 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
LOME = CITY_REGISTERED.example
LYON = CityRegistered(
    city_id=OFFER_PUBLISHED.example.city_id,
    name="Lyon",
    country_code="FR",
    region="Auvergne-Rhône-Alpes",
    population=522250,
    latitude=45.764,
    longitude=4.8357,
    official_languages=["fr"],
    is_ldc=False,
)
NEED = NEED_PUBLISHED.example
OFFER = OFFER_PUBLISHED.example
ALDA = NETWORK_REGISTERED.example


def at(minute: int, spec: EventSpec, subject: object, payload: BaseModel) -> Event:
    """An event as the registry would publish it, `minute` minutes after T0."""
    return dataclasses.replace(
        new_event(spec, subject, payload), time=T0 + timedelta(minutes=minute)
    )


def for_city(spec: EventSpec, city_id: uuid.UUID, **changes: Any) -> BaseModel:
    """`spec`'s example, about `city_id`."""
    return spec.example.model_copy(update={"city_id": city_id, **changes})


def as_updated(spec: EventSpec, **fields: Any) -> BaseModel:
    """`spec`'s example with the fields its Updated example changed: each event carries the whole
    item as it stands."""
    return spec.example.model_copy(update=fields)


def membership(minute: int, city_id: uuid.UUID, change: MembershipChange, **extra: Any) -> Event:
    payload = NETWORK_MEMBERSHIP_CHANGED.example.model_copy(
        update={
            "city_id": city_id,
            "change": change,
            "mandate": False,
            "mandate_domains": [],
            "at": T0 + timedelta(minutes=minute),
            **extra,
        }
    )
    return at(minute, NETWORK_MEMBERSHIP_CHANGED, ALDA.network_id, payload)


def history() -> list[Event]:
    """A little of the registry's life, in the order it happened: one of each event type."""
    lome = LOME.city_id
    return [
        at(0, CITY_REGISTERED, lome, LOME),
        at(1, CITY_REGISTERED, LYON.city_id, LYON),
        at(2, CITY_UPDATED, lome, CityUpdated(city_id=lome, changed=["population"], population=9)),
        at(3, CITY_VERIFIED, lome, for_city(CITY_VERIFIED, lome)),
        at(4, CONFLICT_PROFILE_ASSESSED, lome, for_city(CONFLICT_PROFILE_ASSESSED, lome)),
        at(
            5,
            DIPLOMACY_READINESS_STATED,
            LYON.city_id,
            for_city(DIPLOMACY_READINESS_STATED, LYON.city_id),
        ),
        at(6, NEED_PUBLISHED, NEED.need_id, NEED),
        at(7, NEED_UPDATED, NEED.need_id, NEED_UPDATED.example),
        at(8, OFFER_PUBLISHED, OFFER.offer_id, OFFER),
        at(9, OFFER_UPDATED, OFFER.offer_id, OFFER_UPDATED.example),
        at(
            10,
            OFFER_WITHDRAWN,
            OFFER.offer_id,
            as_updated(OFFER_WITHDRAWN, languages=["fr", "en", "es"]),
        ),
        at(11, NETWORK_REGISTERED, ALDA.network_id, ALDA),
        membership(12, lome, MembershipChange.JOINED),
        membership(
            13,
            lome,
            MembershipChange.MANDATE_GRANTED,
            mandate=True,
            mandate_domains=["waste-collection"],
        ),
        membership(14, LYON.city_id, MembershipChange.JOINED),
        membership(15, LYON.city_id, MembershipChange.LEFT),
        at(16, NEED_WITHDRAWN, NEED.need_id, as_updated(NEED_WITHDRAWN, capacity_staff_days=80)),
    ]


async def rows(matching: ServiceUnderTest) -> dict[str, list[dict[str, Any]]]:
    """Every row of the read model, table by table, in a stable order."""
    async with matching.runtime.sessions() as session:
        tables = {}
        for model in READ_MODEL_TABLES:
            found = (await session.exec(select(model))).all()
            tables[model.__tablename__] = sorted(
                (row.model_dump() for row in found), key=lambda row: repr(sorted(row.items()))
            )
        return tables


async def get(matching: ServiceUnderTest, model: type, key: object) -> Any:
    async with matching.runtime.sessions() as session:
        return await session.get(model, key)


async def test_each_registry_event_updates_the_read_model(matching: ServiceUnderTest) -> None:
    events = history()
    assert await matching.deliver(*events) == [Outcome.APPLIED] * len(events)

    lome = await get(matching, KnownCity, LOME.city_id)
    assert (lome.name, lome.country_code, lome.region) == ("Lomé", "TG", "Maritime")
    assert (lome.latitude, lome.longitude, lome.official_languages) == (
        6.1375,
        1.2123,
        ["fr", "ee"],
    )
    assert (lome.is_ldc, lome.external_id) == (True, "unlocode:TGLFW")
    assert lome.population == 9  # CityUpdated, its only changed field
    assert (lome.verified, lome.verified_at) == (True, T0 + timedelta(minutes=3))
    assert (lome.conflict_zone, lome.conflict_phase, lome.preconditions_hold) == (
        "conflict_zone",
        "post_conflict",
        True,
    )
    assert lome.conflict_assessment_id == CONFLICT_PROFILE_ASSESSED.example.assessment_id
    assert lome.commits_beyond_conflict is None  # Lyon stated its readiness, not Lomé
    assert (lome.known_since, lome.version) == (T0, T0 + timedelta(minutes=4))

    lyon = await get(matching, KnownCity, LYON.city_id)
    assert (lyon.is_ldc, lyon.verified, lyon.conflict_zone) == (False, False, None)
    assert (lyon.commits_beyond_conflict, lyon.has_formal_policy) == (True, True)
    assert lyon.readiness_stated_at == DIPLOMACY_READINESS_STATED.example.stated_at

    need = await get(matching, KnownNeedOffer, NEED.need_id)
    assert (need.kind, need.city_id, need.domain, need.status) == (
        "need",
        LOME.city_id,
        "waste-collection",
        "withdrawn",
    )
    assert (need.capacity_staff_days, need.capacity_partners) == (80, 1)  # NeedUpdated
    assert (need.languages, need.forms) == (["fr", "ee"], ["training", "exchange-visits"])
    assert (need.period_start, need.period_end) == (date(2027, 2, 1), date(2027, 7, 31))
    assert need.withdrawn_at == NEED_WITHDRAWN.example.withdrawn_at
    offer = await get(matching, KnownNeedOffer, OFFER.offer_id)
    assert (offer.kind, offer.city_id, offer.status) == ("offer", LYON.city_id, "withdrawn")
    assert offer.languages == ["fr", "en", "es"]  # OfferUpdated
    assert offer.title == OFFER.title

    network = await get(matching, KnownNetwork, ALDA.network_id)
    assert (network.name, network.acronym, network.scope) == (ALDA.name, "ALDA", "regional")
    member = await get(matching, KnownMembership, (ALDA.network_id, LOME.city_id))
    assert (member.current, member.mandate, member.mandate_domains) == (
        True,
        True,
        ["waste-collection"],
    )
    former = await get(matching, KnownMembership, (ALDA.network_id, LYON.city_id))
    assert (former.current, former.mandate, former.mandate_domains) == (False, False, [])

    assert (await rows(matching))["pending_events"] == []


async def test_a_redelivered_event_has_one_effect(matching: ServiceUnderTest) -> None:
    events = history()
    await matching.deliver(*events)
    before = await rows(matching)
    assert await matching.deliver(*events) == [Outcome.DUPLICATE] * len(events)
    assert await rows(matching) == before


async def test_an_older_event_does_not_overwrite_a_newer_state(matching: ServiceUnderTest) -> None:
    lome = LOME.city_id
    older = at(
        5,
        CITY_UPDATED,
        lome,
        CityUpdated(
            city_id=lome, changed=["population", "region"], population=1_000, region="Golfe"
        ),
    )
    newer = at(
        6, CITY_UPDATED, lome, CityUpdated(city_id=lome, changed=["population"], population=2_000)
    )
    registered = at(0, CITY_REGISTERED, lome, LOME)
    assert await matching.deliver(registered, newer, older) == [Outcome.APPLIED] * 3
    city = await get(matching, KnownCity, lome)
    # The newer population stands; the older update's region, which nothing newer set, applies.
    assert (city.population, city.region, city.version) == (2_000, "Golfe", newer.time)
    # A replay of the registration (once the inbox forgot it) leaves the profile as it is.
    await matching.deliver(dataclasses.replace(registered, id=str(uuid.uuid4())))
    city = await get(matching, KnownCity, lome)
    assert (city.population, city.region, city.name) == (2_000, "Golfe", "Lomé")

    # A need withdrawn is not reopened by an older update arriving late.
    await matching.deliver(
        at(10, NEED_WITHDRAWN, NEED.need_id, NEED_WITHDRAWN.example),
        at(7, NEED_UPDATED, NEED.need_id, NEED_UPDATED.example),
    )
    need = await get(matching, KnownNeedOffer, NEED.need_id)
    assert (need.status, need.capacity_staff_days, need.version) == (
        "withdrawn",
        60,
        T0 + timedelta(minutes=10),
    )
    # Nor is a membership that ended, by an older mandate.
    await matching.deliver(
        membership(20, lome, MembershipChange.LEFT),
        membership(19, lome, MembershipChange.MANDATE_GRANTED, mandate=True),
    )
    member = await get(matching, KnownMembership, (ALDA.network_id, lome))
    assert (member.current, member.mandate) == (False, False)


async def test_events_before_their_city_are_held_then_applied(matching: ServiceUnderTest) -> None:
    lome = LOME.city_id
    early = [
        at(6, NEED_PUBLISHED, NEED.need_id, NEED),
        at(7, NEED_UPDATED, NEED.need_id, NEED_UPDATED.example),
        membership(8, lome, MembershipChange.JOINED),
    ]
    # Applied, as far as the inbox is concerned: not retried, not dead-lettered, and once only.
    assert await matching.deliver(*early, early[0]) == [Outcome.APPLIED] * 3 + [Outcome.DUPLICATE]
    held = (await rows(matching))["pending_events"]
    assert sorted((row["event_type"], row["city_id"]) for row in held) == [
        ("NeedPublished", lome),
        ("NeedUpdated", lome),
        ("NetworkMembershipChanged", lome),
    ]
    assert await get(matching, KnownNeedOffer, NEED.need_id) is None

    assert await matching.deliver(at(0, CITY_REGISTERED, lome, LOME)) == [Outcome.APPLIED]
    need = await get(matching, KnownNeedOffer, NEED.need_id)
    assert (need.status, need.capacity_staff_days, need.version) == ("open", 80, early[1].time)
    assert (await get(matching, KnownMembership, (ALDA.network_id, lome))).current is True
    assert (await rows(matching))["pending_events"] == []
    # Events arriving now that the city is known are applied at once.
    await matching.deliver(at(9, NEED_WITHDRAWN, NEED.need_id, NEED_WITHDRAWN.example))
    assert (await get(matching, KnownNeedOffer, NEED.need_id)).status == "withdrawn"


async def test_holding_and_registering_at_once_lose_nothing(matching: ServiceUnderTest) -> None:
    """Each city's need and its registration handled concurrently (on PostgreSQL, truly so): the
    need is applied either way, never left held."""
    consumer = matching.runtime.consumer
    events = []
    for n in range(12):
        city = LOME.model_copy(update={"city_id": uuid.uuid4(), "name": f"City {n}"})
        need = NEED.model_copy(update={"need_id": uuid.uuid4(), "city_id": city.city_id})
        pair = [
            at(n, NEED_PUBLISHED, need.need_id, need),
            at(n, CITY_REGISTERED, city.city_id, city),
        ]
        events += pair if n % 2 else pair[::-1]
    outcomes = await asyncio.gather(*(consumer.process(event) for event in events))
    assert set(outcomes) == {Outcome.APPLIED}
    tables = await rows(matching)
    assert tables["pending_events"] == []
    assert len(tables["known_needs_offers"]) == 12


async def test_clearing_then_replaying_rebuilds_the_same_rows(matching: ServiceUnderTest) -> None:
    events = history()
    await matching.deliver(*events)
    built = await rows(matching)
    assert all(built[table] for table in built if table != "pending_events")

    for replay in (events, events[::-1]):  # the same order, then every event out of order
        async with matching.runtime.sessions() as session:
            deleted = await clear_read_model(session)
            await session.commit()
        assert deleted["inbox"] == len(events)
        assert await rows(matching) == {table: [] for table in built}
        assert await matching.deliver(*replay) == [Outcome.APPLIED] * len(events)
        assert await rows(matching) == built


async def test_clearing_keeps_agreements_and_other_consumers_inbox(
    matching: ServiceUnderTest,
) -> None:
    await matching.deliver(
        *history()[:2],
        at(
            6,
            NEED_PUBLISHED,
            uuid.uuid4(),
            NEED_PUBLISHED.example.model_copy(update={"city_id": uuid.uuid4()}),
        ),
    )
    agreement = Agreement(
        title="Lomé–Lyon", kind=AgreementKind.BILATERAL, proposed_by_city_id=LOME.city_id
    )
    async with matching.runtime.sessions() as session:
        session.add(agreement)
        await session.exec(
            INBOX.insert().values(
                consumer="someone-else", event_id="x", event_type="X", processed_at=T0
            )
        )
        await session.commit()
    async with matching.runtime.sessions() as session:
        deleted = await clear_read_model(session)
        await session.commit()
        left = (await session.exec(select(INBOX.c.consumer))).all()
    assert deleted == {
        "known_cities": 2,
        "known_needs_offers": 0,
        "known_networks": 0,
        "known_memberships": 0,
        "pending_events": 1,
        "inbox": 3,
    }
    assert list(left) == ["someone-else"]
    assert await get(matching, Agreement, agreement.id) is not None
