"""Unsubscribe links: signed, checked with any of the keys (so keys can be rotated), and what
they turn off."""

import pytest
from pydantic import SecretStr

from services.notifications.unsubscribe import UnsubscribeLinks, email_off
from shared.errors import BadRequest

OLD, NEW = "o" * 32, "n" * 32


def test_a_link_signed_with_an_older_key_still_works_while_that_key_is_listed() -> None:
    link = UnsubscribeLinks(SecretStr(OLD)).token("officer", ["NeedPublished", "FundCreated"])
    rotated = UnsubscribeLinks(SecretStr(f"{NEW},{OLD}"))
    asked = rotated.read(link)
    assert (asked.subject, asked.event_types) == ("officer", ("FundCreated", "NeedPublished"))
    # New links are signed with the first key; once the old key is dropped, its links fail.
    assert UnsubscribeLinks(SecretStr(NEW)).read(rotated.token("officer", ["FundCreated"]))
    with pytest.raises(BadRequest, match="not valid"):
        UnsubscribeLinks(SecretStr(NEW)).read(link)


def test_email_off_keeps_every_other_choice() -> None:
    chosen = {"FundCreated": {"in_app": False}, "NeedPublished": {"email": True}}
    assert email_off(chosen, ["NeedPublished", "AgreementProposed"]) == {
        "FundCreated": {"in_app": False},
        "NeedPublished": {"email": False},
        "AgreementProposed": {"email": False},
    }
