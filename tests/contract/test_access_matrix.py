"""The role x endpoint matrix of every service, generated from the services' routes.

DECISIONS is the one place where each endpoint's access is decided: a route missing from it
(a new endpoint nobody decided on), a route without exactly one Access declaration, or a
declaration that differs from the decision fails. Then every persona calls every route, and a
persona the rule excludes must be refused (401 anonymous, 403 without the role), while one it
admits must never get those function-level refusals. Object-level checks (this city, this fund)
are tested per service, with real objects, in tests/service."""

import re
import uuid
from collections.abc import Iterator

import pytest
from fastapi.routing import APIRoute

from services.funding.app import DEFINITION as FUNDING
from services.matching.app import DEFINITION as MATCHING
from services.notifications.app import DEFINITION as NOTIFICATIONS
from services.registry.app import DEFINITION as REGISTRY
from shared.auth import Access
from shared.service import ServiceDefinition, create_service_app
from tests.conftest import DatabaseFactory
from tests.helpers import bearer, serve

ADMIN, OFFICER, NETWORK, FUND_ADMIN, DONOR = (
    "platform_admin",
    "city_officer",
    "network_officer",
    "fund_admin",
    "donor",
)
ANY = "authenticated"
PUBLIC = "public"
WEBHOOK_OWNER = f"{OFFICER} | {DONOR} | {FUND_ADMIN} | {NETWORK}"  # notifications' webhooks

