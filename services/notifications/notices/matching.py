"""What matching's events say: an agreement's life, told to every party."""

from typing import Any

from services.notifications.domain import Audience, RecipientKind, View
from services.notifications.notices.base import REASON, Names, Notice, parties
from shared.contracts import EventSpec
from shared.contracts.matching import (
    AGREEMENT_ACCEPTED,
    AGREEMENT_ACTIVATED,
    AGREEMENT_ACTIVITY_REPORTED,
    AGREEMENT_BLOCKED,
    AGREEMENT_CONCLUDED,
    AGREEMENT_DORMANT,
    AGREEMENT_EXPIRED,
    AGREEMENT_PROPOSED,
    AGREEMENT_REJECTED,
    AGREEMENT_RESUMED,
    AGREEMENT_SUSPENDED,
    AGREEMENT_TERMINATED,
    AGREEMENT_UNBLOCKED,
    AGREEMENT_WITHDRAWN,
    PARTNERSHIP_INTEREST_ANSWERED,
    PARTNERSHIP_INTEREST_CLOSED,
    PARTNERSHIP_INTEREST_EXPIRED,
    PARTNERSHIP_INTEREST_EXPRESSED,
    PARTNERSHIP_INTEREST_WITHDRAWN,
)


def _agreement_proposed(p: Any, names: Names, audience: Audience) -> View:
    return {
        "title": p.title,
        "kind": p.kind,
        "proposer": names.city(p.proposed_by_city_id),
        "invited": audience.id != p.proposed_by_city_id,
    }


def _agreement_accepted(p: Any, names: Names, _audience: Audience) -> View:
    return {"title": p.title, "city": names.city(p.city_id), "all": p.all_parties_accepted}


def _agreement_changed(p: Any, names: Names, _audience: Audience) -> View:
    return {"title": p.title, "by": names.city(p.by_city_id), "reason": p.reason}


def _transition(spec: EventSpec, **texts: tuple[str, str]) -> Notice:
    """An agreement's change of status, told to every party with who made it and why: per
    language, the subject and the body, to which the reason (if any) is added."""
    templates = {lang: (subject, body + REASON) for lang, (subject, body) in texts.items()}
    return Notice(spec, parties, _agreement_changed, templates)  # type: ignore[arg-type]


_BY = {
    "en": "{{ by or 'A party' }}",
    "fr": "{{ by or 'Une partie' }}",
    "es": "{{ by or 'Una parte' }}",
}


def _activity(p: Any, names: Names, _audience: Audience) -> View:
    return {"title": p.title, "city": names.city(p.city_id), "text": p.text}


def _dormant(p: Any, _names: Names, _audience: Audience) -> View:
    return {"title": p.title, "days": p.days_since_activity}


def _block(p: Any, _names: Names, _audience: Audience) -> View:
    return {"title": p.title, "reason": p.reason, "still": len(p.blocks)}


def _asked(p: Any) -> set[Audience]:
    return {Audience(RecipientKind.CITY, p.to_city_id)}


def _asker(p: Any) -> set[Audience]:
    return {Audience(RecipientKind.CITY, p.from_city_id)}


def _both(p: Any) -> set[Audience]:
    return _asked(p) | _asker(p)


def _interest(p: Any, names: Names, _audience: Audience) -> View:
    return {
        "from": names.city(p.from_city_id),
        "to": names.city(p.to_city_id),
        "need": p.need_title,
        "offering": p.kind == "offer",
        "status": p.status,
        "message": p.message,
    }


# A message, when there is one, quoted after the sentence.
_MESSAGE = "{% if message %} « {{ message }} »{% endif %}"
_QUOTE = {"en": "{% if message %} “{{ message }}”{% endif %}", "fr": _MESSAGE, "es": _MESSAGE}


