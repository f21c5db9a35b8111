"""What funding's events say, to the fund's administrators, its donors and the partnerships
it funds."""

from typing import Any

from services.notifications.domain import Audience, RecipientKind, View
from services.notifications.notices.base import Names, Notice, Templates, fund, parties
from shared.contracts import EventSpec
from shared.contracts.funding import (
    APPLICATION_AMENDED,
    APPLICATION_APPROVED,
    APPLICATION_COMMENT_SHARED,
    APPLICATION_REJECTED,
    APPLICATION_REVIEWED,
    APPLICATION_SUBMITTED,
    CONTRIBUTION_PLEDGED,
    CONTRIBUTION_RECEIVED,
    FUND_CLOSED,
    FUND_CREATED,
    FUND_UPDATED,
    IN_KIND_DELIVERED,
    IN_KIND_PLEDGED,
    INSTALMENT_OVERDUE,
    MILESTONE_REPORTED,
    PLEDGE_CANCELLED,
    TRANCHE_DISBURSED,
    TRANCHE_HELD,
    TRANCHE_HOLD_LIFTED,
    TRANCHE_PAUSED,
    TRANCHE_RELEASE_CANCELLED,
    TRANCHE_RELEASE_REQUESTED,
    TRANCHE_RESUMED,
)


def _pledge_audiences(p: Any) -> set[Audience]:
    # A donor hears of its own pledges; an offline donor's pledge (no donor id) only the fund.
    donor = {Audience(RecipientKind.DONOR, p.donor_id)} if p.donor_id else set()
    return fund(p) | donor


def _fund_and_donors(p: Any) -> set[Audience]:
    return fund(p) | {Audience(RecipientKind.FUND_DONORS, p.fund_id)}


def _fund_and_partnership(p: Any) -> set[Audience]:
    return fund(p) | parties(p)


def _money_moved(p: Any) -> set[Audience]:
    """A tranche paid or stopped: the fund, the partnership and every donor of the fund (where
    their money goes, or why it does not)."""
    return _fund_and_partnership(p) | _fund_and_donors(p)


def _words(p: Any) -> str | None:
    """What a person wrote on an application step, shared with the applicant (internal
    comments are never published, so never here)."""
    for name in ("comment", "note", "text"):
        if isinstance(value := getattr(p, name, None), str) and value:
            return value
    return None


def _application(p: Any, _names: Names, _audience: Audience) -> View:
    return {
        "title": p.title,
        "version": p.version,
        "total": str(p.total) if hasattr(p, "total") else None,
        "currency": getattr(p, "currency", None),
        "kind": getattr(p, "kind", None),
        "decision": getattr(p, "decision", None),
        "words": _words(p),
    }


def _tranche(p: Any, _names: Names, _audience: Audience) -> View:
    return {
        "position": p.position,
        "milestone": p.milestone_title,
        "amount": str(p.amount),
        "currency": p.currency,
        "reason": getattr(p, "reason", None) or p.note or None,
    }


def _tranche_notice(spec: EventSpec, audiences: Any, templates: Templates) -> Notice:
    return Notice(spec, audiences, _tranche, templates)


def _received(p: Any, _names: Names, _audience: Audience) -> View:
    return {
        "amount": str(p.amount),
        "currency": p.currency,
        "net": str(p.net_amount),
        "fund_currency": p.fund_currency,
        "outstanding": str(p.outstanding),
        "on": p.received_on.isoformat(),
    }


def _overdue(p: Any, _names: Names, _audience: Audience) -> View:
    return {
        "donor": p.donor_name,
        "number": p.number,
        "due": p.due_on.isoformat(),
        "unpaid": str(p.unpaid),
        "currency": p.currency,
    }


def _cancelled(p: Any, _names: Names, _audience: Audience) -> View:
    return {"amount": str(p.written_off), "currency": p.currency, "reason": p.reason}


