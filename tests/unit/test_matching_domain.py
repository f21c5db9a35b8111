import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from services.matching.domain import (
    FINAL,
    LIFECYCLE,
    RESULT,
    Action,
    Actor,
    AgreementKind,
    AgreementState,
    AgreementStatus,
    LinkedItem,
    check_links,
    check_proposal,
    check_terms,
    decide,
)
from shared.errors import Conflict, DomainError, Forbidden
from shared.money import minor_units

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
NOW = datetime(2027, 3, 1, 10, 0, tzinfo=UTC)
DEADLINE = NOW + timedelta(days=30)
S = AgreementStatus


def test_a_bilateral_proposal_between_two_known_cities_passes() -> None:
    check_proposal(AgreementKind.BILATERAL, [A, B], A, {A, B})


@pytest.mark.parametrize(
    ("kind", "parties", "proposer", "message"),
    [
        (AgreementKind.BILATERAL, [A, A], A, "only once"),
        (AgreementKind.BILATERAL, [A, B, C], A, "has 2 parties, not 3"),
        (AgreementKind.TRILATERAL, [A, B], A, "has 3 parties, not 2"),
        (AgreementKind.MULTILATERAL, [A, B], A, "3 to 50 parties"),
        (AgreementKind.BILATERAL, [A, B], C, "proposing city must be one of the parties"),
    ],
)
def test_proposals_that_break_a_rule_say_which(
    kind: AgreementKind, parties: list[uuid.UUID], proposer: uuid.UUID, message: str
) -> None:
    with pytest.raises(DomainError, match=message):
        check_proposal(kind, parties, proposer, {A, B, C})


def test_a_party_unknown_to_matching_is_named() -> None:
    with pytest.raises(DomainError, match=str(B)):
        check_proposal(AgreementKind.BILATERAL, [A, B], A, {A})


# --- The lifecycle table ---------------------------------------------------------------------


def test_the_table_is_one_machine_each_action_leading_to_one_state() -> None:
    assert set(RESULT) == set(Action)
    for (_, action), rule in LIFECYCLE.items():
        assert RESULT[action] is rule.to
    assert FINAL == {S.CONCLUDED, S.TERMINATED, S.REJECTED, S.WITHDRAWN, S.EXPIRED}
    # Every state is reachable from proposed.
    reached, frontier = {S.PROPOSED}, [S.PROPOSED]
    while frontier:
        state = frontier.pop()
        for (source, _), rule in LIFECYCLE.items():
            if source is state and rule.to not in reached:
                reached.add(rule.to)
                frontier.append(rule.to)
    assert reached == set(S)


def state(status: AgreementStatus, **accepted: bool) -> AgreementState:
    parties = {A: True, B: True} if status is not S.PROPOSED else {A: True, B: False}
    return AgreementState(status, parties, DEADLINE)


def party(status: AgreementStatus, action: Action, **kwargs: object) -> object:
    return decide(
        state(status), action, Actor.PARTY, city_id=B, reason="a reason", now=NOW, **kwargs
    )


@pytest.mark.parametrize(("source", "action"), list(LIFECYCLE))
def test_every_allowed_transition_leads_where_the_table_says(
    source: AgreementStatus, action: Action
) -> None:
    rule = LIFECYCLE[(source, action)]
    now = DEADLINE if action is Action.EXPIRE else NOW
    # B has not accepted a proposal (so it may accept or reject); A, the proposer, has.
    city = A if action is Action.WITHDRAW else B
    for actor in rule.by:
        step = decide(
            state(source), action, actor, city_id=city if actor is Actor.PARTY else None,
            reason="a reason", now=now,
        )  # fmt: skip
        assert (step.from_status, step.to_status, step.changed) == (source, rule.to, True)


ILLEGAL = [
    (status, action)
    for status in S
    for action in Action
    if (status, action) not in LIFECYCLE
    and status is not RESULT[action]
    # Accepting again is per party: a party that accepted gets a harmless repeat.
    and action is not Action.ACCEPT
]


@pytest.mark.parametrize(("status", "action"), ILLEGAL)
def test_every_illegal_transition_is_refused_naming_the_state_and_what_is_allowed(
    status: AgreementStatus, action: Action
) -> None:
    actor = Actor.PLATFORM if action is Action.EXPIRE else Actor.PARTY
    with pytest.raises(Conflict) as refused:
        decide(
            AgreementState(status, {A: True, B: False}, DEADLINE),
            action,
            actor,
            city_id=None if actor is Actor.PLATFORM else B,
            reason="a reason",
            now=DEADLINE,
        )
    message = refused.value.message
    assert message.startswith(f"the agreement is {status}; it cannot be ")
    assert ("is final" in message) == (status in FINAL)
    if status not in FINAL:
        assert "allowed now: " in message


