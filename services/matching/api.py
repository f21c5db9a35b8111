"""Matching HTTP routes: its read model of cities, and agreements.

Who may do what is decided in `domain` from the caller's token: a city officer proposes, accepts
and lists for their own cities only; an agreement is visible only to its parties' officers and to
platform administrators, and to anyone else it does not exist (404, not 403)."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import domain, partners, suggestions
from services.matching.models import (
    AcceptanceCreate,
    Agreement,
    AgreementCreate,
    AgreementParty,
    AgreementPublic,
    ComponentPublic,
    FitPublic,
    KnownCity,
    KnownCityPublic,
    PartyPublic,
    SuggestionPublic,
)
from shared.auth import Caller, CityOfficer, Principal, Role, allow
from shared.contracts.matching import (
    AGREEMENT_ACCEPTED,
    AGREEMENT_PROPOSED,
    AgreementAccepted,
    AgreementProposed,
)
from shared.db import utcnow
from shared.errors import NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.outbox import record_event
from shared.service import SessionDep

router = APIRouter()

Overseer = Annotated[Principal, Depends(allow(Role.CITY_OFFICER, Role.PLATFORM_ADMIN))]


@router.get("/cities/{city_id}", response_model=KnownCityPublic, tags=["read model"])
async def get_known_city(city_id: uuid.UUID, session: SessionDep, _caller: Caller) -> KnownCity:
    city = await session.get(KnownCity, city_id)
    if city is None:
        raise NotFound(f"matching does not know city {city_id} (yet)")
    return city


async def _parties(session: AsyncSession, agreement_id: uuid.UUID) -> list[AgreementParty]:
    return list(
        (
            await session.exec(
                select(AgreementParty)
                .where(AgreementParty.agreement_id == agreement_id)
                .order_by(col(AgreementParty.city_id))
            )
        ).all()
    )


def _public(agreement: Agreement, parties: list[AgreementParty]) -> AgreementPublic:
    return AgreementPublic.model_validate(
        agreement, update={"parties": [PartyPublic.model_validate(p) for p in parties]}
    )


async def _agreement_public(session: AsyncSession, agreement: Agreement) -> AgreementPublic:
    return _public(agreement, await _parties(session, agreement.id))


async def _load_visible_agreement(
    session: AsyncSession,
    principal: Principal,
    agreement_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> tuple[Agreement, list[AgreementParty]]:
    # Locked when it is about to change, so that two parties accepting at once cannot both
    # believe the other is still to accept.
    agreement = await session.get(Agreement, agreement_id, with_for_update=for_update)
    parties = await _parties(session, agreement_id) if agreement else []
    # One answer for "no such agreement" and "not yours": ids must not be probed (OWASP API1).
    if agreement is None or not domain.may_see(principal, (p.city_id for p in parties)):
        raise NotFound(f"no agreement with id {agreement_id}")
    return agreement, parties


@router.post("/agreements", status_code=201, response_model=AgreementPublic, tags=["agreements"])
async def propose_agreement(
    body: AgreementCreate,
    session: SessionDep,
    request: Request,
    officer: CityOfficer,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """The caller must act for the proposing city; proposing is that city's acceptance."""
    # Before the idempotent replay too, so a stored answer is replayed only to the proposer's side.
    domain.check_acts_for(officer, body.proposed_by_city_id)

    async def propose() -> AgreementPublic:
        known = set(
            (
                await session.exec(
                    select(KnownCity.id).where(col(KnownCity.id).in_(body.party_city_ids))
                )
            ).all()
        )
        domain.check_proposal(body.kind, body.party_city_ids, body.proposed_by_city_id, known)
        agreement = Agreement(
            title=body.title, kind=body.kind, proposed_by_city_id=body.proposed_by_city_id
        )
        session.add(agreement)
        for city_id in body.party_city_ids:
            # Proposing is the proposer's acceptance: it is its own proposal.
            accepted_at = agreement.proposed_at if city_id == body.proposed_by_city_id else None
            session.add(
                AgreementParty(agreement_id=agreement.id, city_id=city_id, accepted_at=accepted_at)
            )
        await session.flush()
        await record_event(
            session,
            AGREEMENT_PROPOSED,
            agreement.id,
            AgreementProposed(
                agreement_id=agreement.id,
                title=agreement.title,
                kind=agreement.kind,
                party_city_ids=body.party_city_ids,
                proposed_by_city_id=body.proposed_by_city_id,
            ),
        )
        return await _agreement_public(session, agreement)

    return await idempotent(session, request, idempotency_key, body, propose)


