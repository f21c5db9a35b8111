"""Loads the demo data (demo/data.json: the cities, networks, funds and exchanges of the two
source documents) into a running development system, through its HTTP APIs only, as a portal
and a back office would. Run `make run` in one terminal, then `make demo` in another.

It tells the money's story too: donors' pledges (Genève's in francs to the fund it set up with
Lyon and Bamako, Monaco's for Dakar and Cotonou...) and what was received of them, at the rate
recorded; Lomé and Lyon's application to the International City Solidarity Fund, reviewed by two
of the fund's administrators and approved by a third; its first milestone reported and its
tranche paid (released by the treasurer, approved by the committee: it is above the threshold
for a second approval).

Development only: it signs in with the development administrator's documented credentials,
which exist nowhere else. Re-running it changes nothing: every creation carries an
idempotency key derived from the data, and what already exists is taken as it is."""

import argparse
import asyncio
import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import httpx

from services.registry.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_USERNAME
from shared.devstack import SERVICE_PORTS

DATA = Path(__file__).with_name("data.json")
DEMO_PASSWORD = "demo-password-2026"  # every demo account's, documented in the README
# While funding has not yet heard of what a request names (an agreement made active a moment
# ago), it answers 409: the loader asks again, up to this long.
EVENTUAL_SECONDS = 20.0


def officer_username(slug: str) -> str:
    return f"officer.{slug}@demo.city-exchange.test"


