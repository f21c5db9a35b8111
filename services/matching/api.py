"""Matching HTTP routes: its read model of cities, and agreements.

Who may do what is decided in `domain` from the caller's token: a city officer proposes, accepts
and lists for their own cities only; an agreement is visible only to its parties' officers and to
platform administrators, and to anyone else it does not exist (404, not 403)."""

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import domain, partners, programme_api, suggestions
from services.matching.models import (
    AcceptanceCreate,
    Agreement,
    AgreementCreate,
    AgreementHistoryEntry,
    AgreementParty,
    AgreementPublic,
    BudgetPublic,
    ComponentPublic,
    ExpiryRunPublic,
    FitPublic,
    HistoryEntryPublic,
    KnownCity,
    KnownCityPublic,
    KnownNeedOffer,
    PartyPublic,
    ReasonedTransitionCreate,
    SuggestionPublic,
    TransitionCreate,
)
from shared import money
from shared.auth import Caller, CityOfficer, PlatformAdmin, Principal, Role, allow
from shared.contracts import EventSpec, Payload
from shared.contracts.matching import (
    AGREEMENT_ACCEPTED,
    AGREEMENT_ACTIVATED,
    AGREEMENT_CONCLUDED,
    AGREEMENT_EXPIRED,
    AGREEMENT_PROPOSED,
    AGREEMENT_REJECTED,
    AGREEMENT_RESUMED,
    AGREEMENT_SUSPENDED,
    AGREEMENT_TERMINATED,
    AgreementAccepted,
    AgreementActivated,
    AgreementConcluded,
    AgreementExpired,
    AgreementProposed,
    AgreementRejected,
    AgreementResumed,
    AgreementSuspended,
    AgreementTerminated,
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


def _public(
    agreement: Agreement, parties: list[AgreementParty], history: list[AgreementHistoryEntry]
) -> AgreementPublic:
    budget = (
        BudgetPublic(amount=agreement.budget_amount, currency=agreement.budget_currency)
        if agreement.budget_amount is not None and agreement.budget_currency
        else None
    )
    return AgreementPublic.model_validate(
        agreement,
        update={
            "parties": [PartyPublic.model_validate(p) for p in parties],
            "budget_request": budget,
            "history": [HistoryEntryPublic.model_validate(h) for h in history],
        },
    )


async def _publics(session: AsyncSession, agreements: Sequence[Agreement]) -> list[AgreementPublic]:
    """Agreements with their parties and history, in two queries whatever their number."""
    ids = [agreement.id for agreement in agreements]
    parties: dict[uuid.UUID, list[AgreementParty]] = defaultdict(list)
    history: dict[uuid.UUID, list[AgreementHistoryEntry]] = defaultdict(list)
    if ids:
        for party in (
            await session.exec(
                select(AgreementParty)
                .where(col(AgreementParty.agreement_id).in_(ids))
                .order_by(col(AgreementParty.city_id))
            )
        ).all():
            parties[party.agreement_id].append(party)
        for entry in (
            await session.exec(
                select(AgreementHistoryEntry)
                .where(col(AgreementHistoryEntry.agreement_id).in_(ids))
                .order_by(col(AgreementHistoryEntry.id))
            )
        ).all():
            history[entry.agreement_id].append(entry)
    return [_public(a, parties[a.id], history[a.id]) for a in agreements]


async def _agreement_public(session: AsyncSession, agreement: Agreement) -> AgreementPublic:
    return (await _publics(session, [agreement]))[0]


async def _load_visible_agreement(
    session: AsyncSession,
    principal: Principal,
    agreement_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> tuple[Agreement, list[AgreementParty]]:
    # Locked when it is about to change, so that two parties acting at once (two acceptances, a
    # suspension and a termination) each see the other's outcome.
    agreement = await session.get(Agreement, agreement_id, with_for_update=for_update)
    parties = await _parties(session, agreement_id) if agreement else []
    # One answer for "no such agreement" and "not yours": ids must not be probed (OWASP API1).
    if agreement is None or not domain.may_see(principal, (p.city_id for p in parties)):
        raise NotFound(f"no agreement with id {agreement_id}")
    return agreement, parties


def _state(agreement: Agreement, parties: Iterable[AgreementParty]) -> domain.AgreementState:
    return domain.AgreementState(
        status=agreement.status,
        accepted={party.city_id: party.accepted_at is not None for party in parties},
        accept_by=agreement.accept_by,
    )


async def _linked_items(
    session: AsyncSession, ids: list[uuid.UUID]
) -> dict[uuid.UUID, domain.LinkedItem]:
    if not ids:
        return {}
    rows = (await session.exec(select(KnownNeedOffer).where(col(KnownNeedOffer.id).in_(ids)))).all()
    return {
        row.id: domain.LinkedItem(
            id=row.id, kind=row.kind.value, city_id=row.city_id, title=row.title, status=row.status
        )
        for row in rows
    }


@router.post("/agreements", status_code=201, response_model=AgreementPublic, tags=["agreements"])
async def propose_agreement(
    body: AgreementCreate,
    session: SessionDep,
    request: Request,
    officer: CityOfficer,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """The caller must act for the proposing city; proposing is that city's acceptance. The
    other parties have until `accept_by` to accept, or the agreement expires. Linked needs and
    offers must be open ones of the parties, as matching's read model knows them."""
    # Before the idempotent replay too, so a stored answer is replayed only to the proposer's side.
    domain.check_acts_for(officer, body.proposed_by_city_id)

    async def propose() -> AgreementPublic:
        now = utcnow()
        known = set(
            (
                await session.exec(
                    select(KnownCity.id).where(col(KnownCity.id).in_(body.party_city_ids))
                )
            ).all()
        )
        domain.check_proposal(body.kind, body.party_city_ids, body.proposed_by_city_id, known)
        settings = request.app.state.runtime.settings
        accept_by = body.accept_by or now + timedelta(days=settings.acceptance_days)
        domain.check_terms(
            domains=body.domains,
            start_date=body.start_date,
            end_date=body.end_date,
            accept_by=accept_by,
            now=now,
        )
        items = await _linked_items(session, [*body.need_ids, *body.offer_ids])
        domain.check_links("need", body.need_ids, items, body.party_city_ids)
        domain.check_links("offer", body.offer_ids, items, body.party_city_ids)
        budget = body.budget_request
        agreement = Agreement(
            title=body.title,
            kind=body.kind,
            proposed_by_city_id=body.proposed_by_city_id,
            proposed_at=now,
            status_changed_at=now,
            accept_by=accept_by,
            domains=list(body.domains),
            need_ids=[str(i) for i in body.need_ids],
            offer_ids=[str(i) for i in body.offer_ids],
            objectives=list(body.objectives),
            start_date=body.start_date,
            end_date=body.end_date,
            budget_amount_minor=money.minor_units(budget.amount, budget.currency)
            if budget
            else None,
            budget_currency=budget.currency if budget else None,
        )
        session.add(agreement)
        for city_id in body.party_city_ids:
            # Proposing is the proposer's acceptance: it is its own proposal.
            accepted_at = now if city_id == body.proposed_by_city_id else None
            session.add(
                AgreementParty(agreement_id=agreement.id, city_id=city_id, accepted_at=accepted_at)
            )
        await session.flush()
        session.add(
            AgreementHistoryEntry(
                agreement_id=agreement.id,
                action="propose",
                to_status=agreement.status,
                by_city_id=body.proposed_by_city_id,
                by_subject=officer.subject,
                at=now,
            )
        )
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
                status=agreement.status,
                by_subject=officer.subject,
                domains=agreement.domains,
                need_ids=body.need_ids,
                offer_ids=body.offer_ids,
                objectives=agreement.objectives,
                start_date=agreement.start_date,
                end_date=agreement.end_date,
                budget_amount=agreement.budget_amount,
                budget_currency=agreement.budget_currency,
                accept_by=agreement.accept_by,
            ),
        )
        await session.flush()
        return await _agreement_public(session, agreement)

    return await idempotent(session, request, idempotency_key, body, propose)


_TRANSITION_EVENTS: dict[domain.Action, tuple[EventSpec, type[Payload]]] = {
    domain.Action.ACTIVATE: (AGREEMENT_ACTIVATED, AgreementActivated),
    domain.Action.SUSPEND: (AGREEMENT_SUSPENDED, AgreementSuspended),
    domain.Action.RESUME: (AGREEMENT_RESUMED, AgreementResumed),
    domain.Action.CONCLUDE: (AGREEMENT_CONCLUDED, AgreementConcluded),
    domain.Action.TERMINATE: (AGREEMENT_TERMINATED, AgreementTerminated),
    domain.Action.REJECT: (AGREEMENT_REJECTED, AgreementRejected),
    domain.Action.EXPIRE: (AGREEMENT_EXPIRED, AgreementExpired),
}


async def _record_step(
    session: AsyncSession,
    agreement: Agreement,
    parties: list[AgreementParty],
    step: domain.Step,
    *,
    by_city_id: uuid.UUID | None,
    by_subject: str | None,
    reason: str | None,
    now: datetime,
) -> None:
    """Apply a transition that changed something: the new status, its dated history row and its
    event, in the caller's transaction."""
    agreement.status = step.to_status
    agreement.status_changed_at = now
    session.add(agreement)
    session.add(
        AgreementHistoryEntry(
            agreement_id=agreement.id,
            action=step.action,
            from_status=step.from_status,
            to_status=step.to_status,
            by_city_id=by_city_id,
            by_subject=by_subject,
            reason=reason,
            at=now,
        )
    )
    spec, payload_type = _TRANSITION_EVENTS[step.action]
    extra: dict[str, object] = {}
    if step.action is domain.Action.ACTIVATE:
        extra = {
            "start_date": agreement.start_date,
            "end_date": agreement.end_date,
            "budget_amount": agreement.budget_amount,
            "budget_currency": agreement.budget_currency,
        }
    elif step.action is domain.Action.EXPIRE:
        extra = {
            "not_accepted_city_ids": [p.city_id for p in parties if p.accepted_at is None],
            "accept_by": agreement.accept_by,
        }
    await record_event(
        session,
        spec,
        agreement.id,
        payload_type(
            agreement_id=agreement.id,
            title=agreement.title,
            party_city_ids=sorted(p.city_id for p in parties),
            status=step.to_status,
            previous_status=step.from_status,
            by_city_id=by_city_id,
            by_subject=by_subject,
            reason=reason,
            **extra,
        ),
    )


async def _transition(
    session: AsyncSession,
    officer: Principal,
    agreement_id: uuid.UUID,
    body: TransitionCreate | ReasonedTransitionCreate,
    action: domain.Action,
) -> AgreementPublic:
    """A party's officer moves the agreement on. A repeat of what brought it to its current
    state (suspending a suspended agreement) answers with it unchanged, and records nothing."""
    # Checked before the agreement is read, so a 403 says nothing about whether it exists.
    domain.check_acts_for(officer, body.city_id)
    agreement, parties = await _load_visible_agreement(
        session, officer, agreement_id, for_update=True
    )
    now = utcnow()
    step = domain.decide(
        _state(agreement, parties),
        action,
        domain.Actor.PARTY,
        city_id=body.city_id,
        reason=body.reason,
        now=now,
    )
    if step.changed:
        await _record_step(
            session,
            agreement,
            parties,
            step,
            by_city_id=body.city_id,
            by_subject=officer.subject,
            reason=body.reason,
            now=now,
        )
        await session.commit()
    return await _agreement_public(session, agreement)


@router.post(
    "/agreements/{agreement_id}/acceptances", response_model=AgreementPublic, tags=["agreements"]
)
async def accept_agreement(
    agreement_id: uuid.UUID, body: AcceptanceCreate, session: SessionDep, officer: CityOfficer
) -> AgreementPublic:
    """The caller accepts for a city they act for, before `accept_by`. Idempotent by design: a
    party that already accepted gets the agreement back unchanged."""
    # Checked before the agreement is read, so a 403 says nothing about whether it exists.
    domain.check_acts_for(officer, body.city_id)
    agreement, loaded = await _load_visible_agreement(
        session, officer, agreement_id, for_update=True
    )
    parties = {party.city_id: party for party in loaded}
    now = utcnow()
    step = domain.decide(
        _state(agreement, loaded),
        domain.Action.ACCEPT,
        domain.Actor.PARTY,
        city_id=body.city_id,
        now=now,
    )
    if step.changed:
        all_accepted = step.to_status is domain.AgreementStatus.ACCEPTED
        parties[body.city_id].accepted_at = now
        session.add(parties[body.city_id])
        if all_accepted:
            agreement.status = step.to_status
            agreement.status_changed_at = now
            session.add(agreement)
        session.add(
            AgreementHistoryEntry(
                agreement_id=agreement.id,
                action=step.action,
                from_status=step.from_status,
                to_status=step.to_status,
                by_city_id=body.city_id,
                by_subject=officer.subject,
                at=now,
            )
        )
        await record_event(
            session,
            AGREEMENT_ACCEPTED,
            agreement.id,
            AgreementAccepted(
                agreement_id=agreement.id,
                title=agreement.title,
                city_id=body.city_id,
                party_city_ids=sorted(parties),
                all_parties_accepted=all_accepted,
                status=step.to_status,
                by_subject=officer.subject,
            ),
        )
        await session.commit()
    return await _agreement_public(session, agreement)


_TRANSITION_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"description": "no such agreement, or the caller's cities are not parties to it"},
    409: {"description": "not possible in the agreement's current state (the answer names it)"},
}


