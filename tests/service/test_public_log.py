"""The fund's public log over HTTP: its entries and head, the administrators' documents, the
database refusing to change it, and the verifier catching a changed entry, both as a function
on the service's client and as the command a donor runs against a service on a real port."""

import asyncio
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.funding.app import DEFINITION as FUNDING
from services.funding.ledger import store as ledger
from services.funding.public_log import (
    FundLogEntry,
    canonical,
    digest_of,
    link_hash,
    verify,
)
from shared.devstack import free_port
from shared.events import encode
from shared.service import create_service_app
from tests.conftest import DatabaseFactory
from tests.helpers import ServiceUnderTest, eventually
from tests.service.test_funding import create_fund, donor, fund_admin, pledge_as

REPOSITORY = Path(__file__).parents[2]


async def fund_with_pledges(funding: ServiceUnderTest, pledges: int = 3) -> str:
    fund = await create_fund(funding)
    for _ in range(pledges):
        await pledge_as(funding, fund["id"], donor(str(uuid.uuid4())))
    return fund["id"]


async def published(funding: ServiceUnderTest) -> list[dict]:
    """The events as a subscriber to funding.events received them."""
    return [json.loads(encode(event).value) for event in await funding.events()]


async def tamper(session: AsyncSession, *statements: str, **params: object) -> None:
    """Change the log as someone able to drop the database's protection would."""
    if session.bind.dialect.name == "postgresql":
        unprotect = "ALTER TABLE fund_log DISABLE TRIGGER fund_log_append_only"
    else:
        unprotect = "DROP TRIGGER fund_log_no_update"
    for statement in (unprotect, *statements):
        await session.exec(text(statement), params=params)  # type: ignore[call-overload]
    await session.commit()


async def test_anyone_reads_the_chain_and_its_head_without_the_events(
    funding: ServiceUnderTest,
) -> None:
    fund_id = await fund_with_pledges(funding)
    response = await funding.client.get(f"/funds/{fund_id}/public-log")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["next_after"] is None
    assert [e["position"] for e in page["entries"]] == [1, 2, 3, 4]
    assert [e["event_type"] for e in page["entries"]] == ["FundCreated"] + 3 * [
        "ContributionPledged"
    ]
    assert all("document" not in e for e in page["entries"])
    assert [e["event_id"] for e in page["entries"]] == [e["id"] for e in await published(funding)]

    head = (await funding.client.get(f"/funds/{fund_id}/public-log/head")).json()
    assert (head["position"], head["hash"]) == (4, page["entries"][-1]["hash"])

    verification = await verify(funding.client, uuid.UUID(fund_id), expected_head=head["hash"])
    assert (verification.entries, verification.head, verification.problems) == (4, head["hash"], [])


async def test_the_chain_comes_in_pages_that_join_up(funding: ServiceUnderTest) -> None:
    fund_id = await fund_with_pledges(funding, pledges=4)
    first = (await funding.client.get(f"/funds/{fund_id}/public-log?limit=2")).json()
    assert ([e["position"] for e in first["entries"]], first["next_after"]) == ([1, 2], 2)
    rest = (await funding.client.get(f"/funds/{fund_id}/public-log?after=2&limit=3")).json()
    assert ([e["position"] for e in rest["entries"]], rest["next_after"]) == ([3, 4, 5], None)
    verification = await verify(funding.client, uuid.UUID(fund_id), page_size=2)
    assert (verification.entries, verification.problems) == (5, [])


async def test_each_fund_has_its_own_chain(funding: ServiceUnderTest) -> None:
    first = await fund_with_pledges(funding, pledges=1)
    second = await create_fund(funding, name="Sister Cities Private Financing")
    await pledge_as(funding, second["id"], fund_admin(second["id"]))
    for fund_id in (first, second["id"]):
        page = (await funding.client.get(f"/funds/{fund_id}/public-log")).json()
        assert [e["position"] for e in page["entries"]] == [1, 2]
        assert page["entries"][0]["previous_hash"] == "0" * 64


async def test_an_unknown_fund_or_bad_paging_is_refused(funding: ServiceUnderTest) -> None:
    unknown = uuid.uuid4()
    for path in (f"/funds/{unknown}/public-log", f"/funds/{unknown}/public-log/head"):
        response = await funding.client.get(path)
        assert response.status_code == 404
        assert str(unknown) in response.text
    fund_id = await fund_with_pledges(funding, pledges=0)
    for query in ("limit=0", "limit=1001", "after=-1"):
        response = await funding.client.get(f"/funds/{fund_id}/public-log?{query}")
        assert response.status_code == 422, query


async def test_fund_administrators_also_get_the_events_as_published(
    funding: ServiceUnderTest,
) -> None:
    fund_id = await fund_with_pledges(funding, pledges=2)
    response = await funding.client.get(
        f"/funds/{fund_id}/public-log/documents", headers=fund_admin(fund_id)
    )
    assert response.status_code == 200, response.text
    entries = response.json()["entries"]
    assert [e["document"] for e in entries] == await published(funding)
    assert [e["digest"] for e in entries] == [digest_of(canonical(e["document"])) for e in entries]

    other = await create_fund(funding, name="UNDP Trust Fund for City Partnerships")
    refused = await funding.client.get(
        f"/funds/{fund_id}/public-log/documents", headers=fund_admin(other["id"])
    )
    assert refused.status_code == 403
    assert f"you do not administer fund {fund_id}" in refused.text


async def test_the_database_refuses_to_change_or_remove_log_entries(
    funding: ServiceUnderTest,
) -> None:
    await fund_with_pledges(funding, pledges=1)
    async with funding.runtime.sessions() as session:
        for statement in ("UPDATE fund_log SET digest = 'x'", "DELETE FROM fund_log"):
            with pytest.raises(DBAPIError, match="append-only"):
                async with session.begin_nested():
                    await session.exec(text(statement))  # type: ignore[call-overload]


