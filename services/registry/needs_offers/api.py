"""Routes of needs and offers, and of the domain taxonomy.

Needs and offers share one set of route functions: `_routes(kind)` registers them under
/needs and /offers. Anyone signed in may read them (finding a partner is the point); only the
city's own officers publish, change or withdraw them. Every change appends a revision and records
its event in the same transaction."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import AfterValidator
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.registry import domain as registry_domain
from services.registry import events, search
from services.registry.events import EVENTS_BY_KIND
from services.registry.models import City
from services.registry.needs_offers import domain
from services.registry.needs_offers.domain import Action, Kind, Status
from services.registry.needs_offers.models import (
    DomainPublic,
    NeedOffer,
    NeedOfferCreate,
    NeedOfferFields,
    NeedOfferPage,
    NeedOfferPublic,
    NeedOfferRevision,
    NeedOfferUpdate,
    RevisionPublic,
)
from services.registry.needs_offers.taxonomy import TAXONOMY, LabelLanguage
from services.registry.search import NeedOfferSort
from shared.auth import Caller, Principal, Public, Role, allow
from shared.contracts import EventSpec
from shared.db import read_only, utcnow
from shared.errors import NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.outbox import record_event
from shared.service import SessionDep

router = APIRouter()

Officer = Annotated[Principal, Depends(allow(Role.CITY_OFFICER))]

# Search filters, checked as the request arrives: a bad value is a 422 that names it.
CountryCode = Annotated[str, AfterValidator(registry_domain.country_code)]
LanguageCode = Annotated[str, AfterValidator(domain.language_code)]
DomainCode = Annotated[str, AfterValidator(domain.domain_code)]


@router.get("/domains", response_model=list[DomainPublic], tags=["taxonomy"])
async def list_domains(
    _public: Public,
    lang: Annotated[LabelLanguage | None, Query(description="only this language's label")] = None,
) -> list[DomainPublic]:
    """The domains a need or an offer can be in, with their stable codes and labels."""
    return [
        DomainPublic(
            code=entry.code,
            labels={
                str(language): label
                for language, label in entry.labels.items()
                if lang is None or language == lang
            },
        )
        for entry in TAXONOMY
    ]


async def _record(
    session: AsyncSession,
    spec: EventSpec,
    item: NeedOffer,
    action: Action,
    actor: str,
    changes: dict[str, dict[str, object]],
    **extra: object,
) -> None:
    """The revision and the event of one change, in the caller's transaction."""
    session.add(NeedOfferRevision(item_id=item.id, action=action, actor=actor, changes=changes))
    await session.flush()
    await record_event(session, spec, item.id, events.need_or_offer(spec, item, **extra))


async def _city_exists(session: AsyncSession, city_id: uuid.UUID) -> None:
    if await session.get(City, city_id) is None:
        raise NotFound(f"no city with id {city_id}")


