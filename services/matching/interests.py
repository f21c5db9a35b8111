"""Expressions of interest, free of I/O: a city asks another to partner on one of its needs (a
*request*), or offers to help with one of the other's needs (an *offer*), and the other answers.

    open --answer (the addressee: accept | decline, with a message)--> accepted | declined
    open | accepted --withdraw (the asker)--> withdrawn
    open | accepted --close (the platform: the need or offer was withdrawn)--> closed
    open --expire (the platform: not answered within MATCHING_INTEREST_ANSWER_DAYS)--> expired

An accepted expression of interest is what an agreement proposal can grow from: the proposal
names it (`interest_id`), and from then on it is linked to that agreement and cannot be
withdrawn or closed any more (the agreement has its own life). Repeating what brought an
expression of interest to its state (the same answer, a second withdrawal) changes nothing.

An expression of interest left unanswered does not wait for ever: the asker deserves to know it
may look elsewhere, and the city asked an inbox of live requests. The expiry run that expires
overdue proposals (`services.matching.expiry`) expires it too; an answer that comes before the
run still counts."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from services.matching.domain import LinkedItem, open_item
from shared.errors import Conflict, DomainError


class InterestKind(StrEnum):
    REQUEST = "request"  # the asker's need; it may name an offer of the addressee's
    OFFER = "offer"  # the addressee's need; it may name an offer of the asker's


class InterestStatus(StrEnum):
    OPEN = "open"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"
    CLOSED = "closed"
    EXPIRED = "expired"  # not answered in time


class Answer(StrEnum):
    ACCEPT = "accept"
    DECLINE = "decline"


ANSWERED = {Answer.ACCEPT: InterestStatus.ACCEPTED, Answer.DECLINE: InterestStatus.DECLINED}

# What the asker may still withdraw, and the platform close: not yet turned into an agreement.
STILL_OPEN = frozenset({InterestStatus.OPEN, InterestStatus.ACCEPTED})


# How long the city asked has to answer, by default and at most (MATCHING_INTEREST_ANSWER_DAYS).
DEFAULT_ANSWER_DAYS = 30
MAX_ANSWER_DAYS = 365


def unanswered_since(now: datetime, answer_days: int) -> datetime:
    """An open expression of interest expressed at or before this is overdue: it expires."""
    return now - timedelta(days=answer_days)


def answer_by(status: InterestStatus, expressed_at: datetime, answer_days: int) -> datetime | None:
    """Until when the city asked may answer (at the next expiry run after it, it expires); None
    once it is not open any more."""
    return expressed_at + timedelta(days=answer_days) if status is InterestStatus.OPEN else None


def expiry_reason(answer_days: int) -> str:
    return f"not answered within {answer_days} days; the asking city may ask anew"


def check_expression(
    from_city_id: UUID,
    to_city_id: UUID,
    need_id: UUID,
    offer_id: UUID | None,
    items: Mapping[UUID, LinkedItem],
) -> InterestKind:
    """Whether the asker may express interest to the addressee on this need (and offer), and
    which kind of expression of interest it is. The cities are known to matching (checked
    before, with their conflict-zone gate)."""
    if from_city_id == to_city_id:
        raise DomainError("a city cannot express interest to itself: name another city")
    need = open_item("need", need_id, items)
    if need.city_id == from_city_id:
        kind, helper = InterestKind.REQUEST, to_city_id
    elif need.city_id == to_city_id:
        kind, helper = InterestKind.OFFER, from_city_id
    else:
        raise DomainError(
            f"need {need_id} ({need.title!r}) belongs to city {need.city_id}, neither the asking "
            "city nor the city asked: name one of their needs"
        )
    if offer_id is not None:
        offer = open_item("offer", offer_id, items)
        if offer.city_id != helper:
            raise DomainError(
                f"offer {offer_id} ({offer.title!r}) belongs to city {offer.city_id}; the offer "
                f"must be one of city {helper}'s, the city that would help with the need"
            )
    return kind


@dataclass(frozen=True)
class InterestState:
    status: InterestStatus
    agreement_id: UUID | None


def _refuse(state: InterestState, what: str) -> Conflict:
    if state.agreement_id is not None:
        return Conflict(
            f"the expression of interest is {state.status} and became agreement "
            f"{state.agreement_id}; it cannot be {what} any more: act on the agreement instead"
        )
    return Conflict(f"the expression of interest is {state.status}; it cannot be {what} any more")


def answer(state: InterestState, given: Answer, message: str | None) -> bool:
    """Whether answering changes it; the same answer again changes nothing, another is refused.
    A decline says why, so the asker can look elsewhere or ask better."""
    if given is Answer.DECLINE and not (message and message.strip()):
        raise DomainError("say why: declining an expression of interest needs a message")
    if state.status is ANSWERED[given]:
        return False
    if state.status is not InterestStatus.OPEN:
        raise _refuse(state, "answered")
    return True


def withdraw(state: InterestState) -> bool:
    if state.status is InterestStatus.WITHDRAWN:
        return False
    if state.status not in STILL_OPEN or state.agreement_id is not None:
        raise _refuse(state, "withdrawn")
    return True


def closable(state: InterestState) -> bool:
    """Whether the platform closes it when its need or offer is withdrawn: not when it already
    ended or became an agreement (the agreement is flagged instead)."""
    return state.status in STILL_OPEN and state.agreement_id is None


def check_may_become_agreement(
    state: InterestState, interest_cities: set[UUID], party_ids: set[UUID]
) -> None:
    """An agreement proposal may grow from an accepted expression of interest, once, between
    (at least) the two cities concerned."""
    if state.agreement_id is not None:
        raise Conflict(
            f"this expression of interest already became agreement {state.agreement_id}; "
            "express a new interest for another agreement"
        )
    if state.status is not InterestStatus.ACCEPTED:
        raise Conflict(
            f"the expression of interest is {state.status}: only an accepted one can become an "
            "agreement"
        )
    missing = sorted(str(c) for c in interest_cities - party_ids)
    if missing:
        raise DomainError(
            f"the expression of interest concerns city {', '.join(missing)} too: make it a party"
        )
