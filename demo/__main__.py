"""Loads the demo data (demo/data.json: the cities, networks, funds and exchanges of the two
source documents) into a running development system, through its HTTP APIs only, as a portal
and a back office would. Run `make run` in one terminal, then `make demo` in another.

Development only: it signs in with the development administrator's documented credentials,
which exist nowhere else. Re-running it changes nothing: every creation carries an
idempotency key derived from the data, and what already exists is taken as it is."""

import argparse
import asyncio
import hashlib
import json
import sys
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from services.registry.settings import DEV_ADMIN_PASSWORD, DEV_ADMIN_USERNAME
from shared.devstack import SERVICE_PORTS

DATA = Path(__file__).with_name("data.json")
DEMO_PASSWORD = "demo-password-2026"  # every demo account's, documented in the README
TREASURER = "treasurer@demo.city-exchange.test"


def officer_username(slug: str) -> str:
    return f"officer.{slug}@demo.city-exchange.test"


class Client:
    def __init__(self, http: httpx.AsyncClient, host: str) -> None:
        self.http = http
        self.host = host

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
        url = f"http://{self.host}:{SERVICE_PORTS[service]}{path}"
        return await self.http.request(method, url, headers=headers, **kw)

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

    async def sign_in(self, username: str, password: str) -> str:
        data = {"grant_type": "password", "username": username, "password": password}
        return (await self.ok("POST", "registry", "/oauth/token", data=data))["access_token"]

    async def account(self, username: str, display_name: str) -> str:
        """Signs the account up if it is new, and signs it in."""
        body = {"username": username, "display_name": display_name, "password": DEMO_PASSWORD}
        await self.ok("POST", "registry", "/accounts", json=body, tolerate=(409,))
        return await self.sign_in(username, DEMO_PASSWORD)


async def load(client: Client, data: dict[str, Any]) -> None:
    admin = await client.sign_in(DEV_ADMIN_USERNAME, DEV_ADMIN_PASSWORD)
    cities: dict[str, str] = {}
    officers: dict[str, str] = {}
    for city in data["cities"]:
        slug = city["slug"]
        token = await client.account(officer_username(slug), f"Officer of {city['name']}")
        body = {k: v for k, v in city.items() if k != "slug"}
        registered = await client.ok(
            "POST", "registry", "/cities", token, key=f"demo-city-{slug}", json=body
        )
        cities[slug] = registered["id"]
        officers[slug] = await client.sign_in(
            officer_username(slug), DEMO_PASSWORD
        )  # now its officer
        await client.ok("POST", "registry", f"/cities/{cities[slug]}/verification", admin)
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

    period = {
        "start": date.today().isoformat(),
        "end": (date.today() + timedelta(days=365)).isoformat(),
    }
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
                    "assessed_on": date.today().isoformat(),
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

    await client.account(TREASURER, "Trésorier des fonds de démonstration")
    me = await client.ok(
        "GET", "registry", "/accounts/me", await client.sign_in(TREASURER, DEMO_PASSWORD)
    )
    for fund in data["funds"]:
        created = await client.ok(
            "POST",
            "funding",
            "/funds",
            admin,
            key=f"demo-fund-{fund['name']}",
            json={"name": fund["name"], "currency": fund["currency"]},
        )
        grant = {"subject": me["subject"], "role": "fund_admin", "scope": created["id"]}
        await client.ok("POST", "registry", "/grants", admin, json=grant, tolerate=(409,))
        treasurer = await client.sign_in(TREASURER, DEMO_PASSWORD)
        for n, pledge in enumerate(fund["pledges"]):
            await client.ok(
                "POST",
                "funding",
                f"/funds/{created['id']}/pledges",
                treasurer,
                key=f"demo-pledge-{fund['name']}-{n}",
                json=pledge,
            )
    print(f"{len(data['funds'])} funds with their pledges")

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
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        try:
            await load(Client(http, args.host), data)
        except httpx.ConnectError as exc:
            sys.exit(f"cannot reach the services ({exc}): start them with `make run` first")
    print(
        f"demo accounts (development only): officer.<city>@demo.city-exchange.test and {TREASURER}, "
        f"password {DEMO_PASSWORD}; e.g. officer.lome@demo.city-exchange.test"
    )


if __name__ == "__main__":
    asyncio.run(main())
