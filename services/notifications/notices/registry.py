"""What the registry's events say: a city's registration and verification, its needs and
offers, its networks and its conflict profile."""

from typing import Any

from services.notifications.domain import THE_PLATFORM, Audience, RecipientKind, View
from services.notifications.notices.base import Names, Notice, city, nothing
from shared.contracts import EventSpec
from shared.contracts.registry import CITY_REGISTERED, CITY_VERIFIED
from shared.contracts.registry.conflict import CONFLICT_PROFILE_ASSESSED
from shared.contracts.registry.needs_offers import (
    NEED_PUBLISHED,
    NEED_UPDATED,
    NEED_WITHDRAWN,
    OFFER_PUBLISHED,
    OFFER_UPDATED,
    OFFER_WITHDRAWN,
)
from shared.contracts.registry.networks import NETWORK_MEMBERSHIP_CHANGED


def _city_registered(p: Any, _names: Names, audience: Audience) -> View:
    return {
        "name": p.name,
        "country": p.country_code,
        "to_platform": audience.kind is RecipientKind.PLATFORM,
    }


def _city_registered_audiences(p: Any) -> set[Audience]:
    # The platform's administrators hear of every new city: it awaits their verification.
    return city(p) | {Audience(RecipientKind.PLATFORM, THE_PLATFORM)}


def _item(p: Any, _names: Names, _audience: Audience) -> View:
    return {"title": p.title, "domain": p.domain, "until": p.period_end.isoformat()}


def _published(spec: EventSpec, en: str, fr: str, es: str) -> Notice:
    """A need or an offer the city published: `en`, `fr`, `es` name the kind of item."""
    return Notice(
        spec,
        city,
        _item,
        {
            "en": (
                f"{en.capitalize()} published: {{{{ title }}}}",
                f"Your city published a{'n' if en == 'offer' else ''} {en} in {{{{ domain }}}}, "
                "open until {{ until }}.",
            ),
            "fr": (
                f"{fr.capitalize()} publié(e) : {{{{ title }}}}",
                f"Votre ville a publié un(e) {fr} en {{{{ domain }}}}, ouvert(e) jusqu'au "
                "{{ until }}.",
            ),
            "es": (
                f"{es.capitalize()} publicada: {{{{ title }}}}",
                f"Su ciudad publicó una {es} en {{{{ domain }}}}, abierta hasta el {{{{ until }}}}.",
            ),
        },
        email_by_default=False,
    )


def _changed(p: Any, _names: Names, _audience: Audience) -> View:
    return {"title": p.title, "changed": ", ".join(p.changed)}


def _updated(spec: EventSpec, en: str, fr: str, es: str) -> Notice:
    return Notice(
        spec,
        city,
        _changed,
        {
            "en": (f"{en.capitalize()} updated: {{{{ title }}}}", "Changed: {{ changed }}."),
            "fr": (f"{fr.capitalize()} modifié(e) : {{{{ title }}}}", "Modifié : {{ changed }}."),
            "es": (f"{es.capitalize()} modificada: {{{{ title }}}}", "Modificado: {{ changed }}."),
        },
        email_by_default=False,
    )


def _withdrawn(spec: EventSpec, en: str, fr: str, es: str) -> Notice:
    return Notice(
        spec,
        city,
        _item,
        {
            "en": (
                f"{en.capitalize()} withdrawn: {{{{ title }}}}",
                f"Your city withdrew this {en}.",
            ),
            "fr": (
                f"{fr.capitalize()} retiré(e) : {{{{ title }}}}",
                f"Votre ville a retiré cet(te) {fr}.",
            ),
            "es": (f"{es.capitalize()} retirada: {{{{ title }}}}", f"Su ciudad retiró esta {es}."),
        },
        email_by_default=False,
    )


def _membership_audiences(p: Any) -> set[Audience]:
    return city(p) | {Audience(RecipientKind.NETWORK, p.network_id)}


def _membership(p: Any, names: Names, _audience: Audience) -> View:
    return {
        "city": names.city(p.city_id),
        "network": names.network(p.network_id),
        "change": str(p.change),
    }


_MEMBERSHIP = {
    "en": (
        "Network: {{ network or 'a network' }}",
        "{{ city or 'A city' }} "
        "{% if change == 'joined' %}joined {{ network or 'a network' }}."
        "{% elif change == 'left' %}left {{ network or 'a network' }}; any mandate it held ended."
        "{% elif change == 'mandate_granted' %}mandated {{ network or 'a network' }} to act for it."
        "{% else %}withdrew its mandate from {{ network or 'a network' }}.{% endif %}",
    ),
    "fr": (
        "Réseau : {{ network or 'un réseau' }}",
        "{{ city or 'Une ville' }} "
        "{% if change == 'joined' %}a rejoint {{ network or 'un réseau' }}."
        "{% elif change == 'left' %}a quitté {{ network or 'un réseau' }} ; tout mandat a pris fin."
        "{% elif change == 'mandate_granted' %}a mandaté {{ network or 'un réseau' }} pour agir "
        "en son nom."
        "{% else %}a retiré son mandat à {{ network or 'un réseau' }}.{% endif %}",
    ),
    "es": (
        "Red: {{ network or 'una red' }}",
        "{{ city or 'Una ciudad' }} "
        "{% if change == 'joined' %}se unió a {{ network or 'una red' }}."
        "{% elif change == 'left' %}dejó {{ network or 'una red' }}; todo mandato terminó."
        "{% elif change == 'mandate_granted' %}dio mandato a {{ network or 'una red' }} para "
        "actuar en su nombre."
        "{% else %}retiró su mandato a {{ network or 'una red' }}.{% endif %}",
    ),
}