@router.post(
    "/agreements/{agreement_id}/acceptances", response_model=AgreementPublic, tags=["agreements"]
)
async def accept_agreement(
    agreement_id: uuid.UUID, body: AcceptanceCreate, session: SessionDep, officer: CityOfficer
) -> AgreementPublic:
    """The caller accepts for a city they act for. Idempotent by design: a party that already
    accepted gets the agreement back unchanged."""
    # Checked before the agreement is read, so a 403 says nothing about whether it exists.
    domain.check_acts_for(officer, body.city_id)
    agreement, loaded = await _load_visible_agreement(
        session, officer, agreement_id, for_update=True
    )
    parties = {party.city_id: party for party in loaded}
    acceptance = domain.accept(
        agreement.status,
        {city_id: party.accepted_at is not None for city_id, party in parties.items()},
        body.city_id,
    )
    if acceptance.newly_accepted:
        parties[body.city_id].accepted_at = utcnow()
        session.add(parties[body.city_id])
        if acceptance.all_accepted:
            agreement.status = domain.AgreementStatus.ACCEPTED
            session.add(agreement)
        await record_event(
            session,
            AGREEMENT_ACCEPTED,
            agreement.id,
            AgreementAccepted(
                agreement_id=agreement.id,
                title=agreement.title,
                city_id=body.city_id,
                party_city_ids=sorted(parties),
                all_parties_accepted=acceptance.all_accepted,
            ),
        )
        await session.commit()
    return await _agreement_public(session, agreement)


@router.get("/agreements/{agreement_id}", response_model=AgreementPublic, tags=["agreements"])
async def get_agreement(
    agreement_id: uuid.UUID, session: SessionDep, caller: Caller
) -> AgreementPublic:
    """Visible to the officers of its parties and to platform administrators only."""
    return _public(*await _load_visible_agreement(session, caller, agreement_id))


@router.get("/agreements", response_model=list[AgreementPublic], tags=["agreements"])
async def list_agreements(
    session: SessionDep,
    caller: Overseer,
    city_id: Annotated[uuid.UUID, Query(description="agreements this city is a party to")],
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[AgreementPublic]:
    """A city officer lists their own city's agreements; a platform administrator any city's."""
    domain.check_oversees(caller, city_id)
    agreements = (
        await session.exec(
            select(Agreement)
            .join(AgreementParty, col(AgreementParty.agreement_id) == col(Agreement.id))
            .where(AgreementParty.city_id == city_id)
            .order_by(col(Agreement.proposed_at).desc())
            .limit(limit)
        )
    ).all()
    return [await _agreement_public(session, agreement) for agreement in agreements]


def _fits(fits: tuple[suggestions.Fit, ...]) -> list[FitPublic]:
    return [
        FitPublic(
            domain=f.need.domain,
            need_id=f.need.id,
            need_title=f.need.title,
            offer_id=f.offer.id,
            offer_title=f.offer.title,
        )
        for f in fits
    ]


@router.get(
    "/cities/{city_id}/suggestions",
    response_model=list[SuggestionPublic],
    tags=["suggestions"],
    responses={
        409: {"description": "the city is in a conflict zone where the preconditions do not hold"}
    },
)
async def suggest_partners(
    city_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: Overseer,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[SuggestionPublic]:
    """The best partners for this city, best first, each with the reason of every component.
    Asked by the city itself (its officers): city diplomacy is demand-driven, never imposed."""
    domain.check_oversees(principal, city_id)
    city = await session.get(KnownCity, city_id)
    if city is None:
        raise NotFound(f"matching does not know city {city_id} (yet)")
    partners.check_may_ask(city)
    us, cities, needs, offers = await partners.load(session, city_id)
    weights = request.app.state.runtime.settings.suggestion_weights
    return [
        SuggestionPublic(
            partner=KnownCityPublic(
                id=s.partner.id, name=s.partner.name, country_code=s.partner.country_code
            ),
            score=s.score,
            components=[ComponentPublic(**vars(c)) for c in s.components],
            they_help_us=_fits(s.they_help_us),
            we_help_them=_fits(s.we_help_them),
        )
        for s in suggestions.suggest(us, cities, needs, offers, weights, limit)
    ]