# The transitions a party's officer makes, each on its own path: (action, path, body, summary).
_TRANSITIONS = [
    (
        domain.Action.ACTIVATE,
        "activation",
        TransitionCreate,
        "Any party's officer starts an agreement every party accepted: the work begins.",
    ),
    (
        domain.Action.SUSPEND,
        "suspension",
        TransitionCreate,
        "A party's officer suspends an active agreement (a reason is welcome).",
    ),
    (
        domain.Action.RESUME,
        "resumption",
        TransitionCreate,
        "A party's officer resumes a suspended agreement.",
    ),
    (
        domain.Action.CONCLUDE,
        "conclusion",
        TransitionCreate,
        "A party's officer records that an active or suspended agreement was completed as planned.",
    ),
    (
        domain.Action.TERMINATE,
        "termination",
        ReasonedTransitionCreate,
        "A party's officer ends an active or suspended agreement early, saying why (a council "
        "can end a twinning).",
    ),
    (
        domain.Action.REJECT,
        "rejection",
        ReasonedTransitionCreate,
        "An invited party that has not accepted declines a proposed agreement, saying why.",
    ),
]


def _add_transition_route(
    action: domain.Action, path: str, body_model: type[SQLModel], summary: str
) -> None:
    async def transition(
        agreement_id: uuid.UUID,
        body: body_model,
        session: SessionDep,
        officer: CityOfficer,  # type: ignore[valid-type]
    ) -> AgreementPublic:
        return await _transition(session, officer, agreement_id, body, action)

    router.add_api_route(
        f"/agreements/{{agreement_id}}/{path}",
        transition,
        methods=["POST"],
        name=f"{action}_agreement",
        description=summary,
        response_model=AgreementPublic,
        tags=["agreements"],
        responses=_TRANSITION_RESPONSES,
    )


