"""Identity in the registry: accounts and the token endpoint, refresh rotation, donor systems'
client credentials and their revocation, role grants, the audit log, and the tokens every
service must refuse."""

import asyncio
import time
import uuid
from typing import Any

import httpx
import jwt
import pytest

from services.registry.identity.dev_keys import DEV_SIGNING_KEY
from services.registry.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_USERNAME, RegistrySettings
from shared.contracts.registry import CREDENTIALS_REVOKED, ROLE_GRANTED, ROLE_REVOKED
from shared.settings import ServiceSettings
from tests.helpers import ServiceUnderTest, bearer

PASSWORD = "a long enough password"


async def sign_up(registry: ServiceUnderTest, username: str = "mayor@lome.tg") -> dict[str, Any]:
    response = await registry.client.post(
        "/accounts",
        json={"username": username, "display_name": "Maire de Lomé", "password": PASSWORD},
    )
    assert response.status_code == 201, response.text
    return response.json()


async def password_grant(
    registry: ServiceUnderTest, username: str, password: str
) -> httpx.Response:
    return await registry.client.post(
        "/oauth/token", data={"grant_type": "password", "username": username, "password": password}
    )


def auth(access_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access_token}"}


async def admin_token(registry: ServiceUnderTest) -> str:
    response = await password_grant(registry, DEV_ADMIN_USERNAME, DEV_ADMIN_PASSWORD)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


async def test_a_person_signs_up_signs_in_and_is_known(registry: ServiceUnderTest) -> None:
    account = await sign_up(registry)
    assert "password" not in str(account)
    response = await password_grant(registry, "MAYOR@lome.tg", PASSWORD)
    assert response.status_code == 200, response.text
    tokens = response.json()
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    me = (await registry.client.get("/accounts/me", headers=auth(tokens["access_token"]))).json()
    assert (me["subject"], me["kind"], me["grants"]) == (account["id"], "user", [])


async def test_registering_a_city_makes_the_account_its_officer(registry: ServiceUnderTest) -> None:
    await sign_up(registry)
    tokens = (await password_grant(registry, "mayor@lome.tg", PASSWORD)).json()
    city = (
        await registry.client.post(
            "/cities",
            json={"name": "Lomé", "country_code": "TG"},
            headers=auth(tokens["access_token"]),
        )
    ).json()
    assert city["verified_at"] is None
    refreshed = await registry.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.json()["scope"] == f"city_officer:{city['id']}"
    granted = [event.payload(ROLE_GRANTED) for event in await registry.events("RoleGranted")]
    assert [(g.role, g.scope) for g in granted] == [
        ("platform_admin", None),
        ("city_officer", city["id"]),
    ]


async def test_refresh_tokens_are_used_once_and_a_reuse_ends_the_sign_in(
    registry: ServiceUnderTest,
) -> None:
    await sign_up(registry)
    first = (await password_grant(registry, "mayor@lome.tg", PASSWORD)).json()["refresh_token"]

    async def refresh(token: str) -> httpx.Response:
        return await registry.client.post(
            "/oauth/token", data={"grant_type": "refresh_token", "refresh_token": token}
        )

    second = await refresh(first)
    assert second.status_code == 200
    reused = await refresh(first)
    assert (reused.status_code, reused.json()["error"]) == (400, "invalid_grant")
    # The copy that was reused may be the thief's: the legitimate holder signs in again too.
    assert (await refresh(second.json()["refresh_token"])).status_code == 400


async def test_wrong_password_and_unknown_user_look_alike_and_are_rate_limited(
    registry: ServiceUnderTest,
) -> None:
    await sign_up(registry)
    unknown = await password_grant(registry, "nobody@nowhere.org", PASSWORD)
    wrong = await password_grant(registry, "mayor@lome.tg", "not the password")
    assert unknown.status_code == wrong.status_code == 400
    assert (
        unknown.json()
        == wrong.json()
        == {
            "error": "invalid_grant",
            "error_description": "wrong username or password",
        }
    )
    for _ in range(4):
        await password_grant(registry, "mayor@lome.tg", "still wrong")
    limited = await password_grant(registry, "mayor@lome.tg", PASSWORD)
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) > 0


