"""Matching HTTP routes: its read model of cities, and agreements.

Who may do what is decided in `domain` from the caller's token, through `voices`: a city officer
proposes, accepts and acts for their own cities; for a city in a conflict zone, so does the
officer of a network it mandated, on an agreement all of whose domains the mandate covers. An
agreement is visible only to its parties' officers, to the officers of a network a party mandated
in one of its domains, and to platform administrators; to anyone else it does not exist (404,
not 403)."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import (
    agreements,
    domain,
    expiry,
    health,
    interests,
    partners,
    programme_api,
    reactions,
    voices,
)
from services.matching.models import (
    AcceptanceCreate,
    ActivityReportCreate,
    ActivityReportPublic,
    Agreement,
    AgreementActivityReport,
    AgreementCreate,
    AgreementHistoryEntry,
    AgreementParty,
    AgreementPublic,
    BudgetPublic,
    DormancyRunPublic,
    DormantAgreementPublic,
    ExpiryRunPublic,
    HistoryEntryPublic,
    KnownCity,
    KnownCityPublic,
    PartnershipInterest,
    PartyPublic,
    ReasonedTransitionCreate,
    TransitionCreate,
)
from shared import money
from shared.auth import Caller, PlatformAdmin, Principal, Role, allow
from shared.contracts.matching import (
    AGREEMENT_ACCEPTED,
    AGREEMENT_ACTIVITY_REPORTED,
    AGREEMENT_PROPOSED,
    AgreementAccepted,
    AgreementActivityReported,
    AgreementProposed,
)
from shared.db import utcnow
from shared.errors import Conflict, NotFound
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
            "blocks": list(agreement.blocks.values()),
            "history": [HistoryEntryPublic.model_validate(h) for h in history],
        },
    )


async def _publics(session: AsyncSession, rows: Sequence[Agreement]) -> list[AgreementPublic]:
    """Agreements with their parties and history, in two queries whatever their number."""
    ids = [agreement.id for agreement in rows]
    parties = await agreements.parties_of(session, ids)
    history: dict[uuid.UUID, list[AgreementHistoryEntry]] = defaultdict(list)
    if ids:
        for entry in (
            await session.exec(
                select(AgreementHistoryEntry)
                .where(col(AgreementHistoryEntry.agreement_id).in_(ids))
                .order_by(col(AgreementHistoryEntry.id))
            )
        ).all():
            history[entry.agreement_id].append(entry)
    return [_public(a, parties[a.id], history[a.id]) for a in rows]


async def _agreement_public(session: AsyncSession, agreement: Agreement) -> AgreementPublic:
    return (await _publics(session, [agreement]))[0]


def _matter(session: AsyncSession, agreement: Agreement) -> voices.AgreementMatter:
    """The agreement's domains, read only when a network's officer asks, and once per request
    (whether it may see the agreement, then whether it may act on it)."""
    read: list[frozenset[str]] = []

    async def matter() -> frozenset[str]:
        if not read:
            read.append(await agreements.matter_of(session, agreement))
        return read[0]

    return matter


async def _visible(
    session: AsyncSession, principal: Principal, agreement_id: uuid.UUID, *, for_update: bool
) -> tuple[Agreement, list[AgreementParty], voices.AgreementMatter]:
    # Locked when it is about to change, so that two parties acting at once (two acceptances, a
    # suspension and a termination) each see the other's outcome.
    agreement = await session.get(Agreement, agreement_id, with_for_update=for_update)
    if agreement is not None:
        parties = await agreements.parties(session, agreement_id)
        matter = _matter(session, agreement)
        if await voices.may_see_agreement(session, principal, [p.city_id for p in parties], matter):
            return agreement, parties, matter
    # One answer for "no such agreement" and "not yours": ids must not be probed (OWASP API1).
    raise NotFound(f"no agreement with id {agreement_id}")


async def _load_visible_agreement(
    session: AsyncSession, principal: Principal, agreement_id: uuid.UUID
) -> tuple[Agreement, list[AgreementParty]]:
    agreement, parties, _ = await _visible(session, principal, agreement_id, for_update=False)
    return agreement, parties


async def _act_on(
    session: AsyncSession, principal: Principal, agreement_id: uuid.UUID, city_id: uuid.UUID
) -> tuple[Agreement, list[AgreementParty], uuid.UUID | None]:
    """The agreement the caller acts on for `city_id`, locked, with its parties, and the network
    the caller speaks through, for the record (None: the city's own officer). Whether the caller
    speaks for the city at all is checked before the agreement is read, so that a 403 says
    nothing about whether it exists; then that it speaks for it on every domain of the
    agreement."""
    await voices.check_speaks_for(session, principal, city_id, None)
    agreement, parties, matter = await _visible(session, principal, agreement_id, for_update=True)
    network_id = await voices.check_speaks_on_agreement(session, principal, city_id, matter)
    return agreement, parties, network_id


async def _interest_to_grow(session: AsyncSession, body: AgreementCreate) -> PartnershipInterest:
    """The accepted expression of interest a proposal grows from, locked so that it becomes one
    agreement only. The proposer must be one of its two cities: to anyone else it does not exist."""
    interest = await session.get(PartnershipInterest, body.interest_id, with_for_update=True)
    cities = {interest.from_city_id, interest.to_city_id} if interest else set()
    if interest is None or body.proposed_by_city_id not in cities:
        raise NotFound(f"no expression of interest with id {body.interest_id}")
    interests.check_may_become_agreement(
        interests.InterestState(interest.status, interest.agreement_id),
        cities,
        set(body.party_city_ids),
    )
    return interest


@router.post("/agreements", status_code=201, response_model=AgreementPublic, tags=["agreements"])
async def propose_agreement(
    body: AgreementCreate,
    session: SessionDep,
    request: Request,
    officer: voices.Speaker,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """The caller must speak for the proposing city: its officer, or for a city in a conflict
    zone the officer of a network it mandated, whose mandate covers every domain of the
    agreement (those it names, and those of its linked needs and offers). Proposing is that
    city's acceptance. The other parties have until `accept_by` to accept, or the agreement
    expires. Linked needs and offers must be open ones of the parties, as matching's read model
    knows them."""
    # Before the idempotent replay too, so a stored answer is replayed only to the proposer's side.
    await voices.check_speaks_for(session, officer, body.proposed_by_city_id, None)

    async def propose() -> AgreementPublic:
        now = utcnow()
        party_cities = (
            await session.exec(select(KnownCity).where(col(KnownCity.id).in_(body.party_city_ids)))
        ).all()
        known = {city.id for city in party_cities}
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
        need_ids, offer_ids = list(body.need_ids), list(body.offer_ids)
        interest = None
        if body.interest_id is not None:
            interest = await _interest_to_grow(session, body)
            # What the cities expressed interest in is what they agree on.
            for ids, linked in ((need_ids, interest.need_id), (offer_ids, interest.offer_id)):
                if linked is not None and linked not in ids:
                    ids.append(linked)
        items = await agreements.linked_items(session, [*need_ids, *offer_ids])
        domain.check_links("need", need_ids, items, body.party_city_ids)
        domain.check_links("offer", offer_ids, items, body.party_city_ids)
        # Demand-driven city diplomacy: no agreement with a city of a conflict zone whose
        # preconditions do not hold, whoever proposes it (409 naming what is missing).
        for city in party_cities:
            partners.check_may_ask(city)
        blocks = dict(filter(None, (reactions.conflict_block(city) for city in party_cities)))
        budget = body.budget_request
        agreement = Agreement(
            title=body.title,
            kind=body.kind,
            proposed_by_city_id=body.proposed_by_city_id,
            proposed_at=now,
            status_changed_at=now,
            accept_by=accept_by,
            domains=list(body.domains),
            need_ids=[str(i) for i in need_ids],
            offer_ids=[str(i) for i in offer_ids],
            objectives=list(body.objectives),
            start_date=body.start_date,
            end_date=body.end_date,
            budget_amount_minor=money.minor_units(budget.amount, budget.currency)
            if budget
            else None,
            budget_currency=budget.currency if budget else None,
            interest_id=body.interest_id,
            last_activity_at=now,
            blocks=blocks,
        )
        # Once its domains are all known: those it names, and its linked needs' and offers'.
        network_id = await voices.check_speaks_on_agreement(
            session, officer, body.proposed_by_city_id, _matter(session, agreement)
        )
        session.add(agreement)
        if interest is not None:
            interest.agreement_id = agreement.id
            session.add(interest)
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
                by_network_id=network_id,
                domains=agreement.domains,
                need_ids=need_ids,
                offer_ids=offer_ids,
                objectives=agreement.objectives,
                start_date=agreement.start_date,
                end_date=agreement.end_date,
                budget_amount=agreement.budget_amount,
                budget_currency=agreement.budget_currency,
                accept_by=agreement.accept_by,
                interest_id=body.interest_id,
                blocks=list(blocks.values()),
            ),
        )
        await session.flush()
        return await _agreement_public(session, agreement)

    return await idempotent(session, request, idempotency_key, body, propose)


async def _transition(
    session: AsyncSession,
    officer: Principal,
    agreement_id: uuid.UUID,
    body: TransitionCreate | ReasonedTransitionCreate,
    action: domain.Action,
) -> AgreementPublic:
    """A party's officer (or its mandated network's) moves the agreement on. A repeat of what
    brought it to its current state (suspending a suspended agreement) answers with it
    unchanged, and records nothing."""
    agreement, parties, network_id = await _act_on(session, officer, agreement_id, body.city_id)
    step = await agreements.take(
        session,
        agreement,
        parties,
        action,
        domain.Actor.PARTY,
        by_city_id=body.city_id,
        by_subject=officer.subject,
        reason=body.reason,
        now=utcnow(),
        by_network_id=network_id,
    )
    if step.changed:
        await session.commit()
    return await _agreement_public(session, agreement)


@router.post(
    "/agreements/{agreement_id}/acceptances", response_model=AgreementPublic, tags=["agreements"]
)
async def accept_agreement(
    agreement_id: uuid.UUID, body: AcceptanceCreate, session: SessionDep, officer: voices.Speaker
) -> AgreementPublic:
    """The caller accepts for a city they speak for (its officer, or its mandated network's
    within the mandate), before `accept_by`. Idempotent by design: a party that already
    accepted gets the agreement back unchanged."""
    agreement, loaded, network_id = await _act_on(session, officer, agreement_id, body.city_id)
    parties = {party.city_id: party for party in loaded}
    now = utcnow()
    step = domain.decide(
        agreements.state(agreement, loaded),
        domain.Action.ACCEPT,
        domain.Actor.PARTY,
        city_id=body.city_id,
        now=now,
    )
    if step.changed:
        all_accepted = step.to_status is domain.AgreementStatus.ACCEPTED
        parties[body.city_id].accepted_at = now
        session.add(parties[body.city_id])
        agreements.record_history(
            session,
            agreement,
            step,
            by_city_id=body.city_id,
            by_subject=officer.subject,
            reason=None,
            now=now,
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
                by_network_id=network_id,
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
    (
        domain.Action.WITHDRAW,
        "withdrawal",
        ReasonedTransitionCreate,
        "A party that accepted (the proposer included) calls off a proposed or accepted "
        "agreement before its work starts, saying why: even a blocked one (e.g. a party's "
        "conflict that does not de-escalate).",
    ),
]


def _add_transition_route(
    action: domain.Action, path: str, body_model: type[SQLModel], summary: str
) -> None:
    async def transition(
        agreement_id: uuid.UUID,
        body: body_model,
        session: SessionDep,
        officer: voices.Speaker,  # type: ignore[valid-type]
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


@router.post(
    "/agreements/expiry-runs",
    response_model=ExpiryRunPublic,
    tags=["agreements"],
)
async def run_expiry(
    session: SessionDep, request: Request, admin: PlatformAdmin
) -> ExpiryRunPublic:
    """Expire now the proposed agreements not every party accepted in time, and the expressions
    of interest not answered within MATCHING_INTEREST_ANSWER_DAYS (the service also does it on
    its own, every MATCHING_EXPIRY_EVERY_SECONDS). For a scheduler (a client with the
    platform_admin role) or an operator; running it again expires nothing twice."""
    now = utcnow()
    answer_days = request.app.state.runtime.settings.interest_answer_days
    run = await expiry.expire_due(session, now, answer_days, by_subject=admin.subject)
    await session.commit()
    return ExpiryRunPublic(ran_at=now, expired=run.agreements, expired_interests=run.interests)


# Reporting on a partnership's work makes sense once it is agreed, and while it lasts.
_REPORTABLE = (
    domain.AgreementStatus.ACCEPTED,
    domain.AgreementStatus.ACTIVE,
    domain.AgreementStatus.SUSPENDED,
)


@router.post(
    "/agreements/{agreement_id}/activity-reports",
    status_code=201,
    response_model=ActivityReportPublic,
    tags=["partnership health"],
    responses=_TRANSITION_RESPONSES,
)
async def report_activity(
    agreement_id: uuid.UUID,
    body: ActivityReportCreate,
    session: SessionDep,
    request: Request,
    officer: voices.Speaker,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """A party's officer (or its mandated network's, within the mandate) reports on the
    partnership's work (a few lines: what was done, what comes next). The other parties hear of
    it, and it is a sign of life: the agreement is not dormant any more."""
    # Before the idempotent replay too, so a stored answer is replayed only to the party's side.
    await voices.check_speaks_for(session, officer, body.city_id, None)

    async def report() -> ActivityReportPublic:
        agreement, parties, network_id = await _act_on(session, officer, agreement_id, body.city_id)
        domain.check_party(body.city_id, {p.city_id for p in parties})
        if agreement.status not in _REPORTABLE:
            raise Conflict(
                f"the agreement is {agreement.status}; activity is reported on an accepted, "
                "active or suspended agreement"
            )
        now = utcnow()
        row = AgreementActivityReport(
            agreement_id=agreement.id,
            city_id=body.city_id,
            text=body.text,
            by_subject=officer.subject,
            at=now,
        )
        session.add(row)
        agreements.touch(agreement, now)
        session.add(agreement)
        await record_event(
            session,
            AGREEMENT_ACTIVITY_REPORTED,
            agreement.id,
            AgreementActivityReported(
                agreement_id=agreement.id,
                title=agreement.title,
                party_city_ids=[p.city_id for p in parties],
                report_id=row.id,
                city_id=body.city_id,
                text=body.text,
                by_subject=officer.subject,
                by_network_id=network_id,
                at=now,
            ),
        )
        await session.flush()
        return ActivityReportPublic.model_validate(row)

    return await idempotent(session, request, idempotency_key, body, report)


@router.get(
    "/agreements/{agreement_id}/activity-reports",
    response_model=list[ActivityReportPublic],
    tags=["partnership health"],
)
async def list_activity_reports(
    agreement_id: uuid.UUID,
    session: SessionDep,
    caller: Caller,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Sequence[AgreementActivityReport]:
    """The partnership's reports, newest first; for its parties' officers and administrators."""
    await _load_visible_agreement(session, caller, agreement_id)
    return (
        await session.exec(
            select(AgreementActivityReport)
            .where(AgreementActivityReport.agreement_id == agreement_id)
            .order_by(col(AgreementActivityReport.at).desc())
            .limit(limit)
        )
    ).all()


@router.get(
    "/agreements/dormant",
    response_model=list[DormantAgreementPublic],
    tags=["partnership health"],
)
async def list_dormant_agreements(
    session: SessionDep,
    request: Request,
    caller: Overseer,
    city_id: Annotated[
        uuid.UUID | None,
        Query(
            description="only this city's; default: every city (administrators) or the "
            "caller's own cities (officers)"
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DormantAgreementPublic]:
    """Active agreements without a sign of life for MATCHING_DORMANT_AFTER_DAYS, the longest
    silent first, with the days since their last one."""
    if city_id is not None:
        domain.check_oversees(caller, city_id)
    cities = (
        [city_id]
        if city_id is not None
        else None
        if caller.is_platform_admin
        else [uuid.UUID(c) for c in caller.scopes(Role.CITY_OFFICER)]
    )
    now = utcnow()
    days = request.app.state.runtime.settings.dormant_after_days
    found = await health.dormant_agreements(session, now, days, cities, limit)
    parties = await agreements.parties_of(session, [a.id for a in found])
    return [
        DormantAgreementPublic(
            id=a.id,
            title=a.title,
            party_city_ids=[p.city_id for p in parties[a.id]],
            last_activity_at=a.last_activity_at,
            days_since_activity=health.days_since(a.last_activity_at, now),
            dormancy_reminded_at=a.dormancy_reminded_at,
        )
        for a in found
    ]


@router.post(
    "/agreements/dormancy-runs", response_model=DormancyRunPublic, tags=["partnership health"]
)
async def run_dormancy_check(
    session: SessionDep, request: Request, _admin: PlatformAdmin
) -> DormancyRunPublic:
    """Remind the parties of dormant agreements now (the service also does it on its own, every
    MATCHING_DORMANCY_CHECK_EVERY_SECONDS). Running it again reminds no one twice in a period."""
    now = utcnow()
    days = request.app.state.runtime.settings.dormant_after_days
    reminded = await health.remind_dormant(session, now, days)
    await session.commit()
    return DormancyRunPublic(ran_at=now, reminded=reminded)


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
    caller: voices.Reader,
    city_id: Annotated[uuid.UUID, Query(description="agreements this city is a party to")],
    status: Annotated[
        domain.AgreementStatus | None, Query(description="only agreements in this status")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[AgreementPublic]:
    """A city officer lists their own city's agreements; a platform administrator any city's;
    for a city in a conflict zone, the officer of a network it mandated those in at least one of
    the mandate's domains."""
    domains = await voices.check_oversees(session, caller, city_id)
    query = (
        select(Agreement)
        .join(AgreementParty, col(AgreementParty.agreement_id) == col(Agreement.id))
        .where(AgreementParty.city_id == city_id)
    )
    if status is not None:
        query = query.where(Agreement.status == status)
    query = query.order_by(col(Agreement.proposed_at).desc(), col(Agreement.id))
    if domains is None:
        return await _publics(session, (await session.exec(query.limit(limit))).all())
    # A mandated network's officer: filtered before the limit, so that a page holds `limit` of
    # them when there are as many. The domains are partly those of linked needs and offers, so
    # it is done here rather than in SQL; a city's agreements are a few dozen, not thousands.
    rows = (await session.exec(query)).all()
    matters = await agreements.matters(session, rows)
    seen = [a for a in rows if domain.touches(domains, matters[a.id])]
    return await _publics(session, seen[:limit])


router.include_router(programme_api.router)
