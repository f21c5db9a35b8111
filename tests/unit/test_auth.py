import uuid

import pytest

from shared.auth import Grant, Principal, Role

CITY = str(uuid.uuid4())


def test_grants_read_and_write_as_role_and_scope() -> None:
    grant = Grant.parse(f"city_officer:{CITY}")
    assert (grant.role, grant.scope, str(grant)) == (
        Role.CITY_OFFICER,
        CITY,
        f"city_officer:{CITY}",
    )
    assert Grant.parse("platform_admin") == Grant(Role.PLATFORM_ADMIN)


@pytest.mark.parametrize("text", ["city_officer", "platform_admin:x", "emperor:x", ""])
def test_malformed_grants_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Grant.parse(text)


def test_a_principal_acts_only_within_its_grants() -> None:
    fund = str(uuid.uuid4())
    principal = Principal(
        "s", "user", frozenset({Grant(Role.CITY_OFFICER, CITY), Grant(Role.FUND_ADMIN, fund)}), 0.0
    )
    assert principal.acts_for_city(uuid.UUID(CITY)) and not principal.acts_for_city(uuid.uuid4())
    assert principal.administers_fund(fund) and not principal.administers_fund(CITY)
    assert not principal.is_platform_admin
    assert principal.scopes(Role.DONOR) == set()