for _action, _path, _body, _summary in _TRANSITIONS:
    _add_transition_route(_action, _path, _body, _summary)


async def expire_overdue(
    session: AsyncSession, now: datetime, *, by_subject: str | None = None, limit: int = 500
) -> list[uuid.UUID]:
    """Expire every proposed agreement whose `accept_by` has passed (at most `limit` per call),
    each with its history row and AgreementExpired, in the caller's transaction (the caller
    commits). Rows another transaction holds (an acceptance under way) are left to the next
    run, which is harmless: an acceptance past the deadline is refused anyway."""
    overdue = (
        await session.exec(
            select(Agreement)
            .where(
                Agreement.status == domain.AgreementStatus.PROPOSED,
                col(Agreement.accept_by) <= now,
            )
            .order_by(col(Agreement.accept_by))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    ).all()
    expired: list[uuid.UUID] = []
    for agreement in overdue:
        parties = await _parties(session, agreement.id)
        step = domain.decide(
            _state(agreement, parties), domain.Action.EXPIRE, domain.Actor.PLATFORM, now=now
        )
        if not step.changed:
            continue
        await _record_step(
            session,
            agreement,
            parties,
            step,
            by_city_id=None,
            by_subject=by_subject,
            reason=f"not accepted by every party by {agreement.accept_by.isoformat()}",
            now=now,
        )
        expired.append(agreement.id)
    return expired


@router.post(
    "/agreements/expiry-runs",
    response_model=ExpiryRunPublic,
    tags=["agreements"],
)
async def run_expiry(session: SessionDep, admin: PlatformAdmin) -> ExpiryRunPublic:
    """Expire the proposed agreements not every party accepted in time. For a scheduler (a
    client with the platform_admin role, e.g. every few minutes) or an operator; running it
    again expires nothing twice."""
    now = utcnow()
    expired = await expire_overdue(session, now, by_subject=admin.subject)
    await session.commit()
    return ExpiryRunPublic(ran_at=now, expired=expired)


@router.get("/agreements/{agreement_id}", response_model=AgreementPublic, tags=["agreements"])
async def get_agreement(
    agreement_id: uuid.UUID, session: SessionDep, caller: Caller
) -> AgreementPublic:
    """Visible to the officers of its parties and to platform administrators only, with its
    history: every step of its life, dated, by whom and why."""
    agreement, _ = await _load_visible_agreement(session, caller, agreement_id)
    return await _agreement_public(session, agreement)


@router.get("/agreements", response_model=list[AgreementPublic], tags=["agreements"])
async def list_agreements(
    session: SessionDep,
    caller: Overseer,
    city_id: Annotated[uuid.UUID, Query(description="agreements this city is a party to")],
    status: Annotated[
        domain.AgreementStatus | None, Query(description="only agreements in this status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[AgreementPublic]:
    """A city officer lists their own city's agreements; a platform administrator any city's."""
    domain.check_oversees(caller, city_id)
    query = (
        select(Agreement)
        .join(AgreementParty, col(AgreementParty.agreement_id) == col(Agreement.id))
        .where(AgreementParty.city_id == city_id)
    )
    if status is not None:
        query = query.where(Agreement.status == status)
    agreements = (
        await session.exec(query.order_by(col(Agreement.proposed_at).desc()).limit(limit))
    ).all()
    return await _publics(session, agreements)


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


router.include_router(programme_api.router)