def _routes(kind: Kind) -> APIRouter:
    routes = APIRouter(tags=[kind.plural])
    kind_events = EVENTS_BY_KIND[kind]
    item_path = f"/{kind.plural}/{{{kind}_id}}"
    ItemId = Annotated[uuid.UUID, Path(alias=f"{kind}_id")]

    async def load(
        session: AsyncSession, item_id: uuid.UUID, for_update: bool = False
    ) -> NeedOffer:
        # Locked when it is about to change, so two concurrent changes cannot both start from
        # the same state.
        item = await session.get(NeedOffer, item_id, with_for_update=for_update)
        if item is None or item.kind is not kind:
            raise NotFound(f"no {kind} with id {item_id}")
        return item

    @routes.post(
        f"/cities/{{city_id}}/{kind.plural}",
        name=f"publish_{kind}",
        summary=f"Publish a {kind} of the city",
        status_code=201,
        response_model=NeedOfferPublic,
    )
    async def publish(
        city_id: uuid.UUID,
        body: NeedOfferCreate,
        session: SessionDep,
        request: Request,
        officer: Officer,
        idempotency_key: IdempotencyKeyHeader = None,
    ) -> JSONResponse:
        # Before the idempotent replay too, so a stored answer goes only to the city's officers.
        domain.check_acts_for(officer, city_id)
        await _city_exists(session, city_id)

        async def create() -> NeedOfferPublic:
            item = NeedOffer(kind=kind, city_id=city_id)
            item.set_fields(body)
            session.add(item)
            changes = domain.changes({}, body.model_dump(mode="json"))
            await _record(
                session, kind_events.published, item, Action.PUBLISHED, officer.subject, changes
            )
            return NeedOfferPublic.of(item)

        return await idempotent(session, request, idempotency_key, body, create)

    @routes.get(
        f"/{kind.plural}",
        name=f"search_{kind.plural}",
        summary=f"Search the {kind.plural} of every city",
        response_model=NeedOfferPage,
        responses={
            422: {"description": "a filter or the sort is not understood; the message says which"}
        },
    )
    async def search_all(
        session: SessionDep,
        _caller: Caller,
        domain_: Annotated[
            DomainCode | None, Query(alias="domain", description="a code from GET /domains")
        ] = None,
        language: Annotated[
            LanguageCode | None,
            Query(description=f"a working language of the {kind}, ISO 639 (e.g. 'fr')"),
        ] = None,
        country: Annotated[
            list[CountryCode] | None,
            Query(
                description="the publishing city's country, ISO 3166-1 alpha-2; repeat it for "
                "any of several"
            ),
        ] = None,
        ldc: Annotated[
            bool | None,
            Query(description="true: of cities in least developed countries; false: the others"),
        ] = None,
        status: Annotated[
            list[Status] | None,
            Query(description="repeat it for any of several; open when left out"),
        ] = None,
        city_id: Annotated[uuid.UUID | None, Query(description="of this city only")] = None,
        q: Annotated[
            str | None,
            Query(max_length=200, description="free text found in the title or the description"),
        ] = None,
        sort: Annotated[
            NeedOfferSort, Query(description="'-' in front: descending")
        ] = NeedOfferSort.PUBLISHED_AT_DESC,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> NeedOfferPage:
        """Those that meet every filter given, a page at a time, with how many meet them in
        all; newest first unless sorted otherwise. Case is ignored in `q`."""
        await read_only(session)  # a search must not take, or queue for, the write lock
        filters = search.NeedOfferFilters(
            statuses=status or (Status.OPEN,),
            domain=domain_,
            language=language,
            countries=country or (),
            ldc=ldc,
            city_id=city_id,
            q=q,
        )
        items, total = await search.page(
            session,
            NeedOffer,
            search.need_offer_conditions(kind, filters),
            search.need_offer_order(sort),
            limit,
            offset,
        )
        return NeedOfferPage(
            items=[NeedOfferPublic.of(item) for item in items],
            total=total,
            limit=limit,
            offset=offset,
        )

    @routes.get(item_path, name=f"get_{kind}", response_model=NeedOfferPublic)
    async def get(item_id: ItemId, session: SessionDep, _caller: Caller) -> NeedOfferPublic:
        return NeedOfferPublic.of(await load(session, item_id))

    @routes.get(
        f"/cities/{{city_id}}/{kind.plural}",
        name=f"list_{kind.plural}",
        summary=f"The city's {kind.plural}, newest first",
        response_model=NeedOfferPage,
    )
    async def list_of_city(
        city_id: uuid.UUID,
        session: SessionDep,
        _caller: Caller,
        status: Status | None = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 50,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> NeedOfferPage:
        await _city_exists(session, city_id)
        conditions = [NeedOffer.city_id == city_id, NeedOffer.kind == kind]
        if status is not None:
            conditions.append(NeedOffer.status == status)
        total = (
            await session.exec(select(func.count()).select_from(NeedOffer).where(*conditions))
        ).one()
        items = (
            await session.exec(
                select(NeedOffer)
                .where(*conditions)
                .order_by(col(NeedOffer.published_at).desc(), col(NeedOffer.id))
                .limit(limit)
                .offset(offset)
            )
        ).all()
        return NeedOfferPage(
            items=[NeedOfferPublic.of(item) for item in items],
            total=total,
            limit=limit,
            offset=offset,
        )

    @routes.patch(
        item_path,
        name=f"update_{kind}",
        summary=f"Change an open {kind}",
        response_model=NeedOfferPublic,
        responses={409: {"description": f"the {kind} is no longer open; the message says why"}},
    )
    async def update(
        item_id: ItemId, body: NeedOfferUpdate, session: SessionDep, officer: Officer
    ) -> NeedOfferPublic:
        """Only the fields sent change; sending what is already there changes nothing."""
        item = await load(session, item_id, for_update=True)
        domain.check_acts_for(officer, item.city_id)
        domain.check_changeable(kind, item.status)
        before = item.fields()
        after = NeedOfferFields.model_validate(
            {**before.model_dump(), **body.model_dump(exclude_unset=True)}
        )
        changes = domain.changes(before.model_dump(mode="json"), after.model_dump(mode="json"))
        if changes:
            item.set_fields(after)
            item.updated_at = utcnow()
            session.add(item)
            await _record(
                session,
                kind_events.updated,
                item,
                Action.UPDATED,
                officer.subject,
                changes,
                changed=sorted(changes),
            )
            await session.commit()
        return NeedOfferPublic.of(item)

    @routes.post(
        f"{item_path}/withdrawal",
        name=f"withdraw_{kind}",
        summary=f"Withdraw a {kind}; it stays on record",
        response_model=NeedOfferPublic,
    )
    async def withdraw(item_id: ItemId, session: SessionDep, officer: Officer) -> NeedOfferPublic:
        """Idempotent: withdrawing again changes nothing and records no second event."""
        item = await load(session, item_id, for_update=True)
        domain.check_acts_for(officer, item.city_id)
        if domain.withdrawal_changes(item.status):
            changes = domain.changes(
                {"status": item.status.value}, {"status": Status.WITHDRAWN.value}
            )
            item.status, item.withdrawn_at = Status.WITHDRAWN, utcnow()
            session.add(item)
            await _record(
                session,
                kind_events.withdrawn,
                item,
                Action.WITHDRAWN,
                officer.subject,
                changes,
                withdrawn_at=item.withdrawn_at,
            )
            await session.commit()
        return NeedOfferPublic.of(item)

    @routes.get(
        f"{item_path}/history",
        name=f"{kind}_history",
        summary=f"Every change of the {kind}, oldest first",
        response_model=list[RevisionPublic],
    )
    async def history(
        item_id: ItemId, session: SessionDep, _caller: Caller
    ) -> list[RevisionPublic]:
        await load(session, item_id)
        revisions = (
            await session.exec(
                select(NeedOfferRevision)
                .where(NeedOfferRevision.item_id == item_id)
                .order_by(col(NeedOfferRevision.seq))
            )
        ).all()
        return [RevisionPublic.model_validate(revision) for revision in revisions]

    return routes


for _kind in Kind:
    router.include_router(_routes(_kind))
