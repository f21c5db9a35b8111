import uuid
from decimal import Decimal

from services.notifications import domain
from services.notifications.domain import RecipientKind
from shared.contracts.funding import ContributionPledged
from shared.contracts.matching import AgreementAccepted, AgreementProposed

LOME, LYON = uuid.uuid4(), uuid.uuid4()
NAMES = {LOME: "Lomé", LYON: "Lyon"}


def test_every_party_hears_of_a_proposal_and_the_invited_one_is_asked_to_accept() -> None:
    proposal = AgreementProposed(
        agreement_id=uuid.uuid4(),
        title="Waste collection",
        kind="bilateral",
        party_city_ids=[LOME, LYON],
        proposed_by_city_id=LOME,
    )
    entries = {e.recipient_id: e for e in domain.agreement_proposed(proposal, NAMES)}
    assert set(entries) == {LOME, LYON}
    assert (
        entries[LYON].body
        == "Lomé proposed a bilateral agreement; your city is invited to accept it."
    )
    assert entries[LOME].body == "Lomé proposed a bilateral agreement."


def test_an_unknown_name_does_not_hold_up_the_news() -> None:
    accepted = AgreementAccepted(
        agreement_id=uuid.uuid4(),
        title="t",
        city_id=uuid.uuid4(),
        party_city_ids=[LOME],
        all_parties_accepted=False,
    )
    [entry] = domain.agreement_accepted(accepted, NAMES)
    assert entry.body == "a partner city accepted the agreement."


def test_a_pledge_is_news_for_its_fund() -> None:
    fund_id = uuid.uuid4()
    pledge = ContributionPledged(
        pledge_id=uuid.uuid4(),
        fund_id=fund_id,
        donor_name="Principauté de Monaco",
        donor_kind="government",
        amount=Decimal("100000.00"),
        currency="EUR",
    )
    [entry] = domain.contribution_pledged(pledge)
    assert (entry.recipient_kind, entry.recipient_id) == (RecipientKind.FUND, fund_id)
    assert "pledged 100000.00 EUR" in entry.body
