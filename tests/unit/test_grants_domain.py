"""The rules of grants, pure: the application's state machine, the review and decision rules,
budgets and amendments, when a tranche may be released, and the automatic holds."""

import dataclasses
import re
import uuid
from datetime import date

import pytest

from services.funding.grants.domain import (
    ApplicationStatus,
    BudgetLine,
    Decision,
    HoldCause,
    Milestone,
    PartyState,
    ReleaseFacts,
    ReviewDecision,
    ReviewKind,
    ReviewRecord,
    TrancheStatus,
    Visibility,
    automatic_holds,
    check_amendable,
    check_applicant,
    check_budget,
    check_comment,
    check_decision,
    check_fund_takes_applications,
    check_locked_milestones,
    check_reads_application,
    check_release,
    check_release_approval,
    check_review,
    check_withdrawable,
    conflict_hold,
    lift_by_admin,
    may_see,
    needs_second_approval,
    status_after_decision,
    status_after_reviews,
)
from shared.auth import Grant, Principal
from shared.errors import Conflict, DomainError, Forbidden, NotFound

FUND = uuid.uuid4()
LOME, LYON = str(uuid.uuid4()), str(uuid.uuid4())
AGREEMENT = uuid.uuid4()


def principal(*grants: str, subject: str = "someone") -> Principal:
    return Principal(subject, "user", frozenset(Grant.parse(g) for g in grants), 0.0)


def review(kind: ReviewKind, reviewer: str, decision: ReviewDecision) -> ReviewRecord:
    return ReviewRecord(kind, reviewer, decision)


APPROVE, CHANGES, REJECT = ReviewDecision
CONTENT, BUDGET = ReviewKind


# --- The state machine -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decisions", "status"),
    [
        ([], ApplicationStatus.IN_REVIEW),
        ([(CONTENT, APPROVE)], ApplicationStatus.IN_REVIEW),
        ([(CONTENT, REJECT)], ApplicationStatus.IN_REVIEW),  # waits for the second review
        ([(CONTENT, APPROVE), (BUDGET, APPROVE)], ApplicationStatus.REVIEWED),
        ([(CONTENT, CHANGES), (BUDGET, APPROVE)], ApplicationStatus.CHANGES_REQUESTED),
        ([(CONTENT, CHANGES), (BUDGET, REJECT)], ApplicationStatus.REJECTED),
        ([(CONTENT, APPROVE), (BUDGET, REJECT)], ApplicationStatus.REJECTED),
    ],
)
def test_both_reviews_decide_where_the_application_goes(
    decisions: list[tuple[ReviewKind, ReviewDecision]], status: ApplicationStatus
) -> None:
    records = [review(kind, f"admin-{n}", d) for n, (kind, d) in enumerate(decisions)]
    assert status_after_reviews(records) is status


def test_a_decision_approves_or_rejects() -> None:
    assert status_after_decision(Decision.APPROVE) is ApplicationStatus.APPROVED
    assert status_after_decision(Decision.REJECT) is ApplicationStatus.REJECTED


def test_only_changes_requested_or_approved_applications_are_amended() -> None:
    check_amendable(ApplicationStatus.CHANGES_REQUESTED)
    check_amendable(ApplicationStatus.APPROVED)
    for status in (
        ApplicationStatus.IN_REVIEW,
        ApplicationStatus.REVIEWED,
        ApplicationStatus.REJECTED,
    ):
        with pytest.raises(Conflict, match=str(status)):
            check_amendable(status)


# --- Reviews and the decision ----------------------------------------------------------------


def test_two_reviews_by_two_administrators() -> None:
    first = [review(CONTENT, "ada", APPROVE)]
    check_review(ApplicationStatus.IN_REVIEW, 1, first, BUDGET, "bob")
    with pytest.raises(Forbidden, match="two independent reviews: you gave the content review"):
        check_review(ApplicationStatus.IN_REVIEW, 1, first, BUDGET, "ada")
    with pytest.raises(Conflict, match="content review of version 1 is already done"):
        check_review(ApplicationStatus.IN_REVIEW, 1, first, CONTENT, "bob")
    with pytest.raises(Conflict, match="approved, not in review"):
        check_review(ApplicationStatus.APPROVED, 1, [], CONTENT, "bob")


