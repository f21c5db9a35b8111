"""End-to-end: a donor's money from pledge to tranche, over HTTP against the real processes and
broker, with real tokens. Two cities agree; a donor system pledges in dollars to a euro fund and
follows the money by webhook (signed, checked with the Standard Webhooks library) and through
its money trail; the fund's administrators receive, review, approve and release; the officer is
told in the app and by email; the fund's public log verifies; and when one city's conflict
escalates, the agreement is suspended and the next tranche held."""

import asyncio
import sys
import uuid
from datetime import date, timedelta
from decimal import Decimal

import pytest

from services.notifications.mailsink import received
from tests.e2e.conftest import System
from tests.helpers import eventually

# `receiver`: the donor's own system, a real HTTP server (uvicorn) checking every signature.
from tests.service.test_webhooks import Receiver, receiver  # noqa: F401 (a fixture)

pytestmark = pytest.mark.e2e


def key() -> dict[str, str]:
    return {"Idempotency-Key": str(uuid.uuid4())}


async def test_a_donors_dollars_become_a_paid_tranche_and_a_conflict_holds_the_next(
    system: System,
    receiver: Receiver,  # noqa: F811 (the fixture imported above)
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
    agreement = await system.agree(
        f"Lomé–Lyon {tag}: waste collection", (lome, lome_officer), (lyon, lyon_officer)
    )
    agreement_path = f"/agreements/{agreement['id']}"
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
            "url": receiver.url,
            "event_types": ["TrancheDisbursed"],
        },
    )
    receiver.secrets.append(endpoint["secret"])

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
        return [m for m in receiver.got if m.json()["type"] == "TrancheDisbursed"]

    [hook] = await eventually(disbursement_hooked, what="TrancheDisbursed at the donor's system")
    assert hook.verified_by == [endpoint["secret"]]
    assert hook.json()["data"]["tranche_id"] == first["id"]
    deliveries = f"/webhook-endpoints/{endpoint['id']}/deliveries"
    [delivery] = (await system.get("notifications", deliveries, donor_token))["items"]
    assert delivery["id"] == hook.webhook_id
    await system.post(
        "notifications", f"{deliveries}/{delivery['id']}/replays", donor_token, {}, **key()
    )
    await eventually(lambda: asyncio.sleep(0, len(receiver.got) == 2), what="the replayed delivery")
    assert receiver.got[1].webhook_id == hook.webhook_id and receiver.got[1].verified_by

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

    # Held for both reasons: the escalation itself (from registry.events) and the agreement
    # suspended because of it (from matching.events); the two topics arrive in either order.
    both = ["agreement", f"conflict:{lome}"]

    async def held() -> list[dict]:
        tranches = await system.get("funding", f"/funds/{fund_id}/tranches?held=true", treasurer)
        return tranches if tranches and sorted(tranches[0]["holds"]) == both else []

    [tranche] = await eventually(held, what="funding to hold the next tranche for both reasons")
    assert (tranche["id"], tranche["status"]) == (second["id"], "pending"), tranche
    refused = await system.call(
        "POST", "funding", f"/tranches/{second['id']}/release", treasurer, json={}, headers=key()
    )
    assert refused.status_code == 409, refused.text
    assert "is suspended" in refused.json()["detail"]
