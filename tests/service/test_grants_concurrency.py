"""No overdraft under concurrency: 200 releases at once, each its own request with its own
Idempotency-Key, asking together four times what the fund holds. The fund's lock
(`ledger.lock_fund`: a row lock on PostgreSQL, one writer at a time on SQLite) makes each
release see the others' movements before it checks the balance, so exactly as many succeed as
the money allows and the rest are told why; the ledger's invariants are checked afterwards by
the `funding` fixture."""

import asyncio
import uuid

from sqlmodel import select

from services.funding.transparency.allocation import Allocation
from tests.helpers import ServiceUnderTest
from tests.service.test_funding import key
from tests.service.test_grants import (
    approved,
    balances,
    grant_setup,
    post,
    reported,
)

RELEASES = 200
TRANCHE = "100.00"  # EUR, below the threshold: each release pays at once
CASH = "5000.00"  # enough for 50 of them


async def test_200_concurrent_releases_never_overdraw_the_fund(funding: ServiceUnderTest) -> None:
    grant = await grant_setup(funding, cash=CASH)
    application = await approved(funding, grant, *[TRANCHE] * RELEASES)
    tranche_ids = [t["id"] for t in application["tranches"]]
    for tranche_id in tranche_ids:
        await reported(funding, tranche_id)

    responses = await asyncio.gather(
        *(
            funding.client.post(
                f"/tranches/{tranche_id}/release",
                json={},
                headers={**grant.admin(n % 4), **key()},
            )
            for n, tranche_id in enumerate(tranche_ids)
        )
    )

    paid = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(paid) == 50
    assert {r.status_code for r in refused} == {409}
    # Each refusal saw every earlier payment: the balance check itself refused (had two
    # releases read the same balance, a later safeguard would have refused with another rule).
    assert {r.json()["detail"] for r in refused} == {
        "the fund has 0.00 EUR available, less than the 100.00 EUR asked"
    }
    after = await balances(funding, grant.fund_id)
    assert (after.available, after.committed, after.disbursed) == (0, 0, 500_000)
    assert len(await funding.events("TrancheDisbursed")) == 50
    async with funding.runtime.sessions() as session:
        allocated = (await session.exec(select(Allocation.tranche_id))).all()
    assert sorted(map(str, allocated)) == sorted(r.json()["id"] for r in paid)


async def test_concurrent_releases_of_one_tranche_pay_it_once(funding: ServiceUnderTest) -> None:
    grant = await grant_setup(funding)
    tranche = (await approved(funding, grant))["tranches"][0]
    await reported(funding, tranche["id"])
    responses = await asyncio.gather(
        *(
            funding.client.post(
                f"/tranches/{tranche['id']}/release",
                json={},
                headers={**grant.admin(n % 4), "Idempotency-Key": str(uuid.uuid4())},
            )
            for n in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9
    assert (await balances(funding, grant.fund_id)).disbursed == 600_000
    # And a retry of the successful one replays its answer without paying again.
    winner = next(r for r in responses if r.status_code == 200)
    assert winner.json()["status"] == "disbursed"
    again = await post(funding, f"/tranches/{tranche['id']}/release", grant.admin(0), 409)
    assert "disbursed" in again["detail"]