def _in_kind(p: Any, _names: Names, _audience: Audience) -> View:
    return {
        "donor": p.donor_name,
        "days": str(p.staff_days),
        "profession": p.profession,
        "value": str(p.value),
        "currency": p.currency,
    }


def _in_kind_delivered(p: Any, _names: Names, _audience: Audience) -> View:
    return {
        "days": str(p.staff_days),
        "value": str(p.value),
        "currency": p.currency,
        "on": p.delivered_on.isoformat(),
    }


def _fund_updated(p: Any, _names: Names, _audience: Audience) -> View:
    return {"name": p.name, "changed": ", ".join(p.changed)}


def _fund_closed(p: Any, _names: Names, audience: Audience) -> View:
    return {"reason": p.reason, "to_donor": audience.kind is RecipientKind.DONOR}


def _pledge(p: Any, _names: Names, _audience: Audience) -> View:
    return {
        "donor": p.donor_name,
        "donor_kind": p.donor_kind,
        "amount": str(p.amount),
        "currency": p.currency,
    }


def _fund_created(p: Any, _names: Names, _audience: Audience) -> View:
    return {"name": p.name, "currency": p.currency}


ROWS: list[Notice] = [
    Notice(
        FUND_CREATED,
        fund,
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
        FUND_UPDATED,
        fund,
        _fund_updated,
        {
            "en": ("Fund updated: {{ name }}", "Changed: {{ changed }}."),
            "fr": ("Fonds modifié : {{ name }}", "Modifié : {{ changed }}."),
            "es": ("Fondo modificado: {{ name }}", "Modificado: {{ changed }}."),
        },
        email_by_default=False,
    ),
    Notice(
        FUND_CLOSED,
        _fund_and_donors,
        _fund_closed,
        {
            "en": (
                "{% if to_donor %}A fund you pledged to is closed{% else %}Your fund is closed"
                "{% endif %}",
                "It takes no new pledge: {{ reason }}.",
            ),
            "fr": (
                "{% if to_donor %}Un fonds auquel vous avez promis est clos{% else %}Votre fonds "
                "est clos{% endif %}",
                "Il n'accepte plus de promesse : {{ reason }}.",
            ),
            "es": (
                "{% if to_donor %}Un fondo al que prometió está cerrado{% else %}Su fondo está "
                "cerrado{% endif %}",
                "Ya no acepta promesas: {{ reason }}.",
            ),
        },
    ),
    Notice(
        CONTRIBUTION_RECEIVED,
        _pledge_audiences,
        _received,
        {
            "en": (
                "Contribution received: {{ amount }} {{ currency }}",
                "Received on {{ on }}: {{ amount }} {{ currency }}, making {{ net }} "
                "{{ fund_currency }} available after the fee. Still outstanding on the pledge: "
                "{{ outstanding }} {{ currency }}.",
            ),
            "fr": (
                "Contribution reçue : {{ amount }} {{ currency }}",
                "Reçu le {{ on }} : {{ amount }} {{ currency }}, soit {{ net }} "
                "{{ fund_currency }} disponibles après frais. Reste dû sur la promesse : "
                "{{ outstanding }} {{ currency }}.",
            ),
            "es": (
                "Contribución recibida: {{ amount }} {{ currency }}",
                "Recibido el {{ on }}: {{ amount }} {{ currency }}, es decir {{ net }} "
                "{{ fund_currency }} disponibles tras la comisión. Pendiente de la promesa: "
                "{{ outstanding }} {{ currency }}.",
            ),
        },
    ),
    Notice(
        INSTALMENT_OVERDUE,
        _pledge_audiences,
        _overdue,
        {
            "en": (
                "Instalment {{ number }} overdue: {{ donor }}",
                "Instalment {{ number }}, due on {{ due }}, still has {{ unpaid }} {{ currency }} "
                "unpaid.",
            ),
            "fr": (
                "Échéance {{ number }} en retard : {{ donor }}",
                "L'échéance {{ number }}, due le {{ due }}, reste impayée à hauteur de "
                "{{ unpaid }} {{ currency }}.",
            ),
            "es": (
                "Cuota {{ number }} vencida: {{ donor }}",
                "La cuota {{ number }}, con vencimiento el {{ due }}, tiene aún {{ unpaid }} "
                "{{ currency }} sin pagar.",
            ),
        },
    ),
    Notice(
        PLEDGE_CANCELLED,
        _pledge_audiences,
        _cancelled,
        {
            "en": (
                "Pledge written off: {{ amount }} {{ currency }}",
                "What was outstanding on the pledge will not be received: {{ reason }}.",
            ),
            "fr": (
                "Promesse annulée : {{ amount }} {{ currency }}",
                "Le reste dû sur la promesse ne sera pas reçu : {{ reason }}.",
            ),
            "es": (
                "Promesa cancelada: {{ amount }} {{ currency }}",
                "Lo pendiente de la promesa no se recibirá: {{ reason }}.",
            ),
        },
    ),
    Notice(
        IN_KIND_PLEDGED,
        _pledge_audiences,
        _in_kind,
        {
            "en": (
                "Technical assistance pledged by {{ donor }}",
                "{{ donor }} pledged {{ days }} staff-days of {{ profession }}, valued at "
                "{{ value }} {{ currency }}.",
            ),
            "fr": (
                "Assistance technique promise par {{ donor }}",
                "{{ donor }} a promis {{ days }} jours de travail ({{ profession }}), valorisés à "
                "{{ value }} {{ currency }}.",
            ),
            "es": (
                "Asistencia técnica prometida por {{ donor }}",
                "{{ donor }} prometió {{ days }} días de trabajo ({{ profession }}), valorados "
                "en {{ value }} {{ currency }}.",
            ),
        },
    ),
    Notice(
        IN_KIND_DELIVERED,
        fund,
        _in_kind_delivered,
        {
            "en": (
                "Technical assistance delivered",
                "{{ days }} staff-days ({{ value }} {{ currency }}) were delivered on {{ on }}.",
            ),
            "fr": (
                "Assistance technique fournie",
                "{{ days }} jours de travail ({{ value }} {{ currency }}) ont été fournis le "
                "{{ on }}.",
            ),
            "es": (
                "Asistencia técnica prestada",
                "Se prestaron {{ days }} días de trabajo ({{ value }} {{ currency }}) el {{ on }}.",
            ),
        },
    ),
    Notice(
        APPLICATION_SUBMITTED,
        _fund_and_partnership,
        _application,
        {
            "en": (
                "Application submitted: {{ title }}",
                "The partnership applied for {{ total }} {{ currency }}; it is in review.",
            ),
            "fr": (
                "Demande déposée : {{ title }}",
                "Le partenariat demande {{ total }} {{ currency }} ; la demande est à l'examen.",
            ),
            "es": (
                "Solicitud presentada: {{ title }}",
                "La asociación solicitó {{ total }} {{ currency }}; la solicitud está en revisión.",
            ),
        },
    ),
    Notice(
        APPLICATION_REVIEWED,
        _fund_and_partnership,
        _application,
        {
            "en": (
                "Application reviewed: {{ title }}",
                "The {{ kind }} review of version {{ version }}: "
                "{% if decision == 'approve' %}approve{% elif decision == 'reject' %}reject"
                "{% else %}changes requested{% endif %}. {{ words }}",
            ),
            "fr": (
                "Demande examinée : {{ title }}",
                "Examen ({{ kind }}) de la version {{ version }} : "
                "{% if decision == 'approve' %}favorable{% elif decision == 'reject' %}rejet"
                "{% else %}modifications demandées{% endif %}. {{ words }}",
            ),
            "es": (
                "Solicitud revisada: {{ title }}",
                "Revisión ({{ kind }}) de la versión {{ version }}: "
                "{% if decision == 'approve' %}favorable{% elif decision == 'reject' %}rechazo"
                "{% else %}se piden cambios{% endif %}. {{ words }}",
            ),
        },
    ),
    Notice(
        APPLICATION_APPROVED,
        _fund_and_partnership,
        _application,
        {
            "en": (
                "Application approved: {{ title }}",
                "Approved for {{ total }} {{ currency }}, paid in tranches as milestones are met. "
                "{{ words }}",
            ),
            "fr": (
                "Demande approuvée : {{ title }}",
                "Approuvée pour {{ total }} {{ currency }}, versés par tranches au fil des "
                "étapes. {{ words }}",
            ),
            "es": (
                "Solicitud aprobada: {{ title }}",
                "Aprobada por {{ total }} {{ currency }}, pagados por tramos según los hitos. "
                "{{ words }}",
            ),
        },
    ),
    Notice(
        APPLICATION_REJECTED,
        _fund_and_partnership,
        _application,
        {
            "en": ("Application rejected: {{ title }}", "{{ words }}"),
            "fr": ("Demande rejetée : {{ title }}", "{{ words }}"),
            "es": ("Solicitud rechazada: {{ title }}", "{{ words }}"),
        },
    ),
    Notice(
        APPLICATION_AMENDED,
        _fund_and_partnership,
        _application,
        {
            "en": (
                "Application amended: {{ title }}",
                "Version {{ version }}, for {{ total }} {{ currency }}, goes back to review: "
                "{{ words }}",
            ),
            "fr": (
                "Demande modifiée : {{ title }}",
                "La version {{ version }}, pour {{ total }} {{ currency }}, repart à l'examen : "
                "{{ words }}",
            ),
            "es": (
                "Solicitud modificada: {{ title }}",
                "La versión {{ version }}, por {{ total }} {{ currency }}, vuelve a revisión: "
                "{{ words }}",
            ),
        },
    ),
    Notice(
        APPLICATION_COMMENT_SHARED,
        _fund_and_partnership,
        _application,
        {
            "en": ("Comment on the application: {{ title }}", "{{ words }}"),
            "fr": ("Commentaire sur la demande : {{ title }}", "{{ words }}"),
            "es": ("Comentario sobre la solicitud: {{ title }}", "{{ words }}"),
        },
    ),
    _tranche_notice(
        MILESTONE_REPORTED,
        _fund_and_partnership,
        {
            "en": (
                "Milestone reported: {{ milestone }}",
                "Milestone {{ position }} is reported done: its tranche of {{ amount }} "
                "{{ currency }} may be released.",
            ),
            "fr": (
                "Étape déclarée : {{ milestone }}",
                "L'étape {{ position }} est déclarée achevée : sa tranche de {{ amount }} "
                "{{ currency }} peut être versée.",
            ),
            "es": (
                "Hito informado: {{ milestone }}",
                "El hito {{ position }} se informó como cumplido: su tramo de {{ amount }} "
                "{{ currency }} puede pagarse.",
            ),
        },
    ),
    _tranche_notice(
        TRANCHE_RELEASE_REQUESTED,
        _fund_and_partnership,
        {
            "en": (
                "Tranche awaiting a second approval: {{ milestone }}",
                "{{ amount }} {{ currency }} are committed; a second fund administrator must "
                "approve the payment.",
            ),
            "fr": (
                "Tranche en attente d'une seconde approbation : {{ milestone }}",
                "{{ amount }} {{ currency }} sont engagés ; un second administrateur du fonds "
                "doit approuver le versement.",
            ),
            "es": (
                "Tramo pendiente de una segunda aprobación: {{ milestone }}",
                "{{ amount }} {{ currency }} están comprometidos; un segundo administrador del "
                "fondo debe aprobar el pago.",
            ),
        },
    ),
    _tranche_notice(
        TRANCHE_DISBURSED,
        _money_moved,
        {
            "en": (
                "Tranche paid: {{ milestone }}",
                "{{ amount }} {{ currency }} were paid to the partnership for milestone "
                "{{ position }}.",
            ),
            "fr": (
                "Tranche versée : {{ milestone }}",
                "{{ amount }} {{ currency }} ont été versés au partenariat pour l'étape "
                "{{ position }}.",
            ),
            "es": (
                "Tramo pagado: {{ milestone }}",
                "Se pagaron {{ amount }} {{ currency }} a la asociación por el hito "
                "{{ position }}.",
            ),
        },
    ),
    _tranche_notice(
        TRANCHE_RELEASE_CANCELLED,
        _fund_and_partnership,
        {
            "en": (
                "Tranche release cancelled: {{ milestone }}",
                "The release of {{ amount }} {{ currency }} was withdrawn"
                "{% if reason %}: {{ reason }}{% else %}.{% endif %}",
            ),
            "fr": (
                "Versement de tranche annulé : {{ milestone }}",
                "Le versement de {{ amount }} {{ currency }} a été retiré"
                "{% if reason %} : {{ reason }}{% else %}.{% endif %}",
            ),
            "es": (
                "Pago de tramo cancelado: {{ milestone }}",
                "Se retiró el pago de {{ amount }} {{ currency }}"
                "{% if reason %}: {{ reason }}{% else %}.{% endif %}",
            ),
        },
    ),
    _tranche_notice(
        TRANCHE_HELD,
        _money_moved,
        {
            "en": (
                "Tranche held: {{ milestone }}",
                "{{ amount }} {{ currency }} will not be paid while this holds: {{ reason }}.",
            ),
            "fr": (
                "Tranche bloquée : {{ milestone }}",
                "{{ amount }} {{ currency }} ne seront pas versés tant que ceci dure : "
                "{{ reason }}.",
            ),
            "es": (
                "Tramo retenido: {{ milestone }}",
                "{{ amount }} {{ currency }} no se pagarán mientras esto dure: {{ reason }}.",
            ),
        },
    ),
    _tranche_notice(
        TRANCHE_HOLD_LIFTED,
        _money_moved,
        {
            "en": (
                "Hold lifted: {{ milestone }}",
                "{{ amount }} {{ currency }} were held because {{ reason }}; that hold is lifted.",
            ),
            "fr": (
                "Blocage levé : {{ milestone }}",
                "{{ amount }} {{ currency }} étaient bloqués (motif : {{ reason }}) ; ce blocage "
                "est levé.",
            ),
            "es": (
                "Retención levantada: {{ milestone }}",
                "{{ amount }} {{ currency }} estaban retenidos (motivo: {{ reason }}); esa "
                "retención se levantó.",
            ),
        },
    ),
    _tranche_notice(
        TRANCHE_PAUSED,
        _money_moved,
        {
            "en": (
                "Tranche paused: {{ milestone }}",
                "A fund administrator paused {{ amount }} {{ currency }}"
                "{% if reason %}: {{ reason }}{% else %}.{% endif %}",
            ),
            "fr": (
                "Tranche suspendue : {{ milestone }}",
                "Un administrateur du fonds a suspendu {{ amount }} {{ currency }}"
                "{% if reason %} : {{ reason }}{% else %}.{% endif %}",
            ),
            "es": (
                "Tramo en pausa: {{ milestone }}",
                "Un administrador del fondo pausó {{ amount }} {{ currency }}"
                "{% if reason %}: {{ reason }}{% else %}.{% endif %}",
            ),
        },
    ),
    _tranche_notice(
        TRANCHE_RESUMED,
        _money_moved,
        {
            "en": (
                "Tranche resumed: {{ milestone }}",
                "{{ amount }} {{ currency }} can be paid again.",
            ),
            "fr": (
                "Tranche reprise : {{ milestone }}",
                "{{ amount }} {{ currency }} peuvent de nouveau être versés.",
            ),
            "es": (
                "Tramo reanudado: {{ milestone }}",
                "{{ amount }} {{ currency }} pueden pagarse de nuevo.",
            ),
        },
    ),
]