ROWS: list[Notice] = [
    Notice(
        AGREEMENT_PROPOSED,
        parties,
        _agreement_proposed,
        {
            "en": (
                "Agreement proposed: {{ title }}",
                "{{ proposer or 'A partner city' }} proposed a {{ kind }} agreement"
                "{% if invited %}; your city is invited to accept it{% endif %}.",
            ),
            "fr": (
                "Accord proposé : {{ title }}",
                "{{ proposer or 'Une ville partenaire' }} a proposé un accord ({{ kind }})"
                "{% if invited %} ; votre ville est invitée à l'accepter{% endif %}.",
            ),
            "es": (
                "Acuerdo propuesto: {{ title }}",
                "{{ proposer or 'Una ciudad socia' }} propuso un acuerdo ({{ kind }})"
                "{% if invited %}; su ciudad está invitada a aceptarlo{% endif %}.",
            ),
        },
    ),
    Notice(
        AGREEMENT_ACCEPTED,
        parties,
        _agreement_accepted,
        {
            "en": (
                "Agreement accepted: {{ title }}",
                "{{ city or 'a partner city' }} accepted the agreement."
                "{% if all %} Every party has now accepted.{% endif %}",
            ),
            "fr": (
                "Accord accepté : {{ title }}",
                "{{ city or 'Une ville partenaire' }} a accepté l'accord."
                "{% if all %} Toutes les parties l'ont maintenant accepté.{% endif %}",
            ),
            "es": (
                "Acuerdo aceptado: {{ title }}",
                "{{ city or 'Una ciudad socia' }} aceptó el acuerdo."
                "{% if all %} Todas las partes lo han aceptado.{% endif %}",
            ),
        },
    ),
    _transition(
        AGREEMENT_ACTIVATED,
        en=(
            "Agreement active: {{ title }}",
            _BY["en"] + " activated the agreement: the work can start",
        ),
        fr=(
            "Accord actif : {{ title }}",
            _BY["fr"] + " a activé l'accord : le travail peut commencer",
        ),
        es=(
            "Acuerdo activo: {{ title }}",
            _BY["es"] + " activó el acuerdo: el trabajo puede empezar",
        ),
    ),
    _transition(
        AGREEMENT_SUSPENDED,
        en=("Agreement suspended: {{ title }}", _BY["en"] + " suspended the agreement"),
        fr=("Accord suspendu : {{ title }}", _BY["fr"] + " a suspendu l'accord"),
        es=("Acuerdo suspendido: {{ title }}", _BY["es"] + " suspendió el acuerdo"),
    ),
    _transition(
        AGREEMENT_RESUMED,
        en=("Agreement active: {{ title }}", _BY["en"] + " resumed the agreement"),
        fr=("Accord actif : {{ title }}", _BY["fr"] + " a repris l'accord"),
        es=("Acuerdo activo: {{ title }}", _BY["es"] + " reanudó el acuerdo"),
    ),
    _transition(
        AGREEMENT_CONCLUDED,
        en=(
            "Agreement concluded: {{ title }}",
            _BY["en"] + " concluded the agreement, its work completed",
        ),
        fr=("Accord conclu : {{ title }}", _BY["fr"] + " a conclu l'accord, son travail achevé"),
        es=(
            "Acuerdo concluido: {{ title }}",
            _BY["es"] + " concluyó el acuerdo, su trabajo completado",
        ),
    ),
    _transition(
        AGREEMENT_TERMINATED,
        en=("Agreement terminated: {{ title }}", _BY["en"] + " ended the agreement"),
        fr=("Accord résilié : {{ title }}", _BY["fr"] + " a mis fin à l'accord"),
        es=("Acuerdo rescindido: {{ title }}", _BY["es"] + " puso fin al acuerdo"),
    ),
    _transition(
        AGREEMENT_REJECTED,
        en=("Agreement rejected: {{ title }}", _BY["en"] + " rejected the proposal"),
        fr=("Accord refusé : {{ title }}", _BY["fr"] + " a refusé la proposition"),
        es=("Acuerdo rechazado: {{ title }}", _BY["es"] + " rechazó la propuesta"),
    ),
    _transition(
        AGREEMENT_WITHDRAWN,
        en=("Agreement withdrawn: {{ title }}", _BY["en"] + " withdrew it before the work started"),
        fr=("Accord retiré : {{ title }}", _BY["fr"] + " l'a retiré avant le début du travail"),
        es=("Acuerdo retirado: {{ title }}", _BY["es"] + " lo retiró antes de empezar el trabajo"),
    ),
    _transition(
        AGREEMENT_EXPIRED,
        en=(
            "Agreement expired: {{ title }}",
            "The proposal expired before every party accepted it",
        ),
        fr=(
            "Accord expiré : {{ title }}",
            "La proposition a expiré avant que toutes les parties l'acceptent",
        ),
        es=(
            "Acuerdo vencido: {{ title }}",
            "La propuesta expiró antes de que todas las partes la aceptaran",
        ),
    ),
    Notice(
        AGREEMENT_ACTIVITY_REPORTED,
        parties,
        _activity,
        {
            "en": (
                "Activity report: {{ title }}",
                "{{ city or 'A party' }} reported on the work: {{ text }}",
            ),
            "fr": (
                "Compte rendu d'activité : {{ title }}",
                "{{ city or 'Une partie' }} a rendu compte du travail : {{ text }}",
            ),
            "es": (
                "Informe de actividad: {{ title }}",
                "{{ city or 'Una parte' }} informó sobre el trabajo: {{ text }}",
            ),
        },
    ),
    Notice(
        AGREEMENT_DORMANT,
        parties,
        _dormant,
        {
            "en": (
                "No news for {{ days }} days: {{ title }}",
                "Nothing has happened on this agreement for {{ days }} days. Report on the work, "
                "or conclude the agreement if it is done.",
            ),
            "fr": (
                "Aucune nouvelle depuis {{ days }} jours : {{ title }}",
                "Rien ne s'est passé sur cet accord depuis {{ days }} jours. Rendez compte du "
                "travail, ou concluez l'accord s'il est achevé.",
            ),
            "es": (
                "Sin novedades desde hace {{ days }} días: {{ title }}",
                "Nada ha ocurrido en este acuerdo desde hace {{ days }} días. Informe sobre el "
                "trabajo, o concluya el acuerdo si ya terminó.",
            ),
        },
    ),
    Notice(
        AGREEMENT_BLOCKED,
        parties,
        _block,
        {
            "en": (
                "Agreement blocked: {{ title }}",
                "It can be neither accepted nor activated for now: {{ reason }}.",
            ),
            "fr": (
                "Accord bloqué : {{ title }}",
                "Il ne peut pour l'instant être ni accepté ni activé : {{ reason }}.",
            ),
            "es": (
                "Acuerdo bloqueado: {{ title }}",
                "Por ahora no puede aceptarse ni activarse: {{ reason }}.",
            ),
        },
    ),
    Notice(
        AGREEMENT_UNBLOCKED,
        parties,
        _block,
        {
            "en": (
                "Block lifted: {{ title }}",
                "No longer in the way: {{ reason }}."
                "{% if still %} {{ still }} other block(s) remain.{% endif %}",
            ),
            "fr": (
                "Blocage levé : {{ title }}",
                "Ne fait plus obstacle : {{ reason }}."
                "{% if still %} {{ still }} autre(s) blocage(s) demeure(nt).{% endif %}",
            ),
            "es": (
                "Bloqueo levantado: {{ title }}",
                "Ya no impide avanzar: {{ reason }}."
                "{% if still %} Quedan {{ still }} bloqueo(s) más.{% endif %}",
            ),
        },
    ),
    Notice(
        PARTNERSHIP_INTEREST_EXPRESSED,
        _asked,
        _interest,
        {
            "en": (
                "{{ from or 'A city' }} would like to partner with you",
                "{{ from or 'A city' }} "
                "{% if offering %}offers to help with your need{% else %}asks for your help "
                "with its need{% endif %} “{{ need }}”." + _QUOTE["en"],
            ),
            "fr": (
                "{{ from or 'Une ville' }} souhaite un partenariat avec vous",
                "{{ from or 'Une ville' }} "
                "{% if offering %}propose son aide pour votre besoin{% else %}demande votre aide "
                "pour son besoin{% endif %} « {{ need }} »." + _QUOTE["fr"],
            ),
            "es": (
                "{{ from or 'Una ciudad' }} desea colaborar con usted",
                "{{ from or 'Una ciudad' }} "
                "{% if offering %}ofrece ayuda con su necesidad{% else %}pide su ayuda con su "
                "necesidad{% endif %} «{{ need }}»." + _QUOTE["es"],
            ),
        },
    ),
    Notice(
        PARTNERSHIP_INTEREST_ANSWERED,
        _asker,
        _interest,
        {
            "en": (
                "{{ to or 'A city' }} {% if status == 'accepted' %}accepted{% else %}declined"
                "{% endif %} your interest",
                "{{ to or 'A city' }} {% if status == 'accepted' %}accepted{% else %}declined"
                "{% endif %} to partner on “{{ need }}”." + _QUOTE["en"],
            ),
            "fr": (
                "{{ to or 'Une ville' }} a {% if status == 'accepted' %}accepté{% else %}décliné"
                "{% endif %} votre proposition",
                "{{ to or 'Une ville' }} a {% if status == 'accepted' %}accepté{% else %}décliné"
                "{% endif %} le partenariat sur « {{ need }} »." + _QUOTE["fr"],
            ),
            "es": (
                "{{ to or 'Una ciudad' }} {% if status == 'accepted' %}aceptó{% else %}declinó"
                "{% endif %} su propuesta",
                "{{ to or 'Una ciudad' }} {% if status == 'accepted' %}aceptó{% else %}declinó"
                "{% endif %} colaborar en «{{ need }}»." + _QUOTE["es"],
            ),
        },
    ),
    Notice(
        PARTNERSHIP_INTEREST_WITHDRAWN,
        _asked,
        _interest,
        {
            "en": (
                "Interest withdrawn: {{ need }}",
                "{{ from or 'A city' }} withdrew its interest in partnering on “{{ need }}”."
                + _QUOTE["en"],
            ),
            "fr": (
                "Proposition retirée : {{ need }}",
                "{{ from or 'Une ville' }} a retiré sa proposition de partenariat sur "
                "« {{ need }} »." + _QUOTE["fr"],
            ),
            "es": (
                "Propuesta retirada: {{ need }}",
                "{{ from or 'Una ciudad' }} retiró su propuesta de colaborar en «{{ need }}»."
                + _QUOTE["es"],
            ),
        },
    ),
    Notice(
        PARTNERSHIP_INTEREST_CLOSED,
        _both,
        _interest,
        {
            "en": (
                "Interest closed: {{ need }}",
                "The platform closed the interest in partnering on “{{ need }}”." + _QUOTE["en"],
            ),
            "fr": (
                "Proposition close : {{ need }}",
                "La plateforme a clos la proposition de partenariat sur « {{ need }} »."
                + _QUOTE["fr"],
            ),
            "es": (
                "Propuesta cerrada: {{ need }}",
                "La plataforma cerró la propuesta de colaborar en «{{ need }}»." + _QUOTE["es"],
            ),
        },
    ),
    Notice(
        PARTNERSHIP_INTEREST_EXPIRED,
        _both,
        _interest,
        {
            "en": (
                "Interest expired: {{ need }}",
                "The interest in partnering on “{{ need }}” expired unanswered." + _QUOTE["en"],
            ),
            "fr": (
                "Proposition expirée : {{ need }}",
                "La proposition de partenariat sur « {{ need }} » a expiré sans réponse."
                + _QUOTE["fr"],
            ),
            "es": (
                "Propuesta vencida: {{ need }}",
                "La propuesta de colaborar en «{{ need }}» venció sin respuesta." + _QUOTE["es"],
            ),
        },
    ),
]
