"""What notifications' own events say: an owner's webhook endpoint was disabled (they hear of it
in the app and by email, since the webhook itself is what broke)."""

from typing import Any

from services.notifications.domain import Audience, RecipientKind, View
from services.notifications.notices.base import Names, Notice
from shared.contracts.notifications import WEBHOOK_ENDPOINT_DISABLED


def _endpoint_owner(p: Any) -> set[Audience]:
    return {Audience(RecipientKind(p.owner_kind), p.owner_id)}


def _endpoint_disabled(p: Any, _names: Names, _audience: Audience) -> View:
    return {"url": p.url, "reason": p.reason, "since": p.failing_since.date().isoformat()}


ROWS: list[Notice] = [
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
