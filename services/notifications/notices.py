"""The one table of what notifications says: event type -> audiences, view and templates.

Adding an event type is adding one row to NOTICES: who hears of it (`audiences`, pure, also
what webhooks are sent to), the only values its templates may read (`view`: plain values picked
from the payload, never the payload itself, so no template can reach a field the recipient may
not see), and its subject and body in English, French and Spanish (Jinja; the HTML part is
autoescaped, see rendering.py). A language missing from a row falls back to English, and the
delivery records which language was missing."""

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from services.notifications.domain import THE_PLATFORM, Audience, Language, RecipientKind, View
from shared.contracts import EventSpec
from shared.contracts.funding import CONTRIBUTION_PLEDGED, FUND_CREATED
from shared.contracts.matching import (
    AGREEMENT_ACCEPTED,
    AGREEMENT_ACTIVATED,
    AGREEMENT_CONCLUDED,
    AGREEMENT_EXPIRED,
    AGREEMENT_PROPOSED,
    AGREEMENT_REJECTED,
    AGREEMENT_RESUMED,
    AGREEMENT_SUSPENDED,
    AGREEMENT_TERMINATED,
)
from shared.contracts.notifications import WEBHOOK_ENDPOINT_DISABLED
from shared.contracts.registry import CITY_REGISTERED, CITY_VERIFIED
from shared.contracts.registry.conflict import CONFLICT_PROFILE_ASSESSED
from shared.contracts.registry.needs_offers import (
    NEED_PUBLISHED,
    NEED_WITHDRAWN,
    OFFER_PUBLISHED,
    OFFER_WITHDRAWN,
)
from shared.contracts.registry.networks import NETWORK_MEMBERSHIP_CHANGED


@dataclass(frozen=True)
class Names:
    """Names of the cities and networks an event mentions, from this service's read model.
    Events of different topics arrive in any order: a name not known yet is None, and the
    templates say "a partner city" rather than hold the notification back."""

    cities: Mapping[UUID, str] = field(default_factory=dict)
    networks: Mapping[UUID, str] = field(default_factory=dict)

    def city(self, city_id: UUID | None) -> str | None:
        return self.cities.get(city_id) if city_id else None

    def network(self, network_id: UUID) -> str | None:
        return self.networks.get(network_id)


# (subject, body) per language, as Jinja sources.
Templates = Mapping[Language, tuple[str, str]]


@dataclass(frozen=True)
class Notice:
    spec: EventSpec
    audiences: Callable[[Any], set[Audience]]
    view: Callable[[Any, Names, Audience], View]
    templates: Templates
    # Email for what others did; the echo of one's own city's action shows in the app only.
    email_by_default: bool = True


def _city(p: Any) -> set[Audience]:
    return {Audience(RecipientKind.CITY, p.city_id)}


def _parties(p: Any) -> set[Audience]:
    return {Audience(RecipientKind.CITY, city) for city in p.party_city_ids}


def _fund(p: Any) -> set[Audience]:
    return {Audience(RecipientKind.FUND, p.fund_id)}


def _nothing(_p: Any, _names: Names, _audience: Audience) -> View:
    return {}


# The tail of a sentence that may carry a reason, in every language alike.
_REASON = "{% if reason %}: {{ reason }}{% else %}.{% endif %}"


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
    templates = {lang: (subject, body + _REASON) for lang, (subject, body) in texts.items()}
    return Notice(spec, _parties, _agreement_changed, templates)  # type: ignore[arg-type]


_BY = {
    "en": "{{ by or 'A party' }}",
    "fr": "{{ by or 'Une partie' }}",
    "es": "{{ by or 'Una parte' }}",
}


def _city_registered(p: Any, _names: Names, audience: Audience) -> View:
    return {
        "name": p.name,
        "country": p.country_code,
        "to_platform": audience.kind is RecipientKind.PLATFORM,
    }


def _city_registered_audiences(p: Any) -> set[Audience]:
    # The platform's administrators hear of every new city: it awaits their verification.
    return _city(p) | {Audience(RecipientKind.PLATFORM, THE_PLATFORM)}


def _item(p: Any, _names: Names, _audience: Audience) -> View:
    return {"title": p.title, "domain": p.domain, "until": p.period_end.isoformat()}


