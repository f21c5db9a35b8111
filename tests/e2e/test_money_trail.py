"""End-to-end: a donor's money from pledge to tranche, over HTTP against the real processes and
broker, with real tokens. Two cities agree; a donor system pledges in dollars to a euro fund and
follows the money by webhook (signed, checked with the Standard Webhooks library) and through
its money trail; the fund's administrators receive, review, approve and release; the officer is
told in the app and by email; the fund's public log verifies; and when one city's conflict
escalates, the agreement is suspended and the next tranche held."""

import asyncio
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import date, timedelta
from decimal import Decimal

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.routing import Route

from services.notifications.mailsink import received
from shared.devstack import free_port
from tests.e2e.conftest import System
from tests.helpers import eventually
from tests.service.test_webhooks import Receiver

pytestmark = pytest.mark.e2e


@pytest.fixture
async def donor_system() -> AsyncIterator[Receiver]:
    """The donor's own system: a real HTTP server the notifications service posts to."""
    port = free_port()
    hooks = Receiver(url=f"http://127.0.0.1:{port}/hooks")
    app = Starlette(routes=[Route("/hooks", hooks.handle, methods=["POST"])])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, server.started), what="the receiver listening")
    try:
        yield hooks
    finally:
        server.should_exit = True
        await task


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def test_a_donors_dollars_become_a_paid_tranche_and_a_conflict_holds_the_next(
    system: System, donor_system: Receiver
) -> None:
    # Two cities, each with its officer; Lyon's wants email.
    tag = uuid.uuid4().hex[:4]
    lome, lome_officer = await system.new_officer(f"Lomé {tag}", "TG")
    lyon, lyon_officer = await system.new_officer(f"Lyon {tag}", "FR", official_languages=["fr"])
    mailbox = f"maire.{tag}@lyon.example.org"
    await system.put("notifications", "/me/preferences", lyon_officer, {"email": mailbox})
    await system.known_to_matching(lome, lome_officer)
    await system.known_to_matching(lyon, lyon_officer)

    # The agreement: proposed by Lomé, accepted by Lyon, activated.
    agreement = await system.post(
        "matching",
        "/agreements",
        lome_officer,
        {
            "title": f"Lomé–Lyon {tag}: waste collection",
            "party_city_ids": [lome, lyon],
            "proposed_by_city_id": lome,
        },
    )
    agreement_path = f"/agreements/{agreement['id']}"
    await system.post("matching", f"{agreement_path}/acceptances", lyon_officer, {"city_id": lyon})
    active = await system.post(
        "matching", f"{agreement_path}/activation", lome_officer, {"city_id": lome}
    )
    assert active["status"] == "active"

    # A euro fund retaining 2% at deposit, three administrators, and a donor system whose
    # receiver hears of every tranche of its money.
    admin = await system.admin()
    fund = await system.post(
        "funding",
        "/funds",
        admin,
        {"name": f"Solidarity Fund {tag}", "currency": "EUR", "admin_fee_rate": "0.02"},
    )
    fund_id = fund["id"]
    treasurer, reviewer, approver = [
        await system.new_fund_admin(fund_id, admin, name) for name in ("Trésorier", "Ana", "Ben")
    ]
    donor, donor_token = await system.new_donor(admin, "Fondation Solidarité")
    endpoint = await system.post(
        "notifications",
        "/webhook-endpoints",
        donor_token,
        {
            "owner_kind": "donor",
            "owner_id": donor,
            "url": donor_system.url,
            "event_types": ["TrancheDisbursed"],
        },
    )
    donor_system.secrets.append(endpoint["secret"])

    # 10 000 USD pledged; received at 0.92: 9 200 EUR, of which 184 retained, 9 016 to spend.
    pledge = await system.post(
        "funding",
        f"/funds/{fund_id}/pledges",
        donor_token,
        {
            "donor_name": "Fondation Solidarité",
            "donor_kind": "foundation",
            "amount": "10000",
            "currency": "USD",
        },
        **key(),
    )
    receipt = await system.post(
        "funding",
        f"/funds/{fund_id}/pledges/{pledge['id']}/receipts",
        treasurer,
        {"amount": "10000", "exchange_rate": "0.92", "rate_source": "bank advice"},
        **key(),
    )
    assert (receipt["converted_amount"], receipt["fee"]) == ("9200.00", "184.00")

    # Lyon applies once funding has heard that the agreement is active.
    soon, later = date.today() + timedelta(days=90), date.today() + timedelta(days=180)
    proposal = {
        "agreement_id": agreement["id"],
        "applicant_city_id": lyon,
        "title": "Collecte des déchets",
        "description": "Two trucks and the training of twelve municipal staff.",
        "currency": "EUR",
        "budget": [{"label": "trucks", "amount": "4000"}, {"label": "training", "amount": "2000"}],
        "milestones": [
            {"title": "Trucks delivered", "due_date": soon.isoformat(), "tranche": "4000"},
            {"title": "Staff trained", "due_date": later.isoformat(), "tranche": "2000"},
        ],
    }

    async def applied() -> dict | None:
        response = await system.call(
            "POST", "funding", f"/funds/{fund_id}/applications", lyon_officer, json=proposal
        )
        assert response.status_code in (201, 409), response.text
        return response.json() if response.status_code == 201 else None

    application = await eventually(applied, what="funding to take the application")
    decisions = f"/applications/{application['id']}"
    for token, kind in ((treasurer, "content"), (reviewer, "budget")):
        review = {"kind": kind, "decision": "approve", "comment": f"{kind} sound"}
        await system.post("funding", f"{decisions}/reviews", token, review)
    approved = await system.post(
        "funding",
        f"{decisions}/decision",
        approver,
        {"decision": "approve", "comment": "Approved by the committee."},
    )
    first, second = approved["tranches"]
    await system.post(
        "funding",
        f"/tranches/{first['id']}/milestone-report",
        lyon_officer,
        {"report": "Both trucks delivered on 3 March."},
    )
    paid = await system.post(
        "funding", f"/tranches/{first['id']}/release", treasurer, {"note": "evidence seen"}, **key()
    )
    assert paid["status"] == "disbursed"

    by_currency = (await system.get("funding", f"/funds/{fund_id}/balances"))["balances"]
    eur, usd = sorted(by_currency, key=lambda b: b["currency"])
    # The dollars were pledged and are all in; received, they became euros at the rate given.
    assert (Decimal(usd["pledged"]), Decimal(usd["outstanding"])) == (10000, 0)
    figures = ("received", "admin_fees", "available", "committed", "disbursed")
    assert {name: Decimal(eur[name]) for name in figures} == {
        "received": Decimal("9200.00"),
        "admin_fees": Decimal("184.00"),
        "available": Decimal("5016.00"),
        "committed": Decimal("0.00"),
        "disbursed": Decimal("4000.00"),
    }

    trail = await system.get("funding", f"/funds/{fund_id}/donors/{donor}/money-trail", donor_token)
    [receipt_trail] = trail["pledges"][0]["receipts"]
    [paid_for] = receipt_trail["paid_for"]
    assert (paid_for["agreement_id"], paid_for["tranche_id"]) == (agreement["id"], first["id"])
    assert (paid_for["tranche"], Decimal(paid_for["amount"])) == ("Trucks delivered", 4000)
    assert Decimal(trail["unspent"]) == Decimal("5016.00")

    verifier = await asyncio.create_subprocess_exec(
        *(sys.executable, "-m", "services.funding.public_log", "verify"),
        *("--url", system.stack.url("funding"), "--fund", fund_id),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    said, _ = await asyncio.wait_for(verifier.communicate(), 30)
    assert verifier.returncode == 0, said.decode()

    # The donor's system got the payment, signed; a replay carries the same webhook-id.
    async def disbursement_hooked() -> list:
        return [m for m in donor_system.got if m.json()["type"] == "TrancheDisbursed"]

    [hook] = await eventually(disbursement_hooked, what="TrancheDisbursed at the donor's system")
    assert hook.verified_by == [endpoint["secret"]]
    assert hook.json()["data"]["tranche_id"] == first["id"]
    deliveries = f"/webhook-endpoints/{endpoint['id']}/deliveries"
    [delivery] = (await system.get("notifications", deliveries, donor_token))["items"]
    assert delivery["id"] == hook.webhook_id
    await system.post(
        "notifications", f"{deliveries}/{delivery['id']}/replays", donor_token, {}, **key()
    )
    await eventually(
        lambda: asyncio.sleep(0, len(donor_system.got) == 2), what="the replayed delivery"
    )
    assert donor_system.got[1].webhook_id == hook.webhook_id and donor_system.got[1].verified_by

    # Lyon's officer is told in the app and, having given an address, by email.
    async def in_app() -> list[str]:
        page = await system.get("notifications", "/me/notifications", lyon_officer)
        return [n["title"] for n in page["items"] if n["event_type"] == "TrancheDisbursed"]

    assert await eventually(in_app, what="the payment in Lyon's notifications") == [
        "Tranche versée : Trucks delivered"
    ]

    async def mailed() -> list[str]:
        return [
            m["Subject"]
            for m in received(system.stack.mail_dir)
            if mailbox in m["To"] and "Tranche" in m["Subject"]
        ]

    assert await eventually(mailed, what="the payment's email in the sink") == [
        "Tranche versée : Trucks delivered"
    ]

    # The second milestone is done too, but Lomé's conflict escalates: the platform suspends the agreement and funding holds the
    # tranche still to pay.
    await system.post(
        "funding",
        f"/tranches/{second['id']}/milestone-report",
        lome_officer,
        {"report": "Twelve staff trained."},
    )
    today = date.today().isoformat()
    assessment = {
        "zone": "conflict_zone",
        "phase": "active",
        "preconditions": {
            name: {"met": "no", "assessed_on": today, "note": "fighting in the city"}
            for name in (
                "disarmament_or_pacification",
                "rule_of_law",
                "competent_local_officials",
                "local_elections",
            )
        },
    }
    await system.post(
        "registry", f"/cities/{lome}/conflict-assessments", admin, assessment, **key()
    )

    async def suspended() -> bool:
        found = await system.get("matching", agreement_path, lyon_officer)
        return found["status"] == "suspended"

    await eventually(suspended, what="matching to suspend the agreement")

    async def held() -> list[dict]:
        return await system.get("funding", f"/funds/{fund_id}/tranches?held=true", treasurer)

    [tranche] = await eventually(held, what="funding to hold the next tranche")
    assert (tranche["id"], tranche["status"]) == (second["id"], "pending"), tranche
    assert tranche["holds"], tranche
    refused = await system.call(
        "POST", "funding", f"/tranches/{second['id']}/release", treasurer, json={}, headers=key()
    )
    assert refused.status_code == 409, refused.text
