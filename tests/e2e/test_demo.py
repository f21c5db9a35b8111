"""End-to-end: `make demo`'s loader against the real processes. It tells the money's story (the
fund Genève, Lyon and Bamako set up receives their contributions, pays Lomé and Lyon's first
tranche) and a second run creates nothing and changes no fund's public log."""

import json
from decimal import Decimal

import httpx
import pytest

from demo.__main__ import DATA, DEMO_PASSWORD, Client, load
from shared.devstack import Stack

pytestmark = pytest.mark.e2e

SOLIDARITY_FUND = "International City Solidarity Fund"


async def _funds(client: Client) -> dict[str, str]:
    return {fund["name"]: fund["id"] for fund in await client.ok("GET", "funding", "/funds")}


async def _what_the_public_sees(client: Client) -> dict[str, object]:
    """Every fund's balances and public log head: what a second run must leave as it was."""
    seen: dict[str, object] = {}
    for name, fund_id in (await _funds(client)).items():
        seen[name] = (
            await client.ok("GET", "funding", f"/funds/{fund_id}/balances"),
            await client.ok("GET", "funding", f"/funds/{fund_id}/public-log/head"),
        )
    return seen


async def test_the_demo_tells_the_money_story_and_a_second_run_changes_nothing(
    stack: Stack, http: httpx.AsyncClient
) -> None:
    data = json.loads(DATA.read_text())
    urls = {name: stack.url(name) for name in ("registry", "matching", "funding", "notifications")}
    first = Client(http, urls)
    await load(first, data)
    assert first.created > 0

    fund_id = (await _funds(first))[SOLIDARITY_FUND]
    balances = await first.ok("GET", "funding", f"/funds/{fund_id}/balances")
    eur = next(b for b in balances["balances"] if b["currency"] == "EUR")
    # Lyon's 150 000 EUR, Genève's 200 000 CHF at 1.065, half of Bamako's 10 000 000 XOF at the
    # CFA franc's parity; 18 000 EUR paid to Lomé and Lyon's partnership.
    assert {k: Decimal(eur[k]) for k in ("received", "disbursed", "available")} == {
        "received": Decimal("370622.45"),
        "disbursed": Decimal("18000.00"),
        "available": Decimal("352622.45"),
    }
    treasurer = await first.sign_in(data["fund_staff"]["treasurer"]["username"], DEMO_PASSWORD)
    [application] = await first.ok("GET", "funding", f"/funds/{fund_id}/applications", treasurer)
    assert application["status"] == "approved"
    paid = await first.ok("GET", "funding", f"/funds/{fund_id}/tranches", treasurer)
    assert [(t["title"], t["status"]) for t in paid] == [
        ("Collection equipment delivered", "disbursed"),
        ("Twelve municipal staff trained", "pending"),
    ]
    before = await _what_the_public_sees(first)

    again = Client(http, urls)
    await load(again, data)
    assert again.created == 0
    assert await _what_the_public_sees(again) == before
