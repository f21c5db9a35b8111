"""The rules of grants, free of I/O: an application's life, its reviews and decision (two
four-eyes rules), amendments, and when a tranche may be released, held or resumed.

An application's life:

    in_review --(both reviews in)--> reviewed | changes_requested | rejected
    reviewed --(decision by an administrator who reviewed neither)--> approved | rejected
    changes_requested | approved --(amendment: a new version)--> in_review
    in_review | changes_requested | reviewed --(the partnership withdraws it)--> withdrawn

Reviews are independent: one content review and one budget review per version, by two different
administrators of the fund. The application waits for both; then any rejection rejects it, any
request for changes sends it back to the applicant, and two approvals make it ready for the
decision. Approval commits no money: money leaves `available` only when a tranche is released
(see `tranches`), so that a fund may approve work whose later tranches the receipts still to
come will pay, and a ledger commitment always means "being paid now".

A tranche (one per milestone) is released only when its application is approved, its milestone
reported, its agreement active, no party in active conflict, no hold on it, and the fund has the
cash. Above the fund currency's threshold a release needs a second administrator: the first one
requests (the money is committed), another approves (it is disbursed)."""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from shared import money
from shared.auth import Principal
from shared.errors import Conflict, DomainError, Forbidden, NotFound


class ApplicationStatus(StrEnum):
    IN_REVIEW = "in_review"
    CHANGES_REQUESTED = "changes_requested"
    REVIEWED = "reviewed"  # both reviews approve: ready for the decision
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"  # by the partnership, before the decision


class ReviewKind(StrEnum):
    CONTENT = "content"
    BUDGET = "budget"


class ReviewDecision(StrEnum):
    APPROVE = "approve"
    REQUEST_CHANGES = "request_changes"
    REJECT = "reject"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


class Visibility(StrEnum):
    INTERNAL = "internal"  # the fund's administrators only
    SHARED = "shared"  # also the applicant partnership


class TrancheStatus(StrEnum):
    PENDING = "pending"  # not paid; released when its milestone is reported
    RELEASE_REQUESTED = "release_requested"  # committed, waiting for a second administrator
    DISBURSED = "disbursed"
    CANCELLED = "cancelled"  # its milestone was dropped by an amendment


# Tranches still to be paid: what pauses, holds and amendments act on.
OPEN_TRANCHES = (TrancheStatus.PENDING, TrancheStatus.RELEASE_REQUESTED)

# The agreement statuses (shared.contracts.matching) that matter here.
AGREEMENT_ACTIVE = "active"
AGREEMENT_HOLDING_STATUSES = frozenset({"suspended", "terminated", "withdrawn"})

# A city is in active conflict when its latest assessment puts it in a conflict zone in the
# active phase (high, fluctuating violence); a zone of peace is where city diplomacy goes on.
# The same rule as matching's (services.matching.reactions), which suspends agreements on it.
ACTIVE_CONFLICT_ZONE = "conflict_zone"
ACTIVE_CONFLICT_PHASE = "active"
CONFLICT_ZONES = frozenset({"conflict_zone", "zone_of_peace"})


def in_active_conflict(zone: str | None, phase: str | None) -> bool:
    return zone == ACTIVE_CONFLICT_ZONE and phase == ACTIVE_CONFLICT_PHASE


# --- Budgets and milestones ------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetLine:
    label: str
    amount_minor: int


@dataclass(frozen=True)
class Milestone:
    title: str
    due_date: date
    amount_minor: int  # the tranche paid when it is reported


def check_budget(
    lines: Sequence[BudgetLine], milestones: Sequence[Milestone], currency: str
) -> int:
    """The budget's total, if its milestones' tranches add up to it exactly."""
    total = sum(line.amount_minor for line in lines)
    tranches = sum(m.amount_minor for m in milestones)
    if tranches != total:
        show = money.from_minor_units
        raise DomainError(
            f"the tranches of the milestones must add up to the budget: they sum to "
            f"{show(tranches, currency)} {currency}, the budget lines to "
            f"{show(total, currency)} {currency}"
        )
    return total


