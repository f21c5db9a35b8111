"""Funding rules, free of I/O. Money itself (ISO 4217 codes, minor units) follows shared.money:
amounts are Decimal in the API and integer minor units in storage, never float."""

import uuid
from enum import StrEnum

from shared.auth import Principal, Role
from shared.errors import Forbidden


class DonorKind(StrEnum):
    CITY = "city"
    GOVERNMENT = "government"
    COMPANY = "company"
    FOUNDATION = "foundation"
    INDIVIDUAL = "individual"
    NETWORK = "network"
    MULTILATERAL = "multilateral"  # e.g. a UNDP trust fund


def _donor_ids(principal: Principal) -> set[uuid.UUID]:
    try:
        return {uuid.UUID(scope) for scope in principal.scopes(Role.DONOR)}
    except ValueError as exc:
        # The registry grants donor roles scoped by donor id; anything else is a bad grant.
        raise Forbidden(f"a donor grant must name a donor id: {exc}") from exc


def pledging_donor(principal: Principal, fund_id: uuid.UUID) -> uuid.UUID | None:
    """The donor a new pledge in `fund_id` is in the name of, from the caller's token alone (never
    from the request body, or a donor could pledge in another's name).

    A donor's client pledges as itself: its one donor id. A fund's administrator records a pledge
    of an offline donor (no donor account): None. A caller holding both pledges as the donor."""
    donors = _donor_ids(principal)
    if len(donors) > 1:
        raise Forbidden(
            f"this token acts for {len(donors)} donors; pledge with a token for one donor, "
            "so that the pledge is in that donor's name"
        )
    if donors:
        return donors.pop()
    if principal.administers_fund(fund_id):
        return None
    raise Forbidden(f"you do not administer fund {fund_id}; only its administrators record pledges")


def visible_donors(principal: Principal, fund_id: uuid.UUID) -> set[uuid.UUID] | None:
    """Whose pledges in `fund_id` the caller may read: None for all of them (the fund's
    administrators and platform administrators), else only the caller's own donors' pledges.
    Funds are public; who pledged what is not, hence the narrower rule."""
    if principal.is_platform_admin or principal.administers_fund(fund_id):
        return None
    if principal.has_role(Role.DONOR):
        return _donor_ids(principal)
    raise Forbidden(
        f"you do not administer fund {fund_id}; only its administrators see its pledges"
    )