def test_the_decider_reviewed_neither_review() -> None:
    reviews = [review(CONTENT, "ada", APPROVE), review(BUDGET, "bob", APPROVE)]
    check_decision(ApplicationStatus.REVIEWED, 2, reviews, "cleo")
    for reviewer in ("ada", "bob"):
        with pytest.raises(Forbidden, match=r"four-eyes rule.*of version 2"):
            check_decision(ApplicationStatus.REVIEWED, 2, reviews, reviewer)
    with pytest.raises(Conflict, match="needs both reviews"):
        check_decision(ApplicationStatus.IN_REVIEW, 2, reviews[:1], "cleo")


# --- Who may do what -------------------------------------------------------------------------


def test_an_officer_of_a_party_applies_for_it() -> None:
    check_applicant(principal(f"city_officer:{LOME}"), uuid.UUID(LOME), [LOME, LYON])
    with pytest.raises(DomainError, match="not a party of this agreement"):
        check_applicant(principal(f"city_officer:{LOME}"), uuid.uuid4(), [LOME, LYON])
    with pytest.raises(Forbidden, match="not an officer"):
        check_applicant(principal(f"city_officer:{LYON}"), uuid.UUID(LOME), [LOME, LYON])


def test_applications_are_read_by_the_fund_and_the_partnership_only() -> None:
    for reader in (
        principal(f"fund_admin:{FUND}"),
        principal("platform_admin"),
        principal(f"city_officer:{LYON}"),
    ):
        check_reads_application(reader, FUND, [LOME, LYON])
    for stranger in (
        principal(f"city_officer:{uuid.uuid4()}"),
        principal(f"fund_admin:{uuid.uuid4()}"),
    ):
        with pytest.raises(NotFound):
            check_reads_application(stranger, FUND, [LOME, LYON])


def test_internal_comments_are_the_funds_administrators() -> None:
    admin, officer = principal(f"fund_admin:{FUND}"), principal(f"city_officer:{LOME}")
    assert may_see(admin, FUND, Visibility.INTERNAL)
    assert not may_see(officer, FUND, Visibility.INTERNAL)
    assert may_see(officer, FUND, Visibility.SHARED)
    check_comment(admin, FUND, Visibility.INTERNAL)
    with pytest.raises(Forbidden, match="internal comments"):
        check_comment(officer, FUND, Visibility.INTERNAL)


# --- Budgets and amendments ------------------------------------------------------------------


def test_the_tranches_add_up_to_the_budget() -> None:
    lines = [BudgetLine("staff", 700_000), BudgetLine("travel", 300_000)]
    milestones = [
        Milestone("a", date(2027, 6, 30), 600_000),
        Milestone("b", date(2027, 12, 31), 400_000),
    ]
    assert check_budget(lines, milestones, "EUR") == 1_000_000
    with pytest.raises(
        DomainError, match=re.escape("sum to 9999.99 EUR, the budget lines to 10000.00 EUR")
    ):
        check_budget(lines, [*milestones[:1], Milestone("b", date(2027, 12, 31), 399_999)], "EUR")


def test_an_amendment_keeps_what_was_paid() -> None:
    paid = Milestone("first", date(2027, 6, 30), 600_000)
    later = Milestone("second", date(2027, 12, 31), 400_000)
    check_locked_milestones({1: paid}, [paid, later])
    check_locked_milestones({}, [later])
    for proposed in ([later, paid], [dataclasses.replace(paid, amount_minor=1)], []):
        with pytest.raises(Conflict, match=r"milestone 1 .'first'. has its tranche paid"):
            check_locked_milestones({1: paid}, proposed)


# --- Releases --------------------------------------------------------------------------------

CALM = PartyState(LOME, "Lomé", "conflict_zone", "post_conflict")
AT_WAR = dataclasses.replace(CALM, phase="active")
PEACE_ZONE = PartyState(LYON, "Lyon", "zone_of_peace", "active")
READY = ReleaseFacts(
    application_status=ApplicationStatus.APPROVED,
    status=TrancheStatus.PENDING,
    milestone_title="agents trained",
    reported=True,
    holds={},
    agreement_id=AGREEMENT,
    agreement_status="active",
    parties=[CALM, PEACE_ZONE],
)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"application_status": ApplicationStatus.IN_REVIEW}, "approved application's tranches"),
        ({"reported": False}, "milestone 'agents trained' is not reported"),
        ({"agreement_status": "suspended"}, f"agreement {AGREEMENT} is suspended"),
        ({"agreement_status": "terminated"}, "is terminated"),
        ({"agreement_status": "concluded"}, "while its agreement is active"),
        ({"agreement_status": None}, "unknown to funding"),
        ({"parties": [AT_WAR]}, "active phase of a conflict: Lomé"),
        ({"holds": {"paused": "audit"}}, "held: audit"),
        ({"status": TrancheStatus.RELEASE_REQUESTED}, "another administrator approves it"),
        ({"status": TrancheStatus.DISBURSED}, "disbursed: there is nothing to release"),
    ],
)
def test_a_release_names_the_rule_it_breaks(change: dict, message: str) -> None:
    with pytest.raises(Conflict, match=message):
        check_release(dataclasses.replace(READY, **change))