def _published(spec: EventSpec, en: str, fr: str, es: str) -> Notice:
    """A need or an offer the city published: `en`, `fr`, `es` name the kind of item."""
    return Notice(
        spec,
        _city,
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


def _withdrawn(spec: EventSpec, en: str, fr: str, es: str) -> Notice:
    return Notice(
        spec,
        _city,
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
    return _city(p) | {Audience(RecipientKind.NETWORK, p.network_id)}


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


def _pledge_audiences(p: Any) -> set[Audience]:
    # A donor hears of its own pledges; an offline donor's pledge (no donor id) only the fund.
    donor = {Audience(RecipientKind.DONOR, p.donor_id)} if p.donor_id else set()
    return _fund(p) | donor


def _pledge(p: Any, _names: Names, _audience: Audience) -> View:
    return {
        "donor": p.donor_name,
        "donor_kind": p.donor_kind,
        "amount": str(p.amount),
        "currency": p.currency,
    }


def _fund_created(p: Any, _names: Names, _audience: Audience) -> View:
    return {"name": p.name, "currency": p.currency}


def _endpoint_owner(p: Any) -> set[Audience]:
    return {Audience(RecipientKind(p.owner_kind), p.owner_id)}


def _endpoint_disabled(p: Any, _names: Names, _audience: Audience) -> View:
    return {"url": p.url, "reason": p.reason, "since": p.failing_since.date().isoformat()}


_ROWS: list[Notice] = [
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
        _city,
        _nothing,
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
    _withdrawn(NEED_WITHDRAWN, "need", "besoin", "necesidad"),
    _published(OFFER_PUBLISHED, "offer", "offre", "oferta"),
    _withdrawn(OFFER_WITHDRAWN, "offer", "offre", "oferta"),
    Notice(NETWORK_MEMBERSHIP_CHANGED, _membership_audiences, _membership, _MEMBERSHIP),
    Notice(CONFLICT_PROFILE_ASSESSED, _city, _conflict, _CONFLICT),
    Notice(
        AGREEMENT_PROPOSED,
        _parties,
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
        _parties,
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
        FUND_CREATED,
        _fund,
        _fund_created,
        {
            "en": ("Fund created: {{ name }}", "{{ name }} is open for pledges in {{ currency }}."),
            "fr": (
                "Fonds créé : {{ name }}",
                "{{ name }} est ouvert aux promesses de dons en {{ currency }}.",
            ),
            "es": (
                "Fondo creado: {{ name }}",
                "{{ name }} está abierto a promesas de contribución en {{ currency }}.",
            ),
        },
    ),
    Notice(
        CONTRIBUTION_PLEDGED,
        _pledge_audiences,
        _pledge,
        {
            "en": (
                "New pledge from {{ donor }}",
                "{{ donor }} ({{ donor_kind }}) pledged {{ amount }} {{ currency }}.",
            ),
            "fr": (
                "Nouvelle promesse de {{ donor }}",
                "{{ donor }} ({{ donor_kind }}) a promis {{ amount }} {{ currency }}.",
            ),
            "es": (
                "Nueva promesa de {{ donor }}",
                "{{ donor }} ({{ donor_kind }}) prometió {{ amount }} {{ currency }}.",
            ),
        },
    ),
    Notice(
        WEBHOOK_ENDPOINT_DISABLED,
        _endpoint_owner,
        _endpoint_disabled,
        {
            "en": (
                "Webhook endpoint disabled: {{ url }}",
                "We stopped sending to {{ url }}: {{ reason }}. It has been failing since "
                "{{ since }}. Fix the receiver, re-enable the endpoint, then replay what it missed.",
            ),
            "fr": (
                "Point de terminaison webhook désactivé : {{ url }}",
                "Nous n'envoyons plus rien à {{ url }} : {{ reason }}. Les envois échouent depuis "
                "le {{ since }}. Réparez le récepteur, réactivez le point de terminaison, puis "
                "rejouez ce qu'il a manqué.",
            ),
            "es": (
                "Endpoint de webhook desactivado: {{ url }}",
                "Dejamos de enviar a {{ url }}: {{ reason }}. Los envíos fallan desde el "
                "{{ since }}. Repare el receptor, reactive el endpoint y reenvíe lo que no recibió.",
            ),
        },
    ),
]

NOTICES: dict[str, Notice] = {row.spec.type: row for row in _ROWS}


def notice_specs() -> Iterable[EventSpec]:
    return (row.spec for row in _ROWS)
