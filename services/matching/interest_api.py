"""Expressions of interest over HTTP: a city asks another to partner on a need, the other
answers, the asker can withdraw; the rules are in `services.matching.interests`.

Who speaks for a city: its officers, and for a city in a conflict zone the officers of a network
it mandated (within the mandate's domains), as `domain.voice_domains` says. An expression of
interest is visible only to those who speak for one of its two cities, and to platform
administrators; to anyone else it does not exist (404, not 403), as agreements."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.matching import agreements, interests, partners, voices
from services.matching.interest_events import change_interest
from services.matching.interests import InterestState, InterestStatus
from services.matching.models import (
    InterestAnswerCreate,
    InterestCreate,
    InterestPublic,
    InterestWithdrawalCreate,
    KnownCity,
    KnownNeedOffer,
    PartnershipInterest,
)
from shared.auth import Principal
from shared.contracts import EventSpec
from shared.contracts.matching import (
    PARTNERSHIP_INTEREST_ANSWERED,
    PARTNERSHIP_INTEREST_EXPRESSED,
    PARTNERSHIP_INTEREST_WITHDRAWN,
)
from shared.db import utcnow
from shared.errors import Conflict, DomainError, Forbidden, NotFound
from shared.idempotency import IdempotencyKeyHeader, idempotent
from shared.service import SessionDep

router = APIRouter(tags=["expressions of interest"])


_RESPONSES: dict[int | str, dict[str, object]] = {
    404: {"description": "no such expression of interest, or the caller speaks for neither city"},
    409: {"description": "not possible in its current state (the answer names it)"},
}


async def _known_city(session: AsyncSession, city_id: uuid.UUID) -> KnownCity:
    city = await session.get(KnownCity, city_id)
    if city is None:
        raise DomainError(
            f"city {city_id} is not known to matching (yet); a city registered a moment ago may "
            "still be on its way, so retry shortly"
        )
    return city


async def _load_visible(
    session: AsyncSession, principal: Principal, interest_id: uuid.UUID, *, for_update: bool = False
) -> PartnershipInterest:
    interest = await session.get(PartnershipInterest, interest_id, with_for_update=for_update)
    visible = interest is not None and (
        principal.is_platform_admin
        or await voices.speaks_for_any(
            session, principal, [interest.from_city_id, interest.to_city_id], interest.domain
        )
    )
    # One answer for "no such expression of interest" and "not yours" (OWASP API1).
    if interest is None or not visible:
        raise NotFound(f"no expression of interest with id {interest_id}")
    return interest


def _answer_days(request: Request) -> int:
    days: int = request.app.state.runtime.settings.interest_answer_days
    return days


# The service's MATCHING_INTEREST_ANSWER_DAYS, which every answer shows as `answer_by`.
AnswerDays = Annotated[int, Depends(_answer_days)]


def _public(interest: PartnershipInterest, answer_days: int) -> InterestPublic:
    deadline = interests.answer_by(interest.status, interest.expressed_at, answer_days)
    return InterestPublic.model_validate(interest, update={"answer_by": deadline})


@router.post("/interests", status_code=201, response_model=InterestPublic, responses=_RESPONSES)
async def express_interest(
    body: InterestCreate,
    session: SessionDep,
    request: Request,
    speaker: voices.Speaker,
    answer_days: AnswerDays,
    idempotency_key: IdempotencyKeyHeader = None,
) -> JSONResponse:
    """The asking city (its officer, or its mandated network's) asks another city to partner on
    a need: one of its own (a request, optionally naming an offer of the other city's) or one of
    the other's (an offer to help, optionally naming one of its offers). Both cities must be
    known, and a city in a conflict zone only takes part once the preconditions of city
    diplomacy hold. The city asked hears of it (PartnershipInterestExpressed), and has until
    `answer_by` (MATCHING_INTEREST_ANSWER_DAYS) to answer, or it expires."""
    # One expression of interest about a need is written at a time (PostgreSQL): a retry with
    # the same Idempotency-Key waits for the first and replays its answer, rather than being
    # refused as a second expression of interest.
    await session.get(KnownNeedOffer, body.need_id, with_for_update=True)
    await _known_city(session, body.from_city_id)
    ids = [body.need_id, *([body.offer_id] if body.offer_id else [])]
    kind = interests.check_expression(
        body.from_city_id, body.to_city_id, body.need_id, body.offer_id,
        await agreements.linked_items(session, ids),
    )  # fmt: skip
    need = await session.get(KnownNeedOffer, body.need_id)
    assert need is not None, "checked by check_expression"
    need_domain = need.domain
    # Before the idempotent replay too, so a stored answer is replayed only to the asker's side.
    await voices.check_speaks_for(session, speaker, body.from_city_id, need_domain)

    async def express() -> InterestPublic:
        from_city = await _known_city(session, body.from_city_id)
        to_city = await _known_city(session, body.to_city_id)
        partners.check_may_ask(from_city)
        partners.check_may_ask(to_city)
        pending = (
            await session.exec(
                select(PartnershipInterest.id, PartnershipInterest.status).where(
                    PartnershipInterest.from_city_id == body.from_city_id,
                    PartnershipInterest.to_city_id == body.to_city_id,
                    PartnershipInterest.need_id == body.need_id,
                    col(PartnershipInterest.status).in_(interests.STILL_OPEN),
                    col(PartnershipInterest.agreement_id).is_(None),
                )
            )
        ).first()
        if pending is not None:
            raise Conflict(
                f"{from_city.name} already asked {to_city.name} about this need: expression of "
                f"interest {pending[0]} is {pending[1]}; withdraw it first to ask anew"
            )
        now = utcnow()
        interest = PartnershipInterest(
            kind=kind,
            from_city_id=body.from_city_id,
            to_city_id=body.to_city_id,
            need_id=body.need_id,
            offer_id=body.offer_id,
            domain=need_domain,
            need_title=need.title,
            message=body.message,
            expressed_by_subject=speaker.subject,
            expressed_at=now,
            status_changed_at=now,
        )
        await change_interest(
            session,
            interest,
            InterestStatus.OPEN,
            PARTNERSHIP_INTEREST_EXPRESSED,
            by_city_id=body.from_city_id,
            by_subject=speaker.subject,
            message=body.message,
            now=now,
        )
        await session.flush()
        return _public(interest, answer_days)

    return await idempotent(session, request, idempotency_key, body, express)


async def _change(
    session: AsyncSession,
    interest: PartnershipInterest,
    status: InterestStatus,
    spec: EventSpec,
    by_city_id: uuid.UUID,
    speaker: Principal,
    message: str | None,
) -> None:
    """A city's change of an expression of interest: its new status and event, committed."""
    await change_interest(
        session,
        interest,
        status,
        spec,
        by_city_id=by_city_id,
        by_subject=speaker.subject,
        message=message,
        now=utcnow(),
    )
    await session.commit()


def _check_side(city_id: uuid.UUID, expected: uuid.UUID, who: str, what: str) -> None:
    if city_id != expected:
        raise Forbidden(f"only {who} (city {expected}) may {what} this expression of interest")


@router.post(
    "/interests/{interest_id}/answers", response_model=InterestPublic, responses=_RESPONSES
)
async def answer_interest(
    interest_id: uuid.UUID,
    body: InterestAnswerCreate,
    session: SessionDep,
    speaker: voices.Speaker,
    answer_days: AnswerDays,
) -> InterestPublic:
    """The city asked accepts or declines (saying why). Idempotent by design: the same answer
    again returns it unchanged; another answer is refused with the current state."""
    interest = await _load_visible(session, speaker, interest_id, for_update=True)
    _check_side(body.city_id, interest.to_city_id, "the city asked", "answer")
    await voices.check_speaks_for(session, speaker, body.city_id, interest.domain)
    state = InterestState(interest.status, interest.agreement_id)
    if interests.answer(state, body.answer, body.message):
        interest.answer_message = body.message
        interest.answered_by_subject = speaker.subject
        interest.answered_at = utcnow()
        await _change(
            session,
            interest,
            interests.ANSWERED[body.answer],
            PARTNERSHIP_INTEREST_ANSWERED,
            body.city_id,
            speaker,
            body.message,
        )
    return _public(interest, answer_days)


@router.post(
    "/interests/{interest_id}/withdrawal", response_model=InterestPublic, responses=_RESPONSES
)
async def withdraw_interest(
    interest_id: uuid.UUID,
    body: InterestWithdrawalCreate,
    session: SessionDep,
    speaker: voices.Speaker,
    answer_days: AnswerDays,
) -> InterestPublic:
    """The asking city withdraws, open or accepted, until it became an agreement. Idempotent by
    design: withdrawing again returns it unchanged."""
    interest = await _load_visible(session, speaker, interest_id, for_update=True)
    _check_side(body.city_id, interest.from_city_id, "the asking city", "withdraw")
    await voices.check_speaks_for(session, speaker, body.city_id, interest.domain)
    if interests.withdraw(InterestState(interest.status, interest.agreement_id)):
        interest.end_reason = body.reason
        await _change(
            session,
            interest,
            InterestStatus.WITHDRAWN,
            PARTNERSHIP_INTEREST_WITHDRAWN,
            body.city_id,
            speaker,
            body.reason,
        )
    return _public(interest, answer_days)


@router.get("/interests/{interest_id}", response_model=InterestPublic, responses=_RESPONSES)
async def get_interest(
    interest_id: uuid.UUID, session: SessionDep, reader: voices.Reader, answer_days: AnswerDays
) -> InterestPublic:
    return _public(await _load_visible(session, reader, interest_id), answer_days)


@router.get("/interests", response_model=list[InterestPublic])
async def list_interests(
    session: SessionDep,
    reader: voices.Reader,
    answer_days: AnswerDays,
    city_id: Annotated[
        uuid.UUID, Query(description="expressions of interest this city sent or got")
    ],
    direction: Annotated[
        str | None, Query(pattern="^(sent|received)$", description="sent or received; default both")
    ] = None,
    status: Annotated[InterestStatus | None, Query(description="only those in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[InterestPublic]:
    """A city's expressions of interest, newest first: for those who speak for it (a mandated
    network's officer sees those in its mandate's domains) and for administrators."""
    query = select(PartnershipInterest)
    if direction == "sent":
        query = query.where(PartnershipInterest.from_city_id == city_id)
    elif direction == "received":
        query = query.where(PartnershipInterest.to_city_id == city_id)
    else:
        query = query.where(
            (col(PartnershipInterest.from_city_id) == city_id)
            | (col(PartnershipInterest.to_city_id) == city_id)
        )
    if status is not None:
        query = query.where(PartnershipInterest.status == status)
    # A mandated network's officer sees those in its mandate's domains, filtered in the query so
    # that a page holds `limit` of them when there are as many.
    domains = await voices.check_oversees(session, reader, city_id)
    if domains is not None:
        query = query.where(col(PartnershipInterest.domain).in_(sorted(domains)))
    query = query.order_by(
        col(PartnershipInterest.expressed_at).desc(), col(PartnershipInterest.id)
    ).limit(limit)
    return [_public(row, answer_days) for row in (await session.exec(query)).all()]
