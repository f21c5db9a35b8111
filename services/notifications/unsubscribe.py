"""Unsubscribe links (RFC 2369 List-Unsubscribe, RFC 8058 one-click): every email names a link
that turns email off, for its recipient, for the event types it told of (a digest: each type it
gathered). The link carries its own proof: the subject and types, signed with HMAC-SHA256 under
the first of NOTIFICATIONS_UNSUBSCRIBE_KEYS (any of them verifies, so keys can be rotated). It
does not expire: an unsubscribe link must work for as long as the email is kept; what it can do
is only ever to send less."""

import base64
import hashlib
import hmac
import html
import json
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import SecretStr

from services.notifications.keys import NEW_UNSUBSCRIBE_KEY, key_list
from shared.errors import BadRequest

_INVALID = (
    "this unsubscribe link is not valid (cut short, altered, or from another installation): "
    "choose your emails in the app instead (PUT /me/preferences)"
)


@dataclass(frozen=True)
class Unsubscription:
    subject: str
    event_types: tuple[str, ...]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class UnsubscribeLinks:
    def __init__(self, keys: SecretStr) -> None:
        self._keys = [key.encode("utf-8") for key in key_list(keys)]
        if not self._keys or any(len(key) < 32 for key in self._keys):
            raise ValueError(
                "every key of NOTIFICATIONS_UNSUBSCRIBE_KEYS needs 32 characters or more: make "
                f"one with {NEW_UNSUBSCRIBE_KEY}"
            )

    def token(self, subject: str, event_types: Sequence[str]) -> str:
        payload = _b64(json.dumps({"s": subject, "t": sorted(set(event_types))}).encode())
        return f"{payload}.{_b64(_mac(self._keys[0], payload))}"

    def read(self, link_token: str) -> Unsubscription:
        """What a token asks, if one of the keys signed it; a 400 saying what to do otherwise."""
        payload, _, signature = link_token.partition(".")
        try:
            given = _unb64(signature)
            if not any(hmac.compare_digest(given, _mac(key, payload)) for key in self._keys):
                raise ValueError("signed by none of the keys")
            fields = json.loads(_unb64(payload))
            return Unsubscription(str(fields["s"]), tuple(str(t) for t in fields["t"]))
        except (ValueError, KeyError, TypeError):
            raise BadRequest(_INVALID) from None


def _mac(key: bytes, payload: str) -> bytes:
    return hmac.new(key, payload.encode("ascii"), hashlib.sha256).digest()


def email_off(
    subscriptions: dict[str, dict[str, bool]], event_types: Sequence[str]
) -> dict[str, dict[str, bool]]:
    """The subscriptions with email off for `event_types`, every other choice kept."""
    return subscriptions | {t: subscriptions.get(t, {}) | {"email": False} for t in event_types}


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>{title}</h1><p>{text}</p>{form}</body></html>
"""


def _page(asked: Unsubscription, title: str, then: str, form: str = "") -> str:
    named = ", ".join(html.escape(t) for t in asked.event_types) or "these notifications"
    text = f"You will no longer be emailed about: {named}. {then}"
    return _PAGE.format(title=title, text=text, form=form)


def confirmation_page(asked: Unsubscription) -> str:
    # A GET changes nothing: mail scanners and link previews open links by themselves.
    return _page(
        asked,
        "Stop these emails?",
        "They stay in your notifications in the app.",
        '<form method="post"><button type="submit">Unsubscribe</button></form>',
    )


def done_page(asked: Unsubscription) -> str:
    return _page(
        asked,
        "Unsubscribed",
        "Changed your mind? Turn them back on in your notification preferences.",
    )
