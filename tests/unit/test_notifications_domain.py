"""Notifications' pure rules: audiences, preferences, digest periods, and the words of every
notice in every language."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from services.notifications import domain
from services.notifications.domain import Audience, Channel, Digest, RecipientKind
from services.notifications.notices import NOTICES, Names
from services.notifications.rendering import render
from shared.contracts.funding import ContributionPledged
from shared.contracts.matching import AgreementAccepted, AgreementProposed
from shared.errors import DomainError

LOME, LYON = uuid.uuid4(), uuid.uuid4()
NAMES = Names(cities={LOME: "Lomé", LYON: "Lyon"})


def _told(event_type: str, payload: object, names: Names = NAMES) -> dict[Audience, str]:
    notice = NOTICES[event_type]
    return {
        audience: render(notice, "en", notice.view(payload, names, audience)).text
        for audience in notice.audiences(payload)
    }


def test_every_party_hears_of_a_proposal_and_the_invited_one_is_asked_to_accept() -> None:
    proposal = AgreementProposed(
        agreement_id=uuid.uuid4(),
        title="Waste collection",
        kind="bilateral",
        party_city_ids=[LOME, LYON],
        proposed_by_city_id=LOME,
    )
    told = _told("AgreementProposed", proposal)
    assert told == {
        Audience(RecipientKind.CITY, LOME): "Lomé proposed a bilateral agreement.",
        Audience(RecipientKind.CITY, LYON): (
            "Lomé proposed a bilateral agreement; your city is invited to accept it."
        ),
    }


def test_an_unknown_name_does_not_hold_up_the_news() -> None:
    accepted = AgreementAccepted(
        agreement_id=uuid.uuid4(),
        title="t",
        city_id=uuid.uuid4(),
        party_city_ids=[LOME],
        all_parties_accepted=False,
    )
    assert list(_told("AgreementAccepted", accepted).values()) == [
        "a partner city accepted the agreement."
    ]


def _pledge(donor_id: uuid.UUID | None) -> ContributionPledged:
    return ContributionPledged(
        pledge_id=uuid.uuid4(),
        fund_id=LYON,
        donor_id=donor_id,
        donor_name="Principauté de Monaco",
        donor_kind="government",
        amount=Decimal("100000.00"),
        currency="EUR",
    )


def test_a_pledge_is_news_for_its_fund_and_its_donor_only_an_offline_one_for_the_fund() -> None:
    donor = uuid.uuid4()
    told = _told("ContributionPledged", _pledge(donor))
    assert set(told) == {Audience(RecipientKind.FUND, LYON), Audience(RecipientKind.DONOR, donor)}
    assert all("pledged 100000.00 EUR" in text for text in told.values())
    assert set(_told("ContributionPledged", _pledge(None))) == {Audience(RecipientKind.FUND, LYON)}


@pytest.mark.parametrize("event_type", sorted(NOTICES))
@pytest.mark.parametrize("language", domain.LANGUAGES)
def test_every_notice_speaks_every_language_to_every_audience(
    event_type: str, language: domain.Language
) -> None:
    """Rendered from the contract's own example, with and without the names known: a template
    naming a value its view lacks fails here (StrictUndefined)."""
    notice = NOTICES[event_type]
    example = notice.spec.example
    audiences = notice.audiences(example)
    assert audiences, f"{event_type} reaches no one"
    for names in (Names(), Names(cities={LOME: "Lomé"})):
        for audience in audiences:
            rendered = render(notice, language, notice.view(example, names, audience))
            assert rendered.language == language and rendered.missing_language is None
            assert rendered.subject and rendered.text and "{" not in rendered.text
            assert "\n" not in rendered.subject


def test_a_missing_language_falls_back_to_english_and_says_so() -> None:
    notice = NOTICES["FundCreated"]
    english_only = type(notice)(
        notice.spec, notice.audiences, notice.view, {"en": notice.templates["en"]}
    )
    view = notice.view(notice.spec.example, Names(), Audience(RecipientKind.FUND, LYON))
    rendered = render(english_only, "es", view)
    assert rendered.language == "en" and rendered.missing_language == "es"
    assert rendered.subject == "Fund created: International City Solidarity Fund"


def test_roles_map_to_audiences() -> None:
    assert domain.audience_of_role("city_officer", str(LOME)) == Audience(RecipientKind.CITY, LOME)
    assert domain.audience_of_role("platform_admin", None) == Audience(
        RecipientKind.PLATFORM, domain.THE_PLATFORM
    )
    assert domain.audience_of_role("fund_admin", "not-a-uuid") is None
    assert domain.audience_of_role("auditor", str(LOME)) is None


def test_defaults_put_everything_in_the_app_and_email_what_others_did() -> None:
    assert domain.wants({}, "NeedPublished", Channel.IN_APP, email_by_default=False)
    assert not domain.wants({}, "NeedPublished", Channel.EMAIL, email_by_default=False)
    assert domain.wants({}, "AgreementProposed", Channel.EMAIL, email_by_default=True)
    chosen = {"AgreementProposed": {"email": False}, "NeedPublished": {"in_app": False}}
    assert not domain.wants(chosen, "AgreementProposed", Channel.EMAIL, email_by_default=True)
    assert domain.wants(chosen, "AgreementProposed", Channel.IN_APP, email_by_default=True)
    assert not domain.wants(chosen, "NeedPublished", Channel.IN_APP, email_by_default=False)


def test_an_unknown_event_type_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(DomainError) as refused:
        domain.check_event_types({"AgreementSigned": {}}, ["AgreementProposed", "FundCreated"])
    assert refused.value.status_code == 422
    assert "AgreementSigned" in refused.value.message
    assert "AgreementProposed, FundCreated" in refused.value.message


@pytest.mark.parametrize(
    "address", ["maire", "a b@lome.tg", "a@lome", "a@lome.tg\r\nBcc: x@y.z", "x" * 250 + "@a.bc"]
)
def test_an_email_address_is_one_address(address: str) -> None:
    with pytest.raises(DomainError):
        domain.check_email(address)


def test_officers_read_in_their_city_s_first_language_we_write_in() -> None:
    assert domain.default_language([["ee", "fr"]]) == "fr"
    assert domain.default_language([["ka"], ["es"]]) == "es"
    assert domain.default_language([["ka"]]) == "en"
    assert domain.default_language([]) == "en"


def test_digest_periods_are_utc_days_and_iso_weeks() -> None:
    sunday = datetime(2026, 11, 22, 23, 59, tzinfo=UTC)
    assert domain.digest_period(Digest.DAILY, sunday) == (
        datetime(2026, 11, 22, tzinfo=UTC),
        datetime(2026, 11, 23, tzinfo=UTC),
    )
    assert domain.digest_period(Digest.WEEKLY, sunday) == (
        datetime(2026, 11, 16, tzinfo=UTC),
        datetime(2026, 11, 23, tzinfo=UTC),
    )
    with pytest.raises(ValueError):
        domain.digest_period(Digest.IMMEDIATE, sunday)


def test_retries_back_off_up_to_a_cap() -> None:
    waits = [domain.retry_delay(n, first=30, most=3600) for n in range(1, 10)]
    assert waits[:3] == [timedelta(seconds=30), timedelta(seconds=60), timedelta(seconds=120)]
    assert waits[-1] == timedelta(seconds=3600)


def test_the_message_id_is_the_delivery_s() -> None:
    delivery = uuid.uuid4()
    assert domain.message_id(delivery, "n.example") == f"<{delivery}@n.example>"
