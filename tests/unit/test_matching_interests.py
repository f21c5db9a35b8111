"""The pure rules of expressions of interest, of who speaks for a city, of partnership health and
of which assessments count as active conflict."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import Field

from services.matching.domain import (
    LinkedItem,
    Mandate,
    check_speaks_for,
    covers,
    speaking_network,
    touches,
    voice_domains,
)
from services.matching.health import days_since, funding_activity_specs, silent_since
from services.matching.interests import (
    Answer,
    InterestKind,
    InterestState,
    InterestStatus,
    answer,
    answer_by,
    check_expression,
    check_may_become_agreement,
    closable,
    expiry_reason,
    unanswered_since,
    withdraw,
)
from services.matching.reactions import in_active_conflict
from shared.auth import Grant, Principal
from shared.contracts import EventSpec, Payload
from shared.contracts.funding import EVENTS as FUNDING_EVENTS
from shared.errors import Conflict, DomainError, Forbidden

LOME, LYON, DAKAR = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
NEED = LinkedItem(uuid.uuid4(), "need", LOME, "Waste collection rounds", "open")
OFFER = LinkedItem(uuid.uuid4(), "offer", LYON, "Collection engineers", "open")
DAKAR_OFFER = LinkedItem(uuid.uuid4(), "offer", DAKAR, "Training", "open")
ITEMS = {item.id: item for item in (NEED, OFFER, DAKAR_OFFER)}
IS = InterestStatus


def test_asking_for_help_with_one_s_own_need_is_a_request() -> None:
    assert check_expression(LOME, LYON, NEED.id, OFFER.id, ITEMS) is InterestKind.REQUEST
    assert check_expression(LOME, LYON, NEED.id, None, ITEMS) is InterestKind.REQUEST


def test_offering_help_with_the_other_s_need_is_an_offer() -> None:
    assert check_expression(LYON, LOME, NEED.id, OFFER.id, ITEMS) is InterestKind.OFFER


@pytest.mark.parametrize(
    ("asker", "asked", "need", "offer", "items", "message"),
    [
        (LOME, LOME, NEED.id, None, ITEMS, "cannot express interest to itself"),
        (LYON, DAKAR, NEED.id, None, ITEMS, "neither the asking city nor the city asked"),
        (LOME, LYON, uuid.uuid4(), None, ITEMS, "not known to matching"),
        (LOME, LYON, OFFER.id, None, ITEMS, "is an offer, not a need"),
        (LOME, LYON, NEED.id, NEED.id, ITEMS, "is a need, not an offer"),
        (LOME, LYON, NEED.id, DAKAR_OFFER.id, ITEMS, f"must be one of city {LYON}'s"),
        (LYON, LOME, NEED.id, OFFER.id, ITEMS, None),  # the control: this one passes
        (
            LOME,
            LYON,
            NEED.id,
            None,
            {NEED.id: LinkedItem(NEED.id, "need", LOME, NEED.title, "withdrawn")},
            "is withdrawn, not open",
        ),
    ],
)
def test_bad_expressions_of_interest_say_what_is_wrong(
    asker: uuid.UUID,
    asked: uuid.UUID,
    need: uuid.UUID,
    offer: uuid.UUID | None,
    items: dict[uuid.UUID, LinkedItem],
    message: str | None,
) -> None:
    if message is None:
        check_expression(asker, asked, need, offer, items)
        return
    with pytest.raises(DomainError, match=message):
        check_expression(asker, asked, need, offer, items)


def state(status: InterestStatus, agreement: uuid.UUID | None = None) -> InterestState:
    return InterestState(status, agreement)


def test_an_open_expression_of_interest_is_answered_once() -> None:
    assert answer(state(IS.OPEN), Answer.ACCEPT, None) is True
    assert answer(state(IS.OPEN), Answer.DECLINE, "not this year") is True
    # The same answer again is a harmless repeat; another one is refused with the state.
    assert answer(state(IS.ACCEPTED), Answer.ACCEPT, None) is False
    with pytest.raises(Conflict, match="is accepted; it cannot be answered"):
        answer(state(IS.ACCEPTED), Answer.DECLINE, "changed our mind")
    with pytest.raises(Conflict, match="is withdrawn"):
        answer(state(IS.WITHDRAWN), Answer.ACCEPT, None)


def test_declining_needs_a_message() -> None:
    with pytest.raises(DomainError, match="needs a message"):
        answer(state(IS.OPEN), Answer.DECLINE, "  ")


def test_the_asker_withdraws_until_it_became_an_agreement() -> None:
    assert withdraw(state(IS.OPEN)) and withdraw(state(IS.ACCEPTED))
    assert withdraw(state(IS.WITHDRAWN)) is False
    agreement = uuid.uuid4()
    with pytest.raises(Conflict, match=f"became agreement {agreement}"):
        withdraw(state(IS.ACCEPTED, agreement))
    for ended in (IS.DECLINED, IS.CLOSED):
        with pytest.raises(Conflict, match=f"is {ended}"):
            withdraw(state(ended))


def test_the_platform_closes_only_what_is_still_open() -> None:
    assert closable(state(IS.OPEN)) and closable(state(IS.ACCEPTED))
    assert not closable(state(IS.ACCEPTED, uuid.uuid4()))
    assert not any(closable(state(s)) for s in (IS.DECLINED, IS.WITHDRAWN, IS.CLOSED))


def test_an_expired_expression_of_interest_is_over() -> None:
    """Nothing more happens to it: neither an answer, nor a withdrawal, nor a closure."""
    with pytest.raises(Conflict, match="is expired; it cannot be answered"):
        answer(state(IS.EXPIRED), Answer.ACCEPT, None)
    with pytest.raises(Conflict, match="is expired; it cannot be withdrawn"):
        withdraw(state(IS.EXPIRED))
    assert not closable(state(IS.EXPIRED))


def test_an_expression_of_interest_expires_after_the_days_to_answer() -> None:
    now = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
    assert unanswered_since(now, 30) == datetime(2027, 5, 2, 12, 0, tzinfo=UTC)
    # What the city asked is shown: the same instant, seen from the day it was expressed.
    expressed = unanswered_since(now, 30)
    assert answer_by(IS.OPEN, expressed, 30) == now
    assert all(answer_by(s, expressed, 30) is None for s in IS if s is not IS.OPEN)
    assert expiry_reason(30).startswith("not answered within 30 days")


def test_only_an_accepted_expression_of_interest_becomes_an_agreement_once() -> None:
    both = {LOME, LYON}
    check_may_become_agreement(state(IS.ACCEPTED), both, {LOME, LYON, DAKAR})
    with pytest.raises(Conflict, match="only an accepted one"):
        check_may_become_agreement(state(IS.OPEN), both, both)
    with pytest.raises(Conflict, match="already became agreement"):
        check_may_become_agreement(state(IS.ACCEPTED, uuid.uuid4()), both, both)
    with pytest.raises(DomainError, match=f"concerns city {LYON} too"):
        check_may_become_agreement(state(IS.ACCEPTED), both, {LOME, DAKAR})


# --- Who speaks for a city -------------------------------------------------------------------

ALDA, UCLG = uuid.uuid4(), uuid.uuid4()
MANDATES = [Mandate(ALDA, frozenset({"inter-ethnic-dialogue"})), Mandate(UCLG, frozenset())]


def principal(*grants: str) -> Principal:
    return Principal("someone", "user", frozenset(Grant.parse(g) for g in grants), 0.0)


def test_a_city_s_officers_speak_for_it_in_every_domain_wherever_it_is() -> None:
    lome = principal(f"city_officer:{LOME}")
    assert voice_domains(lome, LOME, False, ()) is None
    assert voice_domains(lome, LOME, True, MANDATES) is None
    assert voice_domains(principal(f"city_officer:{LYON}"), LOME, True, MANDATES) == set()


def test_a_network_speaks_for_a_city_of_a_conflict_zone_within_its_mandate() -> None:
    alda, uclg = principal(f"network_officer:{ALDA}"), principal(f"network_officer:{UCLG}")
    assert voice_domains(alda, LOME, True, MANDATES) == {"inter-ethnic-dialogue"}
    assert voice_domains(uclg, LOME, True, MANDATES) is None  # a mandate in every domain
    unmandated = principal(f"network_officer:{uuid.uuid4()}")
    assert voice_domains(unmandated, LOME, True, MANDATES) == set()
    # Outside a conflict zone, only the city's own officers speak for it.
    assert voice_domains(uclg, LOME, False, MANDATES) == set()
    both = principal(f"network_officer:{ALDA}", f"network_officer:{UCLG}")
    assert voice_domains(both, LOME, True, MANDATES) is None
    water = Mandate(UCLG, frozenset({"drinking-water"}))
    assert voice_domains(both, LOME, True, [MANDATES[0], water]) == {
        "inter-ethnic-dialogue",
        "drinking-water",
    }
    assert covers(None, "drinking-water") and covers(
        frozenset({"drinking-water"}), "drinking-water"
    )
    assert not covers(frozenset({"inter-ethnic-dialogue"}), "drinking-water")
    assert not covers(frozenset(), "drinking-water")


def test_a_refusal_says_why_the_caller_does_not_speak_for_the_city() -> None:
    dialogue = frozenset({"inter-ethnic-dialogue"})
    alda = principal(f"network_officer:{ALDA}")
    check_speaks_for(alda, LOME, True, dialogue, "inter-ethnic-dialogue")
    check_speaks_for(alda, LOME, True, dialogue, None)  # asking in no domain in particular
    check_speaks_for(principal(f"city_officer:{LOME}"), LOME, False, None, "drinking-water")
    with pytest.raises(Forbidden, match=f"not for city {LOME}; ask that city's officer"):
        check_speaks_for(principal(f"city_officer:{LYON}"), LOME, True, frozenset(), None)
    with pytest.raises(Forbidden, match=f"city {LOME} is not in a conflict zone"):
        check_speaks_for(alda, LOME, False, frozenset(), None)
    with pytest.raises(Forbidden, match="no network you are an officer of holds its mandate \\("):
        check_speaks_for(alda, LOME, True, frozenset(), None)
    with pytest.raises(Forbidden, match="covers inter-ethnic-dialogue, not drinking-water"):
        check_speaks_for(alda, LOME, True, dialogue, "drinking-water")


def test_on_an_agreement_a_network_speaks_for_the_city_only_on_all_of_its_domains() -> None:
    """An agreement is about several domains (its own, its linked needs' and offers'): the
    mandate must cover each; it is seen by a network whose mandate reaches one of them."""
    alda = principal(f"network_officer:{ALDA}")
    dialogue = frozenset({"inter-ethnic-dialogue"})
    agreement = frozenset({"inter-ethnic-dialogue", "drinking-water"})
    assert covers(dialogue, frozenset({"inter-ethnic-dialogue"}))
    assert not covers(dialogue, agreement) and touches(dialogue, agreement)
    assert not touches(dialogue, frozenset({"sports"}))
    # An agreement in no domain: only inside a mandate in every domain.
    assert covers(None, frozenset()) and not covers(dialogue, frozenset())
    assert touches(None, frozenset()) and not touches(dialogue, frozenset())
    with pytest.raises(Forbidden, match="covers inter-ethnic-dialogue, not drinking-water;"):
        check_speaks_for(alda, LOME, True, dialogue, agreement)
    with pytest.raises(Forbidden, match="not a matter in no domain"):
        check_speaks_for(alda, LOME, True, dialogue, frozenset())


def test_the_record_names_the_network_whose_mandate_covers_the_agreement() -> None:
    both = principal(f"network_officer:{ALDA}", f"network_officer:{UCLG}")
    water = frozenset({"drinking-water"})
    assert speaking_network(both, MANDATES, water) == UCLG  # ALDA's mandate does not cover it
    dialogue = frozenset({"inter-ethnic-dialogue"})
    first = min((ALDA, UCLG), key=str)
    assert speaking_network(both, MANDATES, dialogue) == first  # both do: the first by id
    assert speaking_network(principal(f"network_officer:{ALDA}"), MANDATES, water) is None
    # Two mandates cover it together: the network covering part of it is named.
    narrow = [Mandate(ALDA, frozenset({"sports"})), Mandate(UCLG, water)]
    assert speaking_network(both, narrow, water | {"sports"}) == min((ALDA, UCLG), key=str)


# --- Health, conflict ------------------------------------------------------------------------


def test_dormancy_counts_whole_days_of_silence() -> None:
    now = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
    assert silent_since(now, 90) == now - timedelta(days=90)
    assert days_since(now - timedelta(days=90, hours=23), now) == 90


class _AboutAnAgreement(Payload):
    agreement_id: uuid.UUID | None = Field(None)


def test_funding_events_count_as_activity_when_they_name_an_agreement() -> None:
    about = EventSpec(
        "TrancheReleased", _AboutAnAgreement, "funding.events", "/f", "x", _AboutAnAgreement()
    )
    assert funding_activity_specs([*FUNDING_EVENTS, about]) == [
        *(s for s in FUNDING_EVENTS if "agreement_id" in s.payload.model_fields),
        about,
    ]
    assert not any(s.type == "FundCreated" for s in funding_activity_specs(FUNDING_EVENTS))


@pytest.mark.parametrize(
    ("zone", "phase", "active"),
    [
        ("conflict_zone", "active", True),
        ("conflict_zone", "post_conflict", False),
        ("conflict_zone", "pre_conflict", False),
        ("zone_of_peace", "active", False),  # where city diplomacy can go on, says the report
        ("none", None, False),
        (None, None, False),
    ],
)
def test_only_the_active_phase_in_a_conflict_zone_is_active_conflict(
    zone: str | None, phase: str | None, active: bool
) -> None:
    assert in_active_conflict(zone, phase) is active
