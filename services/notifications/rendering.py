"""Words from templates: a notice's subject and body in the recipient's language, as plain text
and as HTML, and the email around them (one event, or a digest of several).

Templates run in Jinja's sandbox with StrictUndefined over the notice's view alone: a template
naming anything the view does not hold fails rather than render it, and nothing in a view is an
object to walk into. The HTML environment autoescapes, so user-provided text (a need's title, a
reason) is escaped in HTML and kept verbatim in plain text."""

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from jinja2 import StrictUndefined, Template
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from services.notifications.domain import FALLBACK_LANGUAGE, Digest, Language, View
from services.notifications.notices import Notice

log = logging.getLogger(__name__)

_TEXT = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_HTML = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


@functools.cache
def _compiled(html: bool, source: str) -> Template:
    return (_HTML if html else _TEXT).from_string(source)


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: Markup
    language: Language
    # The recipient's language when the notice has no template in it (English was used).
    missing_language: Language | None = None


def render(notice: Notice, language: Language, view: View) -> Rendered:
    missing = None
    if language not in notice.templates:
        log.warning(
            "template missing, English used",
            extra={"event_type": notice.spec.type, "language": language},
        )
        missing, language = language, FALLBACK_LANGUAGE
    subject_source, body_source = notice.templates[language]
    # A subject is one header line, whatever the values in it.
    subject = " ".join(_compiled(False, subject_source).render(view).split())
    return Rendered(
        subject=subject,
        text=_compiled(False, body_source).render(view),
        html=Markup(_compiled(True, body_source).render(view)),
        language=language,
        missing_language=missing,
    )


_FOOTER = {
    "en": "You receive this as an official on city-exchange. Choose what you receive, where "
    "and how often in your notification preferences.",
    "fr": "Vous recevez ce message en tant que responsable sur city-exchange. Choisissez ce que "
    "vous recevez, où et à quelle fréquence dans vos préférences de notification.",
    "es": "Recibe este mensaje como responsable en city-exchange. Elija qué recibe, dónde y con "
    "qué frecuencia en sus preferencias de notificación.",
}

_DIGEST_SUBJECT = {
    "en": "Your {period} digest: {count} notification{s}",
    "fr": "Votre résumé {period} : {count} notification{s}",
    "es": "Su resumen {period}: {count} notificaci{es}",
}
_PERIOD = {
    "en": {Digest.DAILY: "daily", Digest.WEEKLY: "weekly"},
    "fr": {Digest.DAILY: "quotidien", Digest.WEEKLY: "hebdomadaire"},
    "es": {Digest.DAILY: "diario", Digest.WEEKLY: "semanal"},
}
_SINCE = {"en": "Since {start}:", "fr": "Depuis le {start} :", "es": "Desde el {start}:"}

_TEXT_LAYOUT = _TEXT.from_string("{{ body }}\n\n-- \ncity-exchange. {{ footer }}\n")
_HTML_LAYOUT = _HTML.from_string(
    '<!DOCTYPE html>\n<html lang="{{ lang }}"><head><meta charset="utf-8">'
    "<title>{{ subject }}</title></head>\n<body>\n{{ body }}\n"
    '<hr><p style="color:#666;font-size:small">city-exchange. {{ footer }}</p>\n</body></html>\n'
)


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


def _laid_out(subject: str, text: str, html: Markup, language: Language) -> Message:
    footer = _FOOTER[language]
    return Message(
        subject=subject,
        text=_TEXT_LAYOUT.render(body=text, footer=footer),
        html=_HTML_LAYOUT.render(subject=subject, body=html, footer=footer, lang=language),
    )


def email_of(rendered: Rendered) -> Message:
    """One event's email."""
    html = Markup("<p>{}</p>").format(rendered.html)
    return _laid_out(rendered.subject, rendered.text, html, rendered.language)


def digest_email(
    items: Sequence[Rendered], digest: Digest, start: datetime, language: Language
) -> Message:
    """One email for the period's notifications, oldest first, each its subject and body."""
    count = len(items)
    subject = _DIGEST_SUBJECT[language].format(
        period=_PERIOD[language][digest],
        count=count,
        s="s" if count > 1 else "",
        es="ones" if count > 1 else "ón",
    )
    since = _SINCE[language].format(start=start.date().isoformat())
    text = since + "".join(f"\n\n* {item.subject}\n  {item.text}" for item in items)
    html = Markup("<p>{}</p>\n<ul>\n{}</ul>").format(
        since,
        Markup("").join(
            Markup("<li><strong>{}</strong><br>{}</li>\n").format(item.subject, item.html)
            for item in items
        ),
    )
    return _laid_out(subject, text, html, language)
