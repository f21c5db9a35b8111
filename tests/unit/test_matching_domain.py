import uuid

import pytest

from services.matching.domain import AgreementKind, AgreementStatus, accept, check_proposal
from shared.errors import Conflict, DomainError

A, B, C = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


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


def test_the_last_acceptance_completes_the_agreement() -> None:
    result = accept(AgreementStatus.PROPOSED, {A: True, B: False}, B)
    assert (result.newly_accepted, result.all_accepted) == (True, True)


def test_an_earlier_acceptance_leaves_others_to_accept() -> None:
    result = accept(AgreementStatus.PROPOSED, {A: True, B: False, C: False}, B)
    assert (result.newly_accepted, result.all_accepted) == (True, False)


def test_accepting_again_changes_nothing() -> None:
    result = accept(AgreementStatus.ACCEPTED, {A: True, B: True}, B)
    assert (result.newly_accepted, result.all_accepted) == (False, True)


def test_only_parties_accept() -> None:
    with pytest.raises(DomainError, match="not a party"):
        accept(AgreementStatus.PROPOSED, {A: True, B: False}, C)


def test_a_settled_agreement_cannot_take_a_new_acceptance() -> None:
    with pytest.raises(Conflict, match="the agreement is accepted"):
        accept(AgreementStatus.ACCEPTED, {A: True, B: False}, B)
