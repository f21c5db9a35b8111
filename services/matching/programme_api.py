"""Routes of suggestions and programme-level matching: partner suggestions for a city,
trinnings for a city of a conflict zone, and global assignment runs for platform
administrators. Thin: the rules are in `suggestions`, `trilaterals`, `assignment`, `partners`
(loading, and city diplomacy's gate) and `voices` (who asks for a city, in which domains).

Suggestions are asked by the city itself (city diplomacy is demand-driven, never imposed): its
officers, or for a city in a conflict zone an officer of a network it mandated, who gets the
suggestions in the mandate's domains only (what the city's needs and offers in them fit);
platform administrators oversee every city."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import assignment, partners, trilaterals, voices
from services.matching.models import (
    ComponentPublic,
    FitPublic,
    KnownCity,
    KnownCityPublic,
    SuggestionPublic,
)
from services.matching.programme_models import (
    AssignmentRun,
    AssignmentRunCreate,
    AssignmentRunPublic,
    ProposalPublic,
    SidePublic,
    TrinningPublic,
    UnmatchedPublic,
)
from services.matching.suggestions import City, Component, Fit, Weights
from shared.auth import PlatformAdmin, Principal
from shared.db import utcnow
from shared.errors import NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.service import SessionDep

router = APIRouter()


def _city(city: City) -> KnownCityPublic:
    return KnownCityPublic(id=city.id, name=city.name, country_code=city.country_code)


def _components(components: tuple[Component, ...]) -> list[ComponentPublic]:
    return [ComponentPublic(**vars(c)) for c in components]


def _fits(fits: tuple[Fit, ...]) -> list[FitPublic]:
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


def _side(side: trilaterals.Side) -> SidePublic:
    cities = [_city(side.of), _city(side.to)]
    if side.suggestion is None:
        return SidePublic(
            cities=cities,
            score=0.0,
            components=[
                ComponentPublic(
                    name="domain_fit",
                    score=0.0,
                    weight=0.0,
                    explanation="no need of one meets an offer of the other",
                )
            ],
            first_helps_second=[],
            second_helps_first=[],
        )
    return SidePublic(
        cities=cities,
        score=side.score,
        components=_components(side.suggestion.components),
        first_helps_second=_fits(side.suggestion.we_help_them),
        second_helps_first=_fits(side.suggestion.they_help_us),
    )


def _trinning(t: trilaterals.Trinning) -> TrinningPublic:
    weakest = t.weakest
    return TrinningPublic(
        partner=_city(t.partner),
        helper=_city(t.helper),
        weakest_side=weakest.score,
        total=t.total,
        ranking=f"weakest side {weakest.score} ({weakest.of.name}–{weakest.to.name}), "
        f"sum of the three sides {t.total}",
        joint_domains=list(t.joint_domains),
        sides=[_side(s) for s in t.sides],
    )


def _weights(request: Request) -> Weights:
    return request.app.state.runtime.settings.suggestion_weights


async def _asking_city(
    session: AsyncSession, principal: Principal, city_id: uuid.UUID
) -> tuple[KnownCity, frozenset[str] | None]:
    """The city suggestions are asked for, and the domains the caller may ask in (None: all).
    Who may ask is checked before the city is read, so a 403 says nothing of whether it exists."""
    domains = await voices.check_oversees(session, principal, city_id)
    city = await session.get(KnownCity, city_id)
    if city is None:
        raise NotFound(f"matching does not know city {city_id} (yet)")
    return city, domains


_REFUSED: dict[int | str, dict[str, object]] = {
    403: {
        "description": "the caller speaks for another city, or is an officer of a network this "
        "city (in a conflict zone) did not mandate; the answer says which"
    },
}


@router.get(
    "/cities/{city_id}/suggestions",
    response_model=list[SuggestionPublic],
    tags=["suggestions"],
    responses={
        **_REFUSED,
        409: {"description": "the city is in a conflict zone where the preconditions do not hold"},
    },
)
async def suggest_partners(
    city_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: voices.Reader,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[SuggestionPublic]:
    """The best partners for this city, best first, each with the reason of every component.
    Asked by the city itself (its officers, or its mandated network's, within the mandate's
    domains): city diplomacy is demand-driven, never imposed."""
    city, domains = await _asking_city(session, principal, city_id)
    partners.check_may_ask(city)
    found = await partners.top_partners(session, city_id, _weights(request), limit, domains)
    return [
        SuggestionPublic(
            partner=_city(s.partner),
            score=s.score,
            components=_components(s.components),
            they_help_us=_fits(s.they_help_us),
            we_help_them=_fits(s.we_help_them),
        )
        for s in found
    ]


@router.get(
    "/cities/{city_id}/trilateral-suggestions",
    response_model=list[TrinningPublic],
    tags=["suggestions"],
    responses={
        **_REFUSED,
        409: {
            "description": "the city is not in a conflict zone, or its preconditions of city "
            "diplomacy do not hold"
        },
    },
)
async def suggest_trinnings(
    city_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: voices.Reader,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[TrinningPublic]:
    """Trilateral "trinnings" for a city of a conflict zone: another city of the same zone and a
    helping city outside it, each side scored as a partner suggestion with its reasons. Ranked
    by the weakest of the three sides, then by their sum (services/matching/trilaterals.py).
    Asked by the city itself (its officers, or its mandated network's: then every side is
    scored on the needs and offers of the mandate's domains only): city diplomacy is
    demand-driven, never imposed."""
    city, domains = await _asking_city(session, principal, city_id)
    partners.check_may_ask_for_trinnings(city)
    market = await partners.load_for_trinnings(session, domains)
    found = trilaterals.suggest_trinnings(
        market.cities[city_id],
        list(market.cities.values()),
        market.needs,
        market.offers,
        _weights(request),
        limit=limit,
    )
    return [_trinning(t) for t in found]


def _run_public(
    run_id: uuid.UUID,
    body: AssignmentRunCreate,
    market: partners.Market,
    problem: assignment.Problem,
    result: assignment.Assignment,
    weights: Weights,
) -> AssignmentRunPublic:
    cities = market.cities
    return AssignmentRunPublic(
        id=run_id,
        ran_at=utcnow(),
        criteria=body,
        objective="the greatest sum of pair scores, each need answered by at most one offer, "
        "each offer within its partner capacity, each city within max_per_city",
        needs=len(problem.needs) + len(problem.not_considered),
        matched=len(result.proposals),
        total_score=result.total,
        proposals=[
            ProposalPublic(
                domain=p.need.domain,
                need_id=p.need.id,
                need_title=p.need.title,
                need_city=_city(cities[p.need.city_id]),
                offer_id=p.offer.id,
                offer_title=p.offer.title,
                offer_city=_city(cities[p.offer.city_id]),
                score=p.score,
                components=_components(assignment.reasons(p, cities, weights)),
            )
            for p in result.proposals
        ],
        unmatched=[
            UnmatchedPublic(
                need_id=u.need.id,
                need_title=u.need.title,
                domain=u.need.domain,
                city_id=u.need.city_id,
                reason=u.reason,
            )
            for u in result.unmatched
        ],
    )


@router.post(
    "/assignment-runs",
    status_code=201,
    response_model=AssignmentRunPublic,
    tags=["assignment"],
)
async def run_assignment(
    body: AssignmentRunCreate,
    request: Request,
    session: SessionDep,
    admin: PlatformAdmin,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """Assign open needs to open offers across the programme (e.g. at a call for partnerships),
    for the greatest total score under each offer's and city's capacity, with a min-cost flow
    (services/matching/assignment.py). The run is kept as proposed, every unmatched need with
    why; it proposes, it does not decide: cities still propose and accept agreements."""

    async def run() -> AssignmentRunPublic:
        market = await partners.load_market(session, domains=body.domains, countries=body.countries)
        weights = _weights(request)
        problem = assignment.build(
            market.cities,
            market.needs,
            market.offers,
            market.waiting,
            weights,
            max_per_city=body.max_per_city,
            candidates_per_need=body.candidates_per_need,
        )
        row = AssignmentRun(by_subject=admin.subject, result={})
        public = _run_public(row.id, body, market, problem, assignment.solve(problem), weights)
        row.ran_at, row.result = public.ran_at, public.model_dump(mode="json")
        session.add(row)
        return public

    return await idempotent(session, request, idempotency_key, body, run)


@router.get("/assignment-runs/{run_id}", response_model=AssignmentRunPublic, tags=["assignment"])
async def get_assignment_run(
    run_id: uuid.UUID, session: SessionDep, _admin: PlatformAdmin
) -> AssignmentRunPublic:
    run = await session.get(AssignmentRun, run_id)
    if run is None:
        raise NotFound(f"no assignment run {run_id}")
    return AssignmentRunPublic.model_validate(run.result)