@pytest.mark.parametrize("action", [a for a in Action if a is not Action.ACCEPT])
def test_repeating_what_led_to_the_current_state_changes_nothing(action: Action) -> None:
    actor = Actor.PLATFORM if action is Action.EXPIRE else Actor.PARTY
    status = RESULT[action]
    step = decide(
        AgreementState(status, {A: True, B: True}, DEADLINE),
        action,
        actor,
        city_id=None if actor is Actor.PLATFORM else B,
        now=NOW,
    )
    assert (step.to_status, step.changed) == (status, False)


def test_the_last_acceptance_completes_the_agreement() -> None:
    step = decide(state(S.PROPOSED), Action.ACCEPT, Actor.PARTY, city_id=B, now=NOW)
    assert (step.to_status, step.changed) == (S.ACCEPTED, True)


def test_an_earlier_acceptance_leaves_others_to_accept() -> None:
    three = AgreementState(S.PROPOSED, {A: True, B: False, C: False}, DEADLINE)
    step = decide(three, Action.ACCEPT, Actor.PARTY, city_id=B, now=NOW)
    assert (step.to_status, step.changed) == (S.PROPOSED, True)


def test_accepting_again_changes_nothing() -> None:
    step = decide(state(S.ACTIVE), Action.ACCEPT, Actor.PARTY, city_id=B, now=NOW)
    assert (step.to_status, step.changed) == (S.ACTIVE, False)


def test_only_parties_act() -> None:
    for action in (Action.ACCEPT, Action.REJECT):
        with pytest.raises(DomainError, match="not a party"):
            decide(state(S.PROPOSED), action, Actor.PARTY, city_id=C, reason="no", now=NOW)


def test_a_settled_agreement_cannot_take_a_new_acceptance() -> None:
    with pytest.raises(Conflict, match="the agreement is accepted"):
        decide(
            AgreementState(S.ACCEPTED, {A: True, B: False}, DEADLINE),
            Action.ACCEPT,
            Actor.PARTY,
            city_id=B,
            now=NOW,
        )


def test_terminating_rejecting_and_withdrawing_need_a_reason() -> None:
    for status, action, city in (
        (S.ACTIVE, Action.TERMINATE, B),
        (S.PROPOSED, Action.REJECT, B),
        (S.PROPOSED, Action.WITHDRAW, A),
        (S.ACCEPTED, Action.WITHDRAW, B),
    ):
        for reason in (None, "  "):
            with pytest.raises(DomainError, match="needs a reason"):
                decide(state(status), action, Actor.PARTY, city_id=city, reason=reason, now=NOW)


def test_a_party_that_has_not_accepted_rejects_rather_than_withdraws() -> None:
    with pytest.raises(Conflict, match=rf"city {B} has not accepted it.*reject it"):
        decide(state(S.PROPOSED), Action.WITHDRAW, Actor.PARTY, city_id=B, reason="no", now=NOW)
    step = decide(state(S.PROPOSED), Action.WITHDRAW, Actor.PARTY, city_id=A, reason="no", now=NOW)
    assert step.to_status is S.WITHDRAWN


@pytest.mark.parametrize("status", [S.PROPOSED, S.ACCEPTED])
def test_a_blocked_agreement_cannot_go_on_but_can_be_withdrawn(status: AgreementStatus) -> None:
    """The way out of an agreement blocked for good: a party's conflict that never de-escalates."""
    blocked = AgreementState(
        status, {A: True, B: status is S.ACCEPTED}, DEADLINE, blocks=("Lomé is in active conflict",)
    )
    go_on = Action.ACCEPT if status is S.PROPOSED else Action.ACTIVATE
    with pytest.raises(Conflict, match=r"blocked.*Lomé is in active conflict"):
        decide(blocked, go_on, Actor.PARTY, city_id=B, now=NOW)
    step = decide(blocked, Action.WITHDRAW, Actor.PARTY, city_id=A, reason="too long", now=NOW)
    assert (step.from_status, step.to_status, step.changed) == (status, S.WITHDRAWN, True)