class Client:
    def __init__(self, http: httpx.AsyncClient, urls: dict[str, str]) -> None:
        self.http = http
        self.urls = urls  # service name -> base URL
        # Things this run created (a 201 that is not an idempotent replay): 0 on a re-run.
        self.created = 0

    async def call(
        self,
        method: str,
        service: str,
        path: str,
        token: str | None = None,
        *,
        key: str | None = None,
        **kw: Any,
    ) -> httpx.Response:
        headers = kw.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if key:
            # Derived from the data, so a re-run replays; hashed, since headers are ASCII.
            headers["Idempotency-Key"] = hashlib.sha256(key.encode()).hexdigest()
        response = await self.http.request(method, self.urls[service] + path, headers=headers, **kw)
        if response.status_code == 201 and "Idempotent-Replayed" not in response.headers:
            self.created += 1
        return response

    async def ok(
        self,
        method: str,
        service: str,
        path: str,
        token: str | None = None,
        *,
        tolerate: tuple[int, ...] = (),
        **kw: Any,
    ) -> Any:
        """The JSON answer; a status in `tolerate` (e.g. 409: it exists already) gives None."""
        response = await self.call(method, service, path, token, **kw)
        if response.status_code in tolerate:
            return None
        if response.status_code >= 400:
            raise SystemExit(f"{method} {service}{path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    async def eventually_ok(
        self, method: str, service: str, path: str, token: str, **kw: Any
    ) -> Any:
        """As `ok`, asking again while the service answers 409 for what it has not heard of yet
        (events take a moment to arrive; a key is replayed only once a request succeeded)."""
        for _ in range(int(EVENTUAL_SECONDS / 0.1)):
            response = await self.call(method, service, path, token, **kw)
            if response.status_code != 409:
                break
            await asyncio.sleep(0.1)
        if response.status_code >= 400:
            raise SystemExit(f"{method} {service}{path}: {response.status_code} {response.text}")
        return response.json()

    async def tokens(self, username: str, password: str) -> dict[str, str]:
        data = {"grant_type": "password", "username": username, "password": password}
        return await self.ok("POST", "registry", "/oauth/token", data=data)

    async def sign_in(self, username: str, password: str) -> str:
        return (await self.tokens(username, password))["access_token"]

    async def refresh(self, tokens: dict[str, str]) -> str:
        """A new access token carrying the roles granted since signing in (a refresh checks no
        password: much cheaper than signing in again)."""
        data = {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
        return (await self.ok("POST", "registry", "/oauth/token", data=data))["access_token"]

    async def account(self, username: str, display_name: str) -> dict[str, str]:
        """Signs the account up if it is new, and signs it in: its tokens."""
        body = {"username": username, "display_name": display_name, "password": DEMO_PASSWORD}
        await self.ok("POST", "registry", "/accounts", json=body, tolerate=(409,))
        return await self.tokens(username, DEMO_PASSWORD)


async def load(client: Client, data: dict[str, Any]) -> None:
    admin = await client.sign_in(DEV_ADMIN_USERNAME, DEV_ADMIN_PASSWORD)
    cities: dict[str, str] = {}
    officers: dict[str, str] = {}
    for city in data["cities"]:
        cities[city["slug"]], officers[city["slug"]] = await _register_city(client, city, admin)
    print(f"{len(cities)} cities registered and verified")

    for network in data["networks"]:
        body = {k: network[k] for k in ("name", "acronym", "scope", "country_code") if k in network}
        created = await client.ok(
            "POST",
            "registry",
            "/networks",
            admin,
            key=f"demo-network-{network['acronym']}",
            json=body,
        )
        for slug in network["members"]:
            await client.ok(
                "POST",
                "registry",
                f"/networks/{created['id']}/members",
                officers[slug],
                json={"city_id": cities[slug]},
                tolerate=(409,),
            )
        for slug in network.get("mandates", []):
            await client.ok(
                "PUT",
                "registry",
                f"/networks/{created['id']}/members/{cities[slug]}/mandate",
                officers[slug],
                json={"granted": True, "domains": []},
            )
    print(f"{len(data['networks'])} networks with their members and mandates")

    # Fixed dates, not today's: a request's body must be the same on every run for its
    # idempotency key to replay rather than conflict.
    period = data["exchange_period"]
    for kind in ("needs", "offers"):
        for n, item in enumerate(data[kind]):
            slug = item["city"]
            city = next(c for c in data["cities"] if c["slug"] == slug)
            capacity = {k: item[k] for k in ("staff_days", "partners") if k in item}
            body = {
                "title": item["title"],
                "description": f"{item['title']}. From the exchanges the source documents describe.",
                "domain": item["domain"],
                "languages": city["official_languages"],
                "forms": item["forms"],
                "capacity": capacity,
                "period": period,
            }
            await client.ok(
                "POST",
                "registry",
                f"/cities/{cities[slug]}/{kind}",
                officers[slug],
                key=f"demo-{kind}-{slug}-{n}",
                json=body,
            )
    print(f"{len(data['needs'])} needs and {len(data['offers'])} offers published")

    for assessment in data["conflict_assessments"]:
        body = {
            "zone": assessment["zone"],
            "phase": assessment["phase"],
            "preconditions": {
                name: {
                    "met": met,
                    "assessed_on": assessment["assessed_on"],
                    "note": assessment["note"],
                }
                for name, met in assessment["preconditions"].items()
            },
        }
        await client.ok(
            "POST",
            "registry",
            f"/cities/{cities[assessment['city']]}/conflict-assessments",
            admin,
            key=f"demo-assessment-{assessment['city']}",
            json=body,
        )
    print(f"{len(data['conflict_assessments'])} conflict profiles assessed")

    # The funds' administrators: a treasurer, two reviewers and the committee's chair.
    staff_accounts = data["fund_staff"]
    signed_in = {
        role: await client.account(account["username"], account["display_name"])
        for role, account in staff_accounts.items()
    }
    subjects = [
        (await client.ok("GET", "registry", "/accounts/me", tokens["access_token"]))["subject"]
        for tokens in signed_in.values()
    ]
    funds: dict[str, str] = {}
    for fund in data["funds"]:
        created = await client.ok(
            "POST",
            "funding",
            "/funds",
            admin,
            key=f"demo-fund-{fund['name']}",
            json={"name": fund["name"], "currency": fund["currency"]},
        )
        funds[fund["name"]] = created["id"]
        for subject in subjects:
            grant = {"subject": subject, "role": "fund_admin", "scope": created["id"]}
            await client.ok("POST", "registry", "/grants", admin, json=grant, tolerate=(409,))
    # Refreshed: their tokens now carry the funds' grants.
    staff = {role: await client.refresh(tokens) for role, tokens in signed_in.items()}
    await _load_pledges(client, data["funds"], funds, staff["treasurer"])
    print(f"{len(data['funds'])} funds with their pledges and what was received of them")

    agreements: dict[str, str] = {}
    for agreement in data["agreements"]:
        parties = [cities[slug] for slug in agreement["parties"]]
        for city_id in parties:
            await _known_to_matching(client, city_id, admin)
        proposer = agreement["parties"][0]
        body = {
            "title": agreement["title"],
            "kind": agreement["kind"],
            "party_city_ids": parties,
            "proposed_by_city_id": parties[0],
        }
        proposed = await client.ok(
            "POST",
            "matching",
            "/agreements",
            officers[proposer],
            key=f"demo-agreement-{agreement['title']}",
            json=body,
        )
        agreements[agreement["title"]] = proposed["id"]
        if agreement["accept"]:
            for slug in agreement["parties"][1:]:
                await client.ok(
                    "POST",
                    "matching",
                    f"/agreements/{proposed['id']}/acceptances",
                    officers[slug],
                    json={"city_id": cities[slug]},
                )
            # The partnerships of 2001 were at work: activate them (a repeat changes nothing).
            await client.ok(
                "POST",
                "matching",
                f"/agreements/{proposed['id']}/activation",
                officers[proposer],
                json={"city_id": cities[proposer]},
            )
    print(f"{len(data['agreements'])} agreements proposed (those of 2001 accepted and active)")

    await _load_applications(
        client, data["applications"], staff, cities, officers, funds, agreements
    )
    print(
        f"{len(data['applications'])} application(s) reviewed, approved, and their first "
        "tranche paid"
    )


async def _register_city(client: Client, city: dict[str, Any], admin: str) -> tuple[str, str]:
    """The city's official signs up and registers it, which makes the official its officer; a
    platform administrator verifies it. The city's id, and its officer's token."""
    slug = city["slug"]
    tokens = await client.account(officer_username(slug), f"Officer of {city['name']}")
    body = {k: v for k, v in city.items() if k != "slug"}
    registered = await client.ok(
        "POST", "registry", "/cities", tokens["access_token"], key=f"demo-city-{slug}", json=body
    )
    await client.ok("POST", "registry", f"/cities/{registered['id']}/verification", admin)
    return registered["id"], await client.refresh(tokens)


async def _load_pledges(
    client: Client, funds_data: list[dict[str, Any]], funds: dict[str, str], treasurer: str
) -> None:
    """Each fund's pledges, recorded by its treasurer, and what was received of each (at the
    rate given, for a pledge in another currency than the fund's)."""
    for fund in funds_data:
        fund_id = funds[fund["name"]]
        for n, pledge in enumerate(fund["pledges"]):
            recorded = await client.ok(
                "POST",
                "funding",
                f"/funds/{fund_id}/pledges",
                treasurer,
                key=f"demo-pledge-{fund['name']}-{n}",
                json={k: v for k, v in pledge.items() if k != "receipts"},
            )
            for r, receipt in enumerate(pledge.get("receipts", [])):
                await client.ok(
                    "POST",
                    "funding",
                    f"/funds/{fund_id}/pledges/{recorded['id']}/receipts",
                    treasurer,
                    key=f"demo-receipt-{fund['name']}-{n}-{r}",
                    json=receipt,
                )


async def _load_applications(
    client: Client,
    applications: list[dict[str, Any]],
    staff: dict[str, str],
    cities: dict[str, str],
    officers: dict[str, str],
    funds: dict[str, str],
    agreements: dict[str, str],
) -> None:
    """A partnership applies; two of the fund's administrators review, a third decides; the
    partnership reports milestones and the fund pays their tranches (with a second
    administrator's approval when a tranche is above the threshold)."""
    for application in applications:
        name = application["title"]
        officer = officers[application["applicant"]]
        body = {
            "agreement_id": agreements[application["agreement"]],
            "applicant_city_id": cities[application["applicant"]],
            **{k: application[k] for k in ("title", "description", "currency", "budget")},
            "milestones": application["milestones"],
        }
        # Funding hears that the agreement is active from matching's events: it may take a moment.
        applied = await client.eventually_ok(
            "POST",
            "funding",
            f"/funds/{funds[application['fund']]}/applications",
            officer,
            key=f"demo-application-{name}",
            json=body,
        )
        path = f"/applications/{applied['id']}"
        for review in application["reviews"]:
            await client.ok(
                "POST",
                "funding",
                f"{path}/reviews",
                staff[review["by"]],
                key=f"demo-review-{name}-{review['kind']}",
                json={k: review[k] for k in ("kind", "decision", "comment")},
            )
        decision = application["decision"]
        decided = await client.ok(
            "POST",
            "funding",
            f"{path}/decision",
            staff[decision["by"]],
            key=f"demo-decision-{name}",
            json={k: decision[k] for k in ("decision", "comment")},
        )
        tranches = [tranche["id"] for tranche in decided["tranches"]]
        for report in application["reports"]:
            await client.ok(
                "POST",
                "funding",
                f"/tranches/{tranches[report['milestone'] - 1]}/milestone-report",
                officer,
                key=f"demo-report-{name}-{report['milestone']}",
                json={"report": report["report"]},
            )
        for release in application["releases"]:
            tranche, milestone = tranches[release["milestone"] - 1], release["milestone"]
            note = {"note": release["note"]}
            released = await client.ok(
                "POST",
                "funding",
                f"/tranches/{tranche}/release",
                staff[release["by"]],
                key=f"demo-release-{name}-{milestone}",
                json=note,
            )
            if released["status"] == "release_requested":
                await client.ok(
                    "POST",
                    "funding",
                    f"/tranches/{tranche}/release-approval",
                    staff[release["approved_by"]],
                    key=f"demo-release-approval-{name}-{milestone}",
                    json=note,
                )


async def _known_to_matching(client: Client, city_id: str, token: str) -> None:
    """Matching learns cities from registry events: wait for it, with a deadline."""
    for _ in range(200):
        if (await client.call("GET", "matching", f"/cities/{city_id}", token)).status_code == 200:
            return
        await asyncio.sleep(0.1)
    raise SystemExit(f"matching did not learn city {city_id} within 20 s: is the broker running?")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    data = json.loads(DATA.read_text())
    urls = {name: f"http://{args.host}:{port}" for name, port in SERVICE_PORTS.items()}
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        try:
            client = Client(http, urls)
            await load(client, data)
        except httpx.ConnectError as exc:
            sys.exit(f"cannot reach the services ({exc}): start them with `make run` first")
    print(f"{client.created} things created by this run (none when it ran before)")
    staff = ", ".join(account["username"] for account in data["fund_staff"].values())
    print(
        f"demo accounts (development only): officer.<city>@demo.city-exchange.test and the "
        f"funds' administrators {staff}, password {DEMO_PASSWORD}; e.g. "
        "officer.lome@demo.city-exchange.test"
    )


if __name__ == "__main__":
    asyncio.run(main())