async def test_a_donor_system_uses_client_credentials_until_revoked(
    registry: ServiceUnderTest,
) -> None:
    admin = auth(await admin_token(registry))
    created = await registry.client.post("/clients", json={"name": "Fondation X"}, headers=admin)
    assert created.status_code == 201, created.text
    client = created.json()
    [donor_grant] = client["grants"]
    assert donor_grant.startswith("donor:")

    basic = httpx.BasicAuth(client["client_id"], client["client_secret"])
    issued = await registry.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=basic
    )
    assert issued.status_code == 200, issued.text
    assert "refresh_token" not in issued.json() or issued.json()["refresh_token"] is None
    client_token = auth(issued.json()["access_token"])
    me = (await registry.client.get("/accounts/me", headers=client_token)).json()
    assert (me["kind"], me["grants"]) == ("client", [donor_grant])

    revoked = await registry.client.post(
        f"/clients/{client['client_id']}/revocation",
        json={"reason": "secret leaked"},
        headers=admin,
    )
    assert revoked.status_code == 204
    refused = await registry.client.get("/accounts/me", headers=client_token)
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    again = await registry.client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=basic
    )
    assert (again.status_code, again.json()["error"]) == (401, "invalid_client")
    [event] = await registry.events("CredentialsRevoked")
    assert event.payload(CREDENTIALS_REVOKED).reason == "secret leaked"
    actions = [e["action"] for e in (await registry.client.get("/audit", headers=admin)).json()]
    assert {"client.created", "client.revoked", "role.granted"} <= set(actions)


async def test_roles_are_granted_and_revoked_by_platform_admins_only(
    registry: ServiceUnderTest,
) -> None:
    account = await sign_up(registry)
    admin = auth(await admin_token(registry))
    fund_id = str(uuid.uuid4())
    body = {"subject": account["id"], "role": "fund_admin", "scope": fund_id}
    denied = await registry.client.post(
        "/grants", json=body, headers=bearer(f"city_officer:{uuid.uuid4()}")
    )
    assert denied.status_code == 403

    granted = await registry.client.post("/grants", json=body, headers=admin)
    assert granted.status_code == 201, granted.text
    assert (await registry.client.post("/grants", json=body, headers=admin)).status_code == 409
    unscoped = await registry.client.post("/grants", json={**body, "scope": None}, headers=admin)
    assert unscoped.status_code == 422 and "needs scope" in unscoped.text
    ghost = await registry.client.post(
        "/grants", json={**body, "subject": str(uuid.uuid4())}, headers=admin
    )
    assert ghost.status_code == 404

    before = auth(
        (await password_grant(registry, "mayor@lome.tg", PASSWORD)).json()["access_token"]
    )
    assert (await registry.client.get("/accounts/me", headers=before)).json()["grants"] == [
        f"fund_admin:{fund_id}"
    ]
    await asyncio.sleep(0.01)  # the revocation must come after the token's issue time
    revoked = await registry.client.post(
        f"/grants/{granted.json()['id']}/revocation", headers=admin
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await registry.client.get("/accounts/me", headers=before)).status_code == 401
    after = auth((await password_grant(registry, "mayor@lome.tg", PASSWORD)).json()["access_token"])
    assert (await registry.client.get("/accounts/me", headers=after)).json()["grants"] == []
    [revocation] = await registry.events("RoleRevoked")
    assert revocation.payload(ROLE_REVOKED).subject == account["id"]


async def test_platform_admins_verify_cities(registry: ServiceUnderTest) -> None:
    city = (
        await registry.client.post(
            "/cities", json={"name": "Bamako", "country_code": "ML"}, headers=bearer()
        )
    ).json()
    url = f"/cities/{city['id']}/verification"
    assert (
        await registry.client.post(url, headers=bearer(f"city_officer:{city['id']}"))
    ).status_code == 403
    admin = auth(await admin_token(registry))
    for _ in range(2):
        verified = await registry.client.post(url, headers=admin)
        assert verified.status_code == 200 and verified.json()["verified_at"]
    assert len(await registry.events("CityVerified")) == 1


def _signed(claims: dict[str, Any], key: str = DEV_SIGNING_KEY) -> str:
    now = time.time()
    base = {"iss": "city-exchange", "aud": "city-exchange", "sub": "s", "iat": now, "exp": now + 60}
    return jwt.encode({**base, **claims}, key, algorithm="EdDSA")