def test_a_party_that_accepted_cannot_reject() -> None:
    with pytest.raises(Conflict, match=rf"city {A} has accepted it.*can withdraw it"):
        decide(state(S.PROPOSED), Action.REJECT, Actor.PARTY, city_id=A, reason="no", now=NOW)


def test_acceptance_closes_at_the_deadline_and_only_then_may_it_expire() -> None:
    for action, city in ((Action.ACCEPT, B), (Action.REJECT, B), (Action.WITHDRAW, A)):
        with pytest.raises(Conflict, match="acceptance closed at"):
            decide(state(S.PROPOSED), action, Actor.PARTY, city_id=city, reason="no", now=DEADLINE)
    with pytest.raises(Conflict, match="open for acceptance until"):
        decide(state(S.PROPOSED), Action.EXPIRE, Actor.PLATFORM, now=NOW)
    step = decide(state(S.PROPOSED), Action.EXPIRE, Actor.PLATFORM, now=DEADLINE)
    assert step.to_status is S.EXPIRED


def test_each_action_is_taken_only_by_its_actor() -> None:
    with pytest.raises(Forbidden, match="expiry run"):
        decide(state(S.PROPOSED), Action.EXPIRE, Actor.PARTY, city_id=B, now=DEADLINE)
    with pytest.raises(Forbidden, match="party's officer"):
        decide(state(S.ACTIVE), Action.CONCLUDE, Actor.PLATFORM, now=NOW)
    # The platform suspends on a party's escalation to active conflict; it resumes nothing.
    assert decide(state(S.ACTIVE), Action.SUSPEND, Actor.PLATFORM, now=NOW).to_status is S.SUSPENDED
    with pytest.raises(Forbidden, match="party's officer"):
        decide(state(S.SUSPENDED), Action.RESUME, Actor.PLATFORM, now=NOW)


# --- Terms, links, money ---------------------------------------------------------------------


def terms(**changes: object) -> None:
    values: dict = {
        "domains": ["waste-collection"],
        "start_date": date(2027, 4, 1),
        "end_date": date(2028, 3, 31),
        "accept_by": DEADLINE,
        "now": NOW,
    }
    check_terms(**{**values, **changes})


def test_good_terms_pass() -> None:
    terms()
    terms(domains=[], start_date=None, end_date=None)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"domains": ["Waste Collection"]}, "not a domain code"),
        ({"domains": ["transport", "transport"]}, "listed twice: transport"),
        ({"end_date": date(2027, 4, 1)}, "must be after start_date"),
        ({"start_date": None, "end_date": date(2027, 2, 1)}, "in the past"),
        ({"accept_by": NOW}, "must be in the future"),
        ({"accept_by": NOW + timedelta(days=366)}, "at most 365 days"),
    ],
)
def test_bad_terms_say_what_is_wrong(changes: dict, message: str) -> None:
    with pytest.raises(DomainError, match=message):
        terms(**changes)


NEED = LinkedItem(uuid.uuid4(), "need", A, "Training for waste collection teams", "open")


@pytest.mark.parametrize(
    ("kind", "item", "message"),
    [
        ("need", None, "not known to matching"),
        ("offer", NEED, "is a need, not an offer: name it as a need"),
        ("need", LinkedItem(NEED.id, "need", A, NEED.title, "withdrawn"), "is withdrawn, not open"),
        ("need", LinkedItem(NEED.id, "need", C, NEED.title, "open"), f"belongs to city {C}"),
    ],
)
def test_linked_needs_and_offers_must_be_open_ones_of_the_parties(
    kind: str, item: LinkedItem | None, message: str
) -> None:
    known = {NEED.id: item} if item else {}
    with pytest.raises(DomainError, match=message):
        check_links(kind, [NEED.id], known, [A, B])
    check_links("need", [NEED.id], {NEED.id: NEED}, [A, B])
    with pytest.raises(DomainError, match="linked twice"):
        check_links("need", [NEED.id, NEED.id], {NEED.id: NEED}, [A, B])


def test_budget_requests_are_positive_with_the_currency_s_decimals() -> None:
    assert minor_units(Decimal("48000.50"), "EUR") == 4800050
    assert minor_units(Decimal("2500000"), "XOF") == 2500000
    for amount, currency, message in [
        ("10.005", "EUR", "EUR has 2 decimal places"),
        ("10.5", "XOF", "XOF has 0 decimal places"),
        ("0", "EUR", "must be positive"),
        ("-5", "EUR", "must be positive"),
    ]:
        with pytest.raises(ValueError, match=message):
            minor_units(Decimal(amount), currency)