def check_locked_milestones(locked: Mapping[int, Milestone], proposed: Sequence[Milestone]) -> None:
    """An amendment keeps the milestones whose tranche was paid or is being released (by their
    1-based position) exactly as they are: money already spent cannot be re-planned."""
    for position, milestone in sorted(locked.items()):
        if position > len(proposed) or proposed[position - 1] != milestone:
            raise Conflict(
                f"milestone {position} ({milestone.title!r}) has its tranche paid or being "
                "released: an amendment must keep it, unchanged, at the same position"
            )


# --- Who may do what -------------------------------------------------------------------------


def check_applicant(principal: Principal, applicant_city_id: uuid.UUID, parties: Iterable[str]):
    """The applicant city is a party of the agreement and the caller one of its officers."""
    if str(applicant_city_id) not in set(parties):
        raise DomainError(
            f"city {applicant_city_id} is not a party of this agreement; a partnership applies "
            "through one of its own cities"
        )
    if not principal.acts_for_city(applicant_city_id):
        raise Forbidden(f"you are not an officer of city {applicant_city_id}")


def check_fund_takes_applications(
    fund_id: uuid.UUID, closed: bool, eligible_domains: Sequence[str], domains: Sequence[str]
) -> None:
    """An open fund, and the agreement works in one of its eligible domains (none listed: any).
    A closed fund still pays the tranches it approved before closing."""
    if closed:
        raise Conflict(f"fund {fund_id} is closed: it takes no new application")
    if eligible_domains and not set(eligible_domains) & set(domains):
        raise Conflict(
            f"fund {fund_id} funds work in {', '.join(sorted(eligible_domains))}; the agreement's "
            f"domains are {', '.join(sorted(domains)) or 'not known to funding'}"
        )


def is_partner(principal: Principal, parties: Iterable[str]) -> bool:
    return any(principal.acts_for_city(city) for city in parties)


def check_reads_application(principal: Principal, fund_id: uuid.UUID, parties: Iterable[str]):
    """The fund's administrators, platform administrators and the partnership's officers read
    an application; anyone else is told it does not exist (as for agreements)."""
    if principal.is_platform_admin or principal.administers_fund(fund_id):
        return
    if not is_partner(principal, parties):
        raise NotFound("no such application")


def check_partner(principal: Principal, fund_id: uuid.UUID, parties: Iterable[str]) -> None:
    """The applicant's side: an officer of one of the partnership's cities."""
    check_reads_application(principal, fund_id, parties)
    if not is_partner(principal, parties):
        raise Forbidden("only an officer of one of the partnership's cities does this")


def check_fund_admin(principal: Principal, fund_id: uuid.UUID) -> None:
    if not principal.administers_fund(fund_id):
        raise Forbidden(f"you do not administer fund {fund_id}")


def check_oversees(principal: Principal, fund_id: uuid.UUID) -> None:
    if not (principal.is_platform_admin or principal.administers_fund(fund_id)):
        raise Forbidden(f"you do not administer fund {fund_id}")


def may_see(principal: Principal, fund_id: uuid.UUID, visibility: Visibility) -> bool:
    """Internal comments are the fund's administrators' (and platform administrators')."""
    return (
        visibility is Visibility.SHARED
        or principal.administers_fund(fund_id)
        or principal.is_platform_admin
    )


def check_comment(principal: Principal, fund_id: uuid.UUID, visibility: Visibility) -> None:
    if visibility is Visibility.INTERNAL and not principal.administers_fund(fund_id):
        raise Forbidden("internal comments are between the fund's administrators; share it instead")


# --- Reviews and the decision ----------------------------------------------------------------


@dataclass(frozen=True)
class ReviewRecord:
    kind: ReviewKind
    reviewer: str
    decision: ReviewDecision