def _conflict(p: Any, _names: Names, _audience: Audience) -> View:
    # Only the phase and the verdict: an assessment's notes and the city's contacts in a
    # conflict zone never reach a template.
    return {"phase": p.phase, "hold": p.preconditions_hold}


_CONFLICT = {
    "en": (
        "Conflict profile assessed",
        "Phase: {% if phase == 'pre_conflict' %}low violence before a conflict"
        "{% elif phase == 'active' %}high and fluctuating violence"
        "{% elif phase == 'post_conflict' %}post-conflict reconstruction{% else %}no conflict"
        "{% endif %}; {% if hold %}the preconditions for city diplomacy hold"
        "{% else %}not every precondition for city diplomacy holds yet{% endif %}.",
    ),
    "fr": (
        "Profil de conflit évalué",
        "Phase : {% if phase == 'pre_conflict' %}faible violence avant un conflit"
        "{% elif phase == 'active' %}violence forte et fluctuante"
        "{% elif phase == 'post_conflict' %}reconstruction après le conflit{% else %}pas de "
        "conflit{% endif %} ; {% if hold %}les conditions préalables à la diplomatie des villes "
        "sont réunies{% else %}toutes les conditions préalables à la diplomatie des villes ne "
        "sont pas encore réunies{% endif %}.",
    ),
    "es": (
        "Perfil de conflicto evaluado",
        "Fase: {% if phase == 'pre_conflict' %}violencia baja antes de un conflicto"
        "{% elif phase == 'active' %}violencia alta y fluctuante"
        "{% elif phase == 'post_conflict' %}reconstrucción posconflicto{% else %}sin conflicto"
        "{% endif %}; {% if hold %}se cumplen las condiciones previas para la diplomacia de "
        "ciudades{% else %}aún no se cumplen todas las condiciones previas para la diplomacia "
        "de ciudades{% endif %}.",
    ),
}


ROWS: list[Notice] = [
    Notice(
        CITY_REGISTERED,
        _city_registered_audiences,
        _city_registered,
        {
            "en": (
                "{% if to_platform %}New city to verify: {{ name }}{% else %}Welcome, {{ name }}"
                "{% endif %}",
                "{{ name }} ({{ country }}) {% if to_platform %}registered and awaits "
                "verification.{% else %}is registered with the city-to-city exchange programme."
                "{% endif %}",
            ),
            "fr": (
                "{% if to_platform %}Nouvelle ville à vérifier : {{ name }}{% else %}Bienvenue, "
                "{{ name }}{% endif %}",
                "{{ name }} ({{ country }}) {% if to_platform %}s'est inscrite et attend sa "
                "vérification.{% else %}est inscrite au programme d'échanges entre villes."
                "{% endif %}",
            ),
            "es": (
                "{% if to_platform %}Nueva ciudad por verificar: {{ name }}{% else %}Bienvenida, "
                "{{ name }}{% endif %}",
                "{{ name }} ({{ country }}) {% if to_platform %}se registró y espera su "
                "verificación.{% else %}está registrada en el programa de intercambio entre "
                "ciudades.{% endif %}",
            ),
        },
    ),
    Notice(
        CITY_VERIFIED,
        city,
        nothing,
        {
            "en": (
                "Your city is verified",
                "A platform administrator verified your city's registration.",
            ),
            "fr": (
                "Votre ville est vérifiée",
                "Un administrateur de la plateforme a vérifié l'inscription de votre ville.",
            ),
            "es": (
                "Su ciudad está verificada",
                "Un administrador de la plataforma verificó el registro de su ciudad.",
            ),
        },
    ),
    _published(NEED_PUBLISHED, "need", "besoin", "necesidad"),
    _updated(NEED_UPDATED, "need", "besoin", "necesidad"),
    _withdrawn(NEED_WITHDRAWN, "need", "besoin", "necesidad"),
    _published(OFFER_PUBLISHED, "offer", "offre", "oferta"),
    _updated(OFFER_UPDATED, "offer", "offre", "oferta"),
    _withdrawn(OFFER_WITHDRAWN, "offer", "offre", "oferta"),
    Notice(NETWORK_MEMBERSHIP_CHANGED, _membership_audiences, _membership, _MEMBERSHIP),
    Notice(CONFLICT_PROFILE_ASSESSED, city, _conflict, _CONFLICT),
]