DECISIONS: dict[str, dict[str, str]] = {
    "registry": {
        "GET /healthz": PUBLIC,
        "GET /readyz": PUBLIC,
        "POST /cities": ANY,
        "GET /cities": ANY,
        "GET /cities/{city_id}": ANY,
        "POST /cities/{city_id}/verification": ADMIN,
        "POST /oauth/token": PUBLIC,
        "GET /.well-known/jwks.json": PUBLIC,
        "POST /accounts": PUBLIC,
        "GET /accounts/me": ANY,
        "POST /grants": ADMIN,
        "GET /grants": ADMIN,
        "POST /grants/{grant_id}/revocation": ADMIN,
        "POST /clients": ADMIN,
        "POST /clients/{client_id}/revocation": ADMIN,
        "POST /accounts/{account_id}/deactivation": ADMIN,
        "GET /audit": ADMIN,
        "PATCH /cities/{city_id}": f"{OFFICER} | {ADMIN}",
        "POST /cities/{city_id}/conflict-assessments": ADMIN,
        "GET /cities/{city_id}/conflict-profile": f"{OFFICER} | {ADMIN}",
        "PUT /cities/{city_id}/diplomacy-readiness": OFFICER,
        "GET /cities/{city_id}/diplomacy-readiness": ANY,
        "GET /domains": PUBLIC,
        "POST /cities/{city_id}/needs": OFFICER,
        "GET /cities/{city_id}/needs": ANY,
        "GET /needs": ANY,
        "GET /needs/{need_id}": ANY,
        "PATCH /needs/{need_id}": OFFICER,
        "POST /needs/{need_id}/withdrawal": OFFICER,
        "GET /needs/{need_id}/history": ANY,
        "POST /cities/{city_id}/offers": OFFICER,
        "GET /cities/{city_id}/offers": ANY,
        "GET /offers": ANY,
        "GET /offers/{offer_id}": ANY,
        "PATCH /offers/{offer_id}": OFFICER,
        "POST /offers/{offer_id}/withdrawal": OFFICER,
        "GET /offers/{offer_id}/history": ANY,
        "POST /networks": ADMIN,
        "GET /networks": PUBLIC,
        "GET /networks/{network_id}": PUBLIC,
        "GET /networks/{network_id}/members": ANY,
        "POST /networks/{network_id}/members": f"{OFFICER} | {NETWORK} | {ADMIN}",
        "POST /networks/{network_id}/members/{city_id}/departure": f"{OFFICER} | {NETWORK} | {ADMIN}",
        "PUT /networks/{network_id}/members/{city_id}/mandate": OFFICER,
    },
    "matching": {
        "GET /healthz": PUBLIC,
        "GET /readyz": PUBLIC,
        "GET /cities/{city_id}": ANY,
        "POST /agreements": f"{OFFICER} | {NETWORK}",
        "POST /agreements/{agreement_id}/acceptances": f"{OFFICER} | {NETWORK}",
        "GET /agreements/{agreement_id}": ANY,
        "GET /agreements": f"{OFFICER} | {NETWORK} | {ADMIN}",
        "GET /cities/{city_id}/suggestions": f"{OFFICER} | {NETWORK} | {ADMIN}",
        "GET /cities/{city_id}/trilateral-suggestions": f"{OFFICER} | {NETWORK} | {ADMIN}",
        "POST /assignment-runs": ADMIN,
        "GET /assignment-runs/{run_id}": ADMIN,
        "POST /agreements/{agreement_id}/activation": f"{OFFICER} | {NETWORK}",
        "POST /agreements/{agreement_id}/suspension": f"{OFFICER} | {NETWORK}",
        "POST /agreements/{agreement_id}/resumption": f"{OFFICER} | {NETWORK}",
        "POST /agreements/{agreement_id}/conclusion": f"{OFFICER} | {NETWORK}",
        "POST /agreements/{agreement_id}/termination": f"{OFFICER} | {NETWORK}",
        "POST /agreements/{agreement_id}/rejection": f"{OFFICER} | {NETWORK}",
        "POST /agreements/{agreement_id}/withdrawal": f"{OFFICER} | {NETWORK}",
        "POST /agreements/expiry-runs": ADMIN,
        "POST /agreements/{agreement_id}/activity-reports": f"{OFFICER} | {NETWORK}",
        "GET /agreements/{agreement_id}/activity-reports": ANY,
        "GET /agreements/dormant": f"{OFFICER} | {ADMIN}",
        "POST /agreements/dormancy-runs": ADMIN,
        "POST /interests": f"{OFFICER} | {NETWORK}",
        "POST /interests/{interest_id}/answers": f"{OFFICER} | {NETWORK}",
        "POST /interests/{interest_id}/withdrawal": f"{OFFICER} | {NETWORK}",
        "GET /interests/{interest_id}": f"{OFFICER} | {NETWORK} | {ADMIN}",
        "GET /interests": f"{OFFICER} | {NETWORK} | {ADMIN}",
    },
    "funding": {
        "GET /healthz": PUBLIC,
        "GET /readyz": PUBLIC,
        "POST /funds": ADMIN,
        "GET /funds/{fund_id}": PUBLIC,
        "POST /funds/{fund_id}/pledges": f"{DONOR} | {FUND_ADMIN}",
        "GET /funds/{fund_id}/pledges": f"{DONOR} | {FUND_ADMIN} | {ADMIN}",
        "POST /funds/{fund_id}/applications": OFFICER,
        "GET /funds/{fund_id}/applications": f"{OFFICER} | {FUND_ADMIN} | {ADMIN}",
        "GET /applications/{application_id}": f"{OFFICER} | {FUND_ADMIN} | {ADMIN}",
        "POST /applications/{application_id}/reviews": FUND_ADMIN,
        "POST /applications/{application_id}/decision": FUND_ADMIN,
        "POST /applications/{application_id}/amendments": OFFICER,
        "POST /applications/{application_id}/withdrawal": OFFICER,
        "POST /applications/{application_id}/comments": f"{OFFICER} | {FUND_ADMIN}",
        "POST /tranches/{tranche_id}/milestone-report": OFFICER,
        "POST /tranches/{tranche_id}/release": FUND_ADMIN,
        "POST /tranches/{tranche_id}/release-approval": FUND_ADMIN,
        "POST /tranches/{tranche_id}/release-cancellation": FUND_ADMIN,
        "POST /tranches/{tranche_id}/pause": FUND_ADMIN,
        "POST /tranches/{tranche_id}/resumption": FUND_ADMIN,
        "GET /funds/{fund_id}/tranches": f"{FUND_ADMIN} | {ADMIN}",
        "PATCH /funds/{fund_id}": f"{FUND_ADMIN} | {ADMIN}",
        "GET /funds": PUBLIC,
        "POST /funds/{fund_id}/closure": f"{FUND_ADMIN} | {ADMIN}",
        "GET /funds/{fund_id}/balances": PUBLIC,
        "GET /funds/{fund_id}/pledges/{pledge_id}": f"{DONOR} | {FUND_ADMIN} | {ADMIN}",
        "POST /funds/{fund_id}/pledges/{pledge_id}/receipts": FUND_ADMIN,
        "GET /funds/{fund_id}/receipts": f"{DONOR} | {FUND_ADMIN} | {ADMIN}",
        "POST /funds/{fund_id}/pledges/{pledge_id}/cancellation": FUND_ADMIN,
        "POST /funds/{fund_id}/overdue-runs": FUND_ADMIN,
        "GET /in-kind-rates": PUBLIC,
        "POST /funds/{fund_id}/in-kind-pledges": f"{DONOR} | {FUND_ADMIN}",
        "GET /funds/{fund_id}/in-kind-pledges": f"{DONOR} | {FUND_ADMIN} | {ADMIN}",
        "POST /funds/{fund_id}/in-kind-pledges/{in_kind_pledge_id}/deliveries": FUND_ADMIN,
        "GET /funds/{fund_id}/public-log": PUBLIC,
        "GET /funds/{fund_id}/public-log/head": PUBLIC,
        "GET /funds/{fund_id}/public-log/documents": f"{FUND_ADMIN} | {ADMIN}",
        "GET /funds/{fund_id}/donors/{donor_id}/money-trail": f"{DONOR} | {FUND_ADMIN} | {ADMIN}",
        "GET /funds/{fund_id}/transparency": PUBLIC,
        "GET /funds/{fund_id}/iati.xml": PUBLIC,
        "GET /funds/{fund_id}/360giving.csv": PUBLIC,
    },
    "notifications": {
        "GET /healthz": PUBLIC,
        "GET /readyz": PUBLIC,
        "GET /feeds/{recipient_kind}/{recipient_id}": f"{OFFICER} | {FUND_ADMIN}",
        # Webhook endpoints: their owners only (a city's officer, a fund's administrator, a
        # donor's client, a network's officer); another owner's endpoint is a 404.
        "GET /webhook-event-types": PUBLIC,
        "POST /webhook-endpoints": WEBHOOK_OWNER,
        "GET /webhook-endpoints": WEBHOOK_OWNER,
        "GET /webhook-endpoints/{endpoint_id}": WEBHOOK_OWNER,
        "PATCH /webhook-endpoints/{endpoint_id}": WEBHOOK_OWNER,
        "DELETE /webhook-endpoints/{endpoint_id}": WEBHOOK_OWNER,
        "POST /webhook-endpoints/{endpoint_id}/secret-rotations": WEBHOOK_OWNER,
        "GET /webhook-endpoints/{endpoint_id}/deliveries": WEBHOOK_OWNER,
        "GET /webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}": WEBHOOK_OWNER,
        "POST /webhook-endpoints/{endpoint_id}/deliveries/{delivery_id}/replays": WEBHOOK_OWNER,
        "POST /webhook-endpoints/{endpoint_id}/replays": WEBHOOK_OWNER,
        # Everyone's own notifications and preferences: whoever holds a role hears through it.
        "GET /event-types": ANY,
        "GET /me/preferences": ANY,
        "PUT /me/preferences": ANY,
        "GET /me/notifications": ANY,
        "GET /me/notifications/unread-count": ANY,
        "POST /me/notifications/{seq}/read": ANY,
        "POST /me/notifications/read": ANY,
        "GET /me/notifications/stream": ANY,
        "GET /me/emails": ANY,
        # An email's unsubscribe link: the signed token in it is the proof of who asks.
        "GET /unsubscribe/{token}": PUBLIC,
        "POST /unsubscribe/{token}": PUBLIC,
    },
}

