"""The public log's pure parts: a holder's copy of an event checked against the log's digest
(whether kept from the broker or from a webhook delivery), and the verifier command's input and
exit status when it cannot even start."""

import dataclasses
import json
import uuid
from pathlib import Path

import pytest

from services.funding.public_log import (
    GENESIS,
    LogEntryPublic,
    canonical,
    digest_of,
    event_problems,
    link_hash,
    main,
)
from services.notifications.domain import Audience, RecipientKind
from services.notifications.webhooks.dispatch import cloudevent_body
from services.notifications.webhooks.domain import webhook_data
from shared.contracts.funding import CONTRIBUTION_PLEDGED
from shared.events import encode, new_event

DONOR = uuid.UUID("d0000000-0000-4000-8000-000000000001")


def published() -> dict:
    event = new_event(CONTRIBUTION_PLEDGED, uuid.uuid4(), CONTRIBUTION_PLEDGED.example)
    return json.loads(encode(event).value)


def entry_for(document: dict) -> LogEntryPublic:
    digest = digest_of(canonical(document))
    event_time = new_event(CONTRIBUTION_PLEDGED, uuid.uuid4(), CONTRIBUTION_PLEDGED.example).time
    return LogEntryPublic(
        position=1,
        event_id=document["id"],
        event_type=document["type"],
        occurred_at=event_time,
        digest=digest,
        previous_hash=GENESIS,
        hash=link_hash(GENESIS, 1, document["id"], document["type"], event_time, digest),
    )


def test_an_event_kept_as_published_matches_its_entry_and_a_changed_one_does_not() -> None:
    document = published()
    entry = entry_for(document)
    assert event_problems([entry], [document]) == []
    changed = {**document, "data": {**document["data"], "amount": "1.00"}}
    assert event_problems([entry], [changed]) == [
        f"entry 1: its digest is not that of event {document['id']} as published: the log's "
        "record of it was changed"
    ]
    assert event_problems([], [document]) == [
        f"event {document['id']} (ContributionPledged) is not in the log"
    ]


def test_a_donor_may_verify_with_the_events_its_webhook_received() -> None:
    """Notifications sends the envelope as published, the data re-read through the contract:
    the same document, so the same digest."""
    event = new_event(CONTRIBUTION_PLEDGED, uuid.uuid4(), CONTRIBUTION_PLEDGED.example)
    entry = entry_for(json.loads(encode(event).value))
    data = webhook_data(event, Audience(RecipientKind.DONOR, DONOR))
    assert data is not None
    body = cloudevent_body(dataclasses.replace(event, data=data))
    assert event_problems([entry], [json.loads(body)]) == []


@pytest.mark.parametrize("as_lines", [False, True])
def test_the_events_file_is_a_json_array_or_json_lines(
    tmp_path: Path, as_lines: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    """Read, then checked against a service that is not there: the fetch is what fails."""
    documents = [published(), published()]
    path = tmp_path / "events.json"
    text = "\n".join(map(json.dumps, documents)) if as_lines else json.dumps(documents)
    path.write_text(text)
    args = ["verify", "--url", "http://127.0.0.1:9", "--fund", str(uuid.uuid4())]
    assert main([*args, "--events", str(path)]) == 2
    assert "cannot fetch the public log" in capsys.readouterr().err


def test_an_unreadable_events_file_stops_the_verifier_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "events.json"
    path.write_text("not json")
    args = ["verify", "--url", "http://127.0.0.1:9", "--fund", str(uuid.uuid4())]
    assert main([*args, "--events", str(path)]) == 2
    assert "cannot read the events file" in capsys.readouterr().err
    assert main([*args, "--events", str(tmp_path / "missing.json")]) == 2