@pytest.mark.parametrize(
    ("scheme", "claims", "reason"),
    [
        (None, None, "missing bearer token"),
        ("Basic", None, "missing bearer token"),
        ("Bearer", None, "Not enough segments"),
        ("Bearer", {"exp": -120}, "expired"),
        ("Bearer", {"aud": "another-system"}, "Audience"),
        ("Bearer", {"iss": "someone-else"}, "issuer"),
        ("Bearer", {"tamper": True}, "Signature verification failed"),
        ("Bearer", {"roles": ["emperor"]}, "is not a valid Role"),
    ],
)
async def test_bad_tokens_get_401_with_a_www_authenticate_header(
    registry: ServiceUnderTest, scheme: str | None, claims: dict[str, Any] | None, reason: str
) -> None:
    if scheme is None:
        headers = {}
    elif claims is None:
        headers = {
            "Authorization": f"{scheme} dXNlcjpwYXNz"
            if scheme == "Basic"
            else f"{scheme} not-a-jwt"
        }
    else:
        claims = dict(claims)
        tamper = claims.pop("tamper", False)
        if "exp" in claims:
            claims["exp"] = time.time() + claims["exp"]  # minted now: the suite may run long
        signed = _signed(claims)
        headers = {"Authorization": f"Bearer {signed[:-4] + 'AAAA' if tamper else signed}"}
    response = await registry.client.get("/accounts/me", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="city-exchange"')
    assert reason in response.json()["detail"]


async def test_a_token_signed_with_another_key_is_refused(registry: ServiceUnderTest) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    other = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    response = await registry.client.get(
        "/accounts/me", headers={"Authorization": "Bearer " + _signed({}, other.decode())}
    )
    assert response.status_code == 401


def test_outside_development_the_development_keys_are_refused() -> None:
    with pytest.raises(ValueError, match="development token key"):
        ServiceSettings(environment="test")
    with pytest.raises(ValueError, match="development signing key"):
        RegistrySettings(environment="test", auth_public_key="-----BEGIN PUBLIC KEY-----x")
    assert (
        RegistrySettings(
            environment="test", auth_public_key="x", token_signing_key="y"
        ).bootstrap_admin_username
        is None
    )


async def test_a_deactivated_account_is_locked_out_at_once(registry: ServiceUnderTest) -> None:
    account = await sign_up(registry)
    tokens = (await password_grant(registry, "mayor@lome.tg", PASSWORD)).json()
    assert (
        tokens
        and (
            await registry.client.get("/accounts/me", headers=auth(tokens["access_token"]))
        ).status_code
        == 200
    )
    await asyncio.sleep(0.01)  # the deactivation must come after the token's issue time
    admin = auth(await admin_token(registry))
    url = f"/accounts/{account['id']}/deactivation"
    assert (
        await registry.client.post(url, json={"reason": "left office"}, headers=admin)
    ).status_code == 204

    assert (
        await registry.client.get("/accounts/me", headers=auth(tokens["access_token"]))
    ).status_code == 401
    assert (await password_grant(registry, "mayor@lome.tg", PASSWORD)).status_code == 400
    refresh = await registry.client.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refresh.status_code == 400
    [event] = await registry.events("CredentialsRevoked")
    assert event.payload(CREDENTIALS_REVOKED).subject_kind == "user"


async def test_token_answers_are_never_cached(registry: ServiceUnderTest) -> None:
    await sign_up(registry)
    good = await password_grant(registry, "mayor@lome.tg", PASSWORD)
    bad = await password_grant(registry, "mayor@lome.tg", "wrong password!")
    assert good.headers["Cache-Control"] == bad.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"username": "not-an-email", "password": PASSWORD}, "e-mail"),
        ({"username": "a@b.org", "password": "short"}, "at least 12"),
        (
            {"username": "long.enough@b.org", "password": "long.enough@b.org"},
            "cannot be the username",
        ),
        (
            {"username": "a@b.org", "password": PASSWORD, "roles": ["platform_admin"]},
            "Extra inputs",
        ),
    ],
)
async def test_sign_up_refuses_bad_input_with_a_clear_422(
    registry: ServiceUnderTest, body: dict[str, Any], message: str
) -> None:
    response = await registry.client.post("/accounts", json={"display_name": "X", **body})
    assert response.status_code == 422 and message in response.text, response.text