def check_review(
    status: ApplicationStatus,
    version: int,
    reviews: Sequence[ReviewRecord],
    kind: ReviewKind,
    reviewer: str,
) -> None:
    """`reviews`: those of the current version."""
    if status is not ApplicationStatus.IN_REVIEW:
        raise Conflict(f"the application is {status}, not in review: nothing to review")
    for review in reviews:
        if review.kind is kind:
            raise Conflict(f"the {kind} review of version {version} is already done")
        if review.reviewer == reviewer:
            raise Forbidden(
                f"rule of two independent reviews: you gave the {review.kind} review of version "
                f"{version}; the {kind} review is another administrator's"
            )


def status_after_reviews(reviews: Sequence[ReviewRecord]) -> ApplicationStatus:
    if len({review.kind for review in reviews}) < len(ReviewKind):
        return ApplicationStatus.IN_REVIEW
    decisions = {review.decision for review in reviews}
    if ReviewDecision.REJECT in decisions:
        return ApplicationStatus.REJECTED
    if ReviewDecision.REQUEST_CHANGES in decisions:
        return ApplicationStatus.CHANGES_REQUESTED
    return ApplicationStatus.REVIEWED


def check_decision(
    status: ApplicationStatus, version: int, reviews: Sequence[ReviewRecord], decider: str
) -> None:
    for review in reviews:
        if review.reviewer == decider:
            raise Forbidden(
                f"four-eyes rule: the administrator who decides on an application must not have "
                f"reviewed it, and you gave the {review.kind} review of version {version}"
            )
    if status is not ApplicationStatus.REVIEWED:
        raise Conflict(
            f"the application is {status}: a decision needs both reviews of version {version} "
            "to approve it first"
        )


def status_after_decision(decision: Decision) -> ApplicationStatus:
    return (
        ApplicationStatus.APPROVED if decision is Decision.APPROVE else ApplicationStatus.REJECTED
    )


AMENDABLE = (ApplicationStatus.CHANGES_REQUESTED, ApplicationStatus.APPROVED)


def check_amendable(status: ApplicationStatus) -> None:
    if status not in AMENDABLE:
        raise Conflict(
            f"the application is {status}: it can be amended when changes were requested or "
            "once it is approved"
        )


WITHDRAWABLE = (
    ApplicationStatus.IN_REVIEW,
    ApplicationStatus.CHANGES_REQUESTED,
    ApplicationStatus.REVIEWED,
)


def check_withdrawable(status: ApplicationStatus) -> None:
    """Before the decision only: an approved application has tranches to account for; the
    partnership stops those by not reporting, and the fund by pausing them."""
    if status not in WITHDRAWABLE:
        raise Conflict(f"the application is {status}: only one awaiting a decision is withdrawn")


# --- Tranches --------------------------------------------------------------------------------


class HoldCause(StrEnum):
    PAUSED = "paused"  # an administrator paused it
    AGREEMENT = "agreement"  # the agreement was suspended or terminated
    CONFLICT = "conflict"  # a party's conflict phase escalated; "conflict:<city id>"


def conflict_hold(city_id: uuid.UUID | str) -> str:
    return f"{HoldCause.CONFLICT}:{city_id}"


def conflict_city(cause: str) -> str | None:
    prefix = f"{HoldCause.CONFLICT}:"
    return cause.removeprefix(prefix) if cause.startswith(prefix) else None


@dataclass(frozen=True)
class PartyState:
    city_id: str
    name: str | None
    zone: str | None
    phase: str | None

    @property
    def in_active_conflict(self) -> bool:
        return in_active_conflict(self.zone, self.phase)

    @property
    def label(self) -> str:
        return self.name or f"city {self.city_id}"


@dataclass(frozen=True)
class ReleaseFacts:
    """What a release depends on, as the service knows it when the fund is locked."""

    application_status: ApplicationStatus
    status: TrancheStatus
    milestone_title: str
    reported: bool
    holds: Mapping[str, str]
    agreement_id: uuid.UUID
    agreement_status: str | None  # None: funding has not heard of the agreement
    parties: Sequence[PartyState]


