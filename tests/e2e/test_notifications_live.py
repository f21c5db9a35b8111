"""End-to-end notifications: the broker, registry, matching and notifications as processes, and
the local SMTP sink of `make run`. An officer's portal stream shows a proposal as it happens,
and its email lands in the sink, without anyone polling the API."""

import asyncio
import uuid
from collections.abc import Iterator

import httpx
import pytest

from services.notifications.mailsink import received
from shared.devstack import Stack, free_port
from tests.helpers import bearer, eventually
from tests.service.test_notifications_stream import read_events

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    ports = {name: free_port() for name in ("registry", "matching", "notifications")}
    stack = Stack(
        data_dir=tmp_path_factory.mktemp("stack"),
        broker_port=free_port(),
        ports=ports,
        mail_port=free_port(),
        extra_env={"NOTIFICATIONS_SENDER_POLL_SECONDS": "0.2"},
    )
    with stack.running():
        yield stack


async def test_a_proposal_reaches_the_portal_stream_and_the_mailbox(stack: Stack) -> None:
    lome_officer, lyon_officer = str(uuid.uuid4()), str(uuid.uuid4())
    async with httpx.AsyncClient(timeout=10) as http:
        cities = {}
        for name, country, officer in (("Lomé", "TG", lome_officer), ("Lyon", "FR", lyon_officer)):
            response = await http.post(
                f"{stack.url('registry')}/cities",
                json={"name": name, "country_code": country, "official_languages": ["fr"]},
                headers=bearer(subject=officer),
            )
            assert response.status_code == 201, response.text
            cities[name] = response.json()["id"]
        lyon_headers = bearer(subject=lyon_officer)
        preferences = await http.put(
            f"{stack.url('notifications')}/me/preferences",
            json={"email": "maire@lyon.example.org"},
            headers=lyon_headers,
        )
        assert preferences.status_code == 200, preferences.text

        async def lyon_is_known() -> bool:
            # Notifications has consumed the registry's events: Lyon's officer is known.
            me = await http.get(
                f"{stack.url('notifications')}/me/preferences", headers=lyon_headers
            )
            return me.json()["language"] == "fr"

        await eventually(lyon_is_known, what="Lyon's officer known to notifications")
        stream_headers = {"Accept": "text/event-stream", **lyon_headers}
        async with asyncio.timeout(30):
            async with http.stream(
                "GET",
                f"{stack.url('notifications')}/me/notifications/stream",
                headers=stream_headers,
            ) as live:
                reading = asyncio.create_task(read_events(live, 1))

                async def propose() -> bool:
                    # Matching may not have consumed the new cities yet: it says so, with a 422.
                    response = await http.post(
                        f"{stack.url('matching')}/agreements",
                        json={
                            "title": "Lomé–Lyon: eau potable",
                            "party_city_ids": [cities["Lomé"], cities["Lyon"]],
                            "proposed_by_city_id": cities["Lomé"],
                        },
                        headers=bearer(f"city_officer:{cities['Lomé']}", subject=lome_officer),
                    )
                    assert response.status_code in (201, 422), response.text
                    return response.status_code == 201

                await eventually(propose, what="the proposal accepted by matching")
                [event] = await reading
        assert '"title":"Accord proposé : Lomé–Lyon: eau potable"' in event.data

    async def proposal_mailed() -> list[str]:
        return [m["Subject"] for m in received(stack.mail_dir) if "proposé" in m["Subject"]]

    assert await eventually(proposal_mailed, what="the proposal's email in the sink") == [
        "Accord proposé : Lomé–Lyon: eau potable"
    ]