SERVICES = {d.name: d for d in (REGISTRY, MATCHING, FUNDING, NOTIFICATIONS)}
SCOPE = str(uuid.uuid4())


def _personas() -> dict[str, dict[str, str]]:
    """Minted when a test runs, so that a long suite cannot outlive the tokens."""
    return {
        "anonymous": {},
        "account without roles": bearer(),
        OFFICER: bearer(f"{OFFICER}:{SCOPE}"),
        NETWORK: bearer(f"{NETWORK}:{SCOPE}"),
        FUND_ADMIN: bearer(f"{FUND_ADMIN}:{SCOPE}"),
        DONOR: bearer(f"{DONOR}:{SCOPE}", kind="client"),
        ADMIN: bearer(ADMIN),
    }


FUNCTION_LEVEL_REFUSAL = "this needs the role"


def _api_routes(routes: list) -> Iterator[APIRoute]:  # type: ignore[type-arg]
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router
            yield from _api_routes(route.original_router.routes)


def _routes(definition: ServiceDefinition) -> dict[str, APIRoute]:
    """Every operation of the service's OpenAPI document, with the route that serves it."""
    app = create_service_app(definition, messaging=False)
    routes = {
        f"{method} {route.path}": route
        for route in _api_routes(app.routes)
        for method in route.methods - {"HEAD"}
    }
    documented = {
        f"{method.upper()} {path}"
        for path, operations in app.openapi()["paths"].items()
        for method in operations
    }
    assert documented == set(routes), "every route must be in the OpenAPI document, and only those"
    return routes


