"""The one table of what notifications says: NOTICES, event type -> Notice (audiences, view,
templates), gathered from one module per producer. See base.py for what a row holds."""

from collections.abc import Iterable

from services.notifications.notices import funding, matching, own, registry
from services.notifications.notices.base import Names, Notice
from shared.contracts import EventSpec

NOTICES: dict[str, Notice] = {
    row.spec.type: row
    for rows in (registry.ROWS, matching.ROWS, funding.ROWS, own.ROWS)
    for row in rows
}


def notice_specs() -> Iterable[EventSpec]:
    return (row.spec for row in NOTICES.values())


__all__ = ["NOTICES", "Names", "Notice", "notice_specs"]