def test_a_reported_tranche_of_an_active_agreement_is_released() -> None:
    check_release(READY)  # a zone of peace in the active phase does not stop it


def test_the_second_approval_is_another_administrators() -> None:
    requested = dataclasses.replace(READY, status=TrancheStatus.RELEASE_REQUESTED)
    check_release_approval(requested, "ada", "bob")
    with pytest.raises(Forbidden, match="four-eyes rule"):
        check_release_approval(requested, "ada", "ada")
    with pytest.raises(Conflict, match="no release is waiting"):
        check_release_approval(READY, "ada", "bob")
    with pytest.raises(Conflict, match="is terminated"):
        check_release_approval(
            dataclasses.replace(requested, agreement_status="terminated"), "a", "b"
        )


@pytest.mark.parametrize(
    ("amount", "threshold", "second"),
    [(1_000_000, 1_000_000, False), (1_000_001, 1_000_000, True), (1, 0, True), (1, None, True)],
)
def test_above_the_threshold_two_administrators(amount: int, threshold: int | None, second: bool):
    assert needs_second_approval(amount, threshold) is second


# --- Holds -----------------------------------------------------------------------------------


def test_an_agreement_hold_follows_the_agreements_status() -> None:
    held = automatic_holds({}, AGREEMENT, "suspended", [CALM])
    assert held == {HoldCause.AGREEMENT: f"agreement {AGREEMENT} is suspended"}
    assert automatic_holds(held, AGREEMENT, "terminated", [CALM]) == held  # placed once
    assert automatic_holds({}, AGREEMENT, "withdrawn", [CALM]) == {
        HoldCause.AGREEMENT: f"agreement {AGREEMENT} is withdrawn"
    }
    assert automatic_holds(held, AGREEMENT, "active", [CALM]) == {}
    assert automatic_holds({"paused": "audit"}, AGREEMENT, "active", [CALM]) == {"paused": "audit"}


def test_a_conflict_hold_is_placed_on_escalation_and_lifted_only_by_an_admin() -> None:
    held = automatic_holds({}, AGREEMENT, "active", [AT_WAR, PEACE_ZONE])
    assert held == {conflict_hold(LOME): "Lomé escalated to the active phase of a conflict"}
    # De-escalation alone does not lift it...
    assert automatic_holds(held, AGREEMENT, "active", [CALM]) == held
    # ...an administrator does, once the phase de-escalated.
    with pytest.raises(Conflict, match="still in the active phase: Lomé"):
        lift_by_admin(held, [AT_WAR])
    both = {**held, "paused": "audit", "agreement": "suspended"}
    assert lift_by_admin(both, [CALM]) == {"agreement": "suspended"}
    assert lift_by_admin({"paused": "audit"}, [AT_WAR]) == {}  # no conflict hold to lift


def test_an_open_fund_takes_applications_in_its_eligible_domains() -> None:
    check_fund_takes_applications(FUND, False, [], [])
    check_fund_takes_applications(FUND, False, ["drinking-water"], ["drinking-water", "transport"])
    with pytest.raises(Conflict, match="funds work in drinking-water; the agreement's domains"):
        check_fund_takes_applications(FUND, False, ["drinking-water"], ["transport"])
    with pytest.raises(Conflict, match="not known to funding"):
        check_fund_takes_applications(FUND, False, ["drinking-water"], [])
    with pytest.raises(Conflict, match="closed"):
        check_fund_takes_applications(FUND, True, [], [])


def test_an_application_is_withdrawn_before_the_decision_only() -> None:
    for status in (
        ApplicationStatus.IN_REVIEW,
        ApplicationStatus.CHANGES_REQUESTED,
        ApplicationStatus.REVIEWED,
    ):
        check_withdrawable(status)
    for status in (
        ApplicationStatus.APPROVED,
        ApplicationStatus.REJECTED,
        ApplicationStatus.WITHDRAWN,
    ):
        with pytest.raises(Conflict, match=f"the application is {status}"):
            check_withdrawable(status)