def _declared(route: APIRoute) -> list[Access]:
    found: list[Access] = []
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, Access):
            found.append(dependant.call)
        pending.extend(dependant.dependencies)
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_has_exactly_the_decided_access(service: str) -> None:
    routes = _routes(SERVICES[service])
    assert sorted(routes) == sorted(DECISIONS[service]), "decide the access of new routes here"
    for name, route in routes.items():
        declared = _declared(route)
        assert len(declared) == 1, f"{service} {name} declares {declared}: it needs exactly one"
        assert declared[0].name == DECISIONS[service][name], f"{service} {name}"


def _admits(decision: str, persona: str) -> bool:
    if decision == PUBLIC:
        return True
    if persona == "anonymous":
        return False
    return decision == ANY or persona in decision.split(" | ")


@pytest.mark.parametrize("service", SERVICES)
async def test_every_persona_gets_the_decided_answer_on_every_route(
    service: str, new_database: DatabaseFactory
) -> None:
    definition = SERVICES[service]
    settings = definition.settings(database_url=await new_database(service))
    async with serve(definition, settings) as running:
        for name in _routes(definition):
            method, path = name.split(" ")
            url = re.sub(r"\{recipient_kind\}", "city", path)
            url = re.sub(r"\{[a-z_]+\}", str(uuid.uuid4()), url)
            for persona, headers in _personas().items():
                response = await running.client.request(method, url, headers=headers)
                refused = response.status_code == 401 or (
                    response.status_code == 403 and FUNCTION_LEVEL_REFUSAL in response.text
                )
                expected = not _admits(DECISIONS[service][name], persona)
                assert refused == expected, (
                    f"{service} {name} as {persona}: {response.status_code} {response.text[:200]}"
                )
                if response.status_code == 401:
                    assert "WWW-Authenticate" in response.headers
                assert response.status_code < 500, f"{service} {name} as {persona}: {response.text}"