def check_release_conditions(facts: ReleaseFacts) -> None:
    """The conditions a release and its second approval share (the state of the tranche itself
    is checked by the caller: pending for a release, requested for an approval)."""
    if facts.application_status is not ApplicationStatus.APPROVED:
        raise Conflict(
            f"only an approved application's tranches are released; this application is "
            f"{facts.application_status}"
        )
    if not facts.reported:
        raise Conflict(
            f"a tranche is released only when its milestone is reported; milestone "
            f"{facts.milestone_title!r} is not reported yet"
        )
    if facts.agreement_status != AGREEMENT_ACTIVE:
        raise Conflict(
            f"a tranche is released only while its agreement is active; agreement "
            f"{facts.agreement_id} is {facts.agreement_status or 'unknown to funding'}"
        )
    at_war = [party.label for party in facts.parties if party.in_active_conflict]
    if at_war:
        raise Conflict(
            "no tranche is released while a party is in the active phase of a conflict: "
            + ", ".join(at_war)
        )
    if facts.holds:
        raise Conflict("the tranche is held: " + "; ".join(facts.holds.values()))


def check_release(facts: ReleaseFacts) -> None:
    if facts.status is TrancheStatus.RELEASE_REQUESTED:
        raise Conflict("its release was already requested: another administrator approves it")
    if facts.status is not TrancheStatus.PENDING:
        raise Conflict(f"the tranche is {facts.status}: there is nothing to release")
    check_release_conditions(facts)


def check_release_approval(facts: ReleaseFacts, requested_by: str | None, approver: str) -> None:
    if facts.status is not TrancheStatus.RELEASE_REQUESTED:
        raise Conflict(f"the tranche is {facts.status}: no release is waiting for approval")
    if requested_by == approver:
        raise Forbidden(
            "four-eyes rule: a release above the threshold is approved by another "
            "administrator than the one who requested it"
        )
    check_release_conditions(facts)


def check_release_cancellation(status: TrancheStatus) -> None:
    if status is not TrancheStatus.RELEASE_REQUESTED:
        raise Conflict(f"the tranche is {status}: only a release waiting for approval is cancelled")


def needs_second_approval(amount_minor: int, threshold_minor: int | None) -> bool:
    """Above the fund currency's threshold (an amount equal to it passes alone). No threshold
    set for the currency: every release needs two administrators, the safe default."""
    return threshold_minor is None or amount_minor > threshold_minor


def check_open(status: TrancheStatus, doing: str) -> None:
    if status not in OPEN_TRANCHES:
        raise Conflict(f"the tranche is {status}: only a tranche still to be paid can be {doing}")


def automatic_holds(
    current: Mapping[str, str],
    agreement_id: uuid.UUID,
    agreement_status: str | None,
    parties: Sequence[PartyState],
) -> dict[str, str]:
    """The holds an open tranche has after the agreement's and the parties' latest state: an
    agreement hold while it is suspended or terminated, lifted when it is active again; a
    conflict hold for each party in active conflict, which only an administrator lifts (after
    the phase de-escalated: see `lift_by_admin`), since the cash goes to people in danger."""
    holds = dict(current)
    if agreement_status in AGREEMENT_HOLDING_STATUSES:
        holds.setdefault(HoldCause.AGREEMENT, f"agreement {agreement_id} is {agreement_status}")
    elif agreement_status == AGREEMENT_ACTIVE:
        holds.pop(HoldCause.AGREEMENT, None)
    for party in parties:
        if party.in_active_conflict:
            holds.setdefault(
                conflict_hold(party.city_id),
                f"{party.label} escalated to the active phase of a conflict",
            )
    return holds


def lift_by_admin(current: Mapping[str, str], parties: Sequence[PartyState]) -> dict[str, str]:
    """What an administrator's resumption leaves: the pause and the conflict holds go, unless a
    party is still in active conflict (409); the agreement's hold stays, as only the agreement
    resuming lifts it."""
    still = [party.label for party in parties if party.in_active_conflict]
    if still and any(conflict_city(cause) for cause in current):
        raise Conflict(
            "a conflict hold is lifted only once the phase de-escalated; still in the active "
            "phase: " + ", ".join(still)
        )
    return {
        cause: reason
        for cause, reason in current.items()
        if cause != HoldCause.PAUSED and conflict_city(cause) is None
    }