async def test_the_verifier_names_the_entry_changed_behind_the_database_s_back(
    funding: ServiceUnderTest,
) -> None:
    fund_id = await fund_with_pledges(funding)
    events = await published(funding)
    async with funding.runtime.sessions() as session:
        await tamper(
            session, "UPDATE fund_log SET event_type = 'ContributionWithdrawn' WHERE position = 3"
        )
    verification = await verify(funding.client, uuid.UUID(fund_id), events=events)
    assert verification.problems == ["entry 3: hash does not match its contents"]


async def test_a_rewritten_history_is_caught_by_an_earlier_head_and_by_the_donor_s_events(
    funding: ServiceUnderTest,
) -> None:
    """Whoever rewrites an entry and recomputes every hash after it keeps the chain whole; the
    head a donor noted before, and the donor's own copy of its event, still give it away."""
    fund_id = await fund_with_pledges(funding)
    noted_head = (await funding.client.get(f"/funds/{fund_id}/public-log/head")).json()["hash"]
    events = await published(funding)
    async with funding.runtime.sessions() as session:
        entries = (
            await session.exec(select(FundLogEntry).order_by(col(FundLogEntry.position)))
        ).all()
        forged = digest_of(canonical({**events[1], "data": {"amount": "1.00"}}))
        previous = entries[0].hash
        rewrites = []
        for entry in entries[1:]:
            digest = forged if entry.position == 2 else entry.digest
            new_hash = link_hash(
                previous,
                entry.position,
                entry.event_id,
                entry.event_type,
                entry.occurred_at,
                digest,
            )
            rewrites.append(
                f"UPDATE fund_log SET digest = '{digest}', previous_hash = '{previous}', "
                f"hash = '{new_hash}' WHERE seq = {entry.seq}"
            )
            previous = new_hash
        await tamper(session, *rewrites)

    assert (await verify(funding.client, uuid.UUID(fund_id))).problems == []
    with_head = await verify(funding.client, uuid.UUID(fund_id), expected_head=noted_head)
    assert with_head.problems == [
        f"the head {noted_head} is not in the chain: history was rewritten"
    ]
    with_events = await verify(funding.client, uuid.UUID(fund_id), events=events[1:2])
    assert with_events.problems == [
        "entry 2: its digest is not that of event "
        f"{events[1]['id']} as published: the log's record of it was changed"
    ]
    missing = {**events[1], "id": str(uuid.uuid4())}
    assert (
        "is not in the log"
        in (await verify(funding.client, uuid.UUID(fund_id), events=[missing])).problems[0]
    )


# --- The command, against the service on a real port -----------------------------------------


@pytest.fixture
async def funding_on_a_port(new_database: DatabaseFactory) -> AsyncIterator[ServiceUnderTest]:
    settings = FUNDING.settings(database_url=await new_database(FUNDING.name))
    app = create_service_app(FUNDING, settings, messaging=False)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0, server.started), what="funding started")
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            yield ServiceUnderTest(client, app.state.runtime)
            async with app.state.runtime.sessions() as session:
                assert await ledger.invariant_violations(session) == []
    finally:
        server.should_exit = True
        await task


async def run_verifier(*args: str, token: str | None = None) -> tuple[int, str]:
    env = {k: v for k, v in os.environ.items() if k != "CX_TOKEN"}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "services.funding.public_log",
        "verify",
        *args,
        cwd=REPOSITORY,
        env=env | ({"CX_TOKEN": token} if token else {}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, output.decode()


async def test_the_verifier_command_passes_a_whole_chain_and_fails_a_changed_one(
    funding_on_a_port: ServiceUnderTest, tmp_path: Path
) -> None:
    funding = funding_on_a_port
    fund_id = await fund_with_pledges(funding)
    url = str(funding.client.base_url)
    head = (await funding.client.get(f"/funds/{fund_id}/public-log/head")).json()["hash"]
    events_file = tmp_path / "my-events.jsonl"
    events_file.write_text("\n".join(json.dumps(e) for e in await published(funding)))

    status, output = await run_verifier(
        "--url", url, "--fund", fund_id, "--head", head, "--events", str(events_file)
    )
    assert (status, output) == (
        0,
        f"OK: 4 entries chain up to head {head}\nOK: all 4 events given are in the log as "
        "published\n",
    )

    async with funding.runtime.sessions() as session:
        await tamper(
            session,
            "UPDATE fund_log SET digest = :digest WHERE position = 2",
            digest=digest_of("{}"),
        )
    status, output = await run_verifier("--url", url, "--fund", fund_id, "--head", head)
    assert status == 1
    assert output.splitlines()[0] == "BROKEN: entry 2: hash does not match its contents"

    status, output = await run_verifier("--url", url, "--fund", str(uuid.uuid4()))
    assert status == 2
    assert "404" in output


async def test_the_verifier_command_checks_a_restricted_fund_with_its_donor_s_token(
    funding_on_a_port: ServiceUnderTest,
) -> None:
    funding = funding_on_a_port
    fund = await create_fund(funding, visibility="restricted")
    geneva = str(uuid.uuid4())
    await pledge_as(funding, fund["id"], donor(geneva))
    url = str(funding.client.base_url)

    status, output = await run_verifier("--url", url, "--fund", fund["id"])
    assert (status, "404" in output) == (2, True)
    token = donor(geneva)["Authorization"].removeprefix("Bearer ")
    status, output = await run_verifier("--url", url, "--fund", fund["id"], token=token)
    assert (status, output.split(" entries")[0]) == (0, "OK: 2")
