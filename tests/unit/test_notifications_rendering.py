"""Safe rendering: what users wrote is escaped in HTML, and a template can read nothing but its
notice's whitelisted view (never a conflict-zone city's contacts, never an assessment's notes)."""

import uuid
from datetime import UTC, date, datetime

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from services.notifications.domain import Audience, Digest, RecipientKind
from services.notifications.notices import NOTICES, Names, Notice
from services.notifications.rendering import digest_email, email_of, render
from shared.contracts.matching import AgreementSuspended
from shared.contracts.registry.conflict import ConflictProfileAssessed

CITY = uuid.uuid4()
SCRIPT = '<script>alert("x")</script> & <b>bold</b>'


def _suspension(reason: str) -> AgreementSuspended:
    return AgreementSuspended(
        agreement_id=uuid.uuid4(),
        title=f"Water {SCRIPT}",
        party_city_ids=[CITY],
        status="suspended",
        previous_status="active",
        by_city_id=CITY,
        by_subject=None,
        reason=reason,
    )


def test_user_text_is_escaped_in_html_and_verbatim_in_plain_text() -> None:
    notice = NOTICES["AgreementSuspended"]
    audience = Audience(RecipientKind.CITY, CITY)
    view = notice.view(_suspension(SCRIPT), Names(cities={CITY: "Kyiv & <Co>"}), audience)
    rendered = render(notice, "fr", view)
    message = email_of(rendered)

    assert "<script>" not in message.html and "<b>bold</b>" not in message.html
    assert (
        "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;"
        in message.html
    )
    assert "Kyiv &amp; &lt;Co&gt; a suspendu l'accord" in message.html
    assert SCRIPT in message.text and "Kyiv & <Co> a suspendu" in message.text
    assert message.subject == f"Accord suspendu : Water {SCRIPT}"  # a header, not HTML


def test_a_digest_escapes_each_item_too() -> None:
    notice = NOTICES["AgreementSuspended"]
    audience = Audience(RecipientKind.CITY, CITY)
    rendered = render(notice, "en", notice.view(_suspension(SCRIPT), Names(), audience))
    start = datetime(2026, 11, 22, tzinfo=UTC)
    message = digest_email([rendered, rendered], Digest.DAILY, start, "es")
    assert message.subject == "Su resumen diario: 2 notificaciones"
    assert "<script>" not in message.html and message.html.count("&lt;script&gt;") == 4
    assert message.text.count(SCRIPT) == 4


class _AssessmentWithContacts(ConflictProfileAssessed):
    """An assessment as a producer might one day send it, with what no notice may show."""

    notes: str
    contact_phone: str


def _assessment() -> _AssessmentWithContacts:
    example = NOTICES["ConflictProfileAssessed"].spec.example
    return _AssessmentWithContacts(
        **{**example.model_dump(), "city_id": CITY},
        notes="the mayor's deputy is under threat",
        contact_phone="+380 44 000 0000",
    )


def test_the_view_of_a_conflict_assessment_holds_no_notes_nor_contacts() -> None:
    notice = NOTICES["ConflictProfileAssessed"]
    view = notice.view(_assessment(), Names(), Audience(RecipientKind.CITY, CITY))
    assert set(view) == {"phase", "hold"}
    for language in ("en", "fr", "es"):
        message = email_of(render(notice, language, view))
        for secret in ("under threat", "+380"):
            assert secret not in message.text and secret not in message.html


@pytest.mark.parametrize(
    "template, refusal",
    [
        ("{{ notes }}", UndefinedError),
        ("{{ contact_phone }}", UndefinedError),
        ("{{ payload.notes }}", UndefinedError),
        # Walking from a value to Python internals is what the sandbox stops.
        ("{{ phase.__class__.__mro__ }}", SecurityError),
        ("{{ phase.format.__globals__ }}", SecurityError),
    ],
)
def test_a_template_that_reaches_beyond_its_view_fails_instead_of_rendering(
    template: str, refusal: type[Exception]
) -> None:
    real = NOTICES["ConflictProfileAssessed"]
    prying = Notice(real.spec, real.audiences, real.view, {"en": ("Assessed", template)})
    view = real.view(_assessment(), Names(), Audience(RecipientKind.CITY, CITY))
    with pytest.raises(refusal):
        render(prying, "en", view)


def test_views_hold_plain_values_only() -> None:
    """No object in a view means nothing to walk into from a template."""
    for notice in NOTICES.values():
        example = notice.spec.example
        for audience in notice.audiences(example):
            for value in notice.view(example, Names(), audience).values():
                assert value is None or isinstance(value, str | bool | int), (
                    f"{notice.spec.type}: {value!r}"
                )
                assert not isinstance(value, date)
