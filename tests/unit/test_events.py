import json
import uuid

import pytest

from shared.contracts.registry import CITY_REGISTERED, CityRegistered
from shared.events import (
    MalformedEvent,
    current_causation_id,
    current_correlation_id,
    decode,
    encode,
    new_event,
)


def _city() -> CityRegistered:
    return CityRegistered(city_id=uuid.uuid4(), name="Lomé", country_code="TG")


def test_envelope_is_cloudevents_structured_json_keyed_by_subject() -> None:
    payload = _city()
    event = new_event(CITY_REGISTERED, payload.city_id, payload)
    message = encode(event)
    body = json.loads(message.value)
    assert body["specversion"] == "1.0"
    assert body["type"] == "CityRegistered"
    assert body["source"] == "/city-exchange/registry"
    assert body["subject"] == str(payload.city_id)
    assert body["datacontenttype"] == "application/json"
    assert body["schemaversion"] == 1
    assert body["correlationid"] == event.id  # a flow's first event starts its correlation
    assert "causationid" not in body
    assert body["data"]["name"] == "Lomé"
    assert message.key == str(payload.city_id)
    assert message.headers["content-type"] == b"application/cloudevents+json"


def test_round_trip_keeps_every_attribute() -> None:
    payload = _city()
    event = new_event(CITY_REGISTERED, payload.city_id, payload)
    decoded = decode(encode(event).value)
    assert decoded == event
    assert decoded.payload(CITY_REGISTERED) == payload


def test_events_recorded_while_handling_one_carry_its_correlation_and_causation() -> None:
    correlation = current_correlation_id.set("flow-1")
    causation = current_causation_id.set("event-0")
    try:
        event = new_event(CITY_REGISTERED, "x", _city())
    finally:
        current_correlation_id.reset(correlation)
        current_causation_id.reset(causation)
    assert (event.correlation_id, event.causation_id) == ("flow-1", "event-0")


def test_payload_ignores_unknown_fields_so_producers_can_add_some() -> None:
    payload = _city()
    body = json.loads(encode(new_event(CITY_REGISTERED, payload.city_id, payload)).value)
    body["data"]["mayor"] = "someone"
    decoded = decode(json.dumps(body).encode())
    assert decoded.payload(CITY_REGISTERED) == payload


def test_a_payload_of_the_wrong_type_is_refused() -> None:
    from shared.contracts.funding import FundCreated

    with pytest.raises(TypeError):
        new_event(CITY_REGISTERED, "x", FundCreated(fund_id=uuid.uuid4(), name="f", currency="EUR"))


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"not json",
        b"[1, 2]",
        b'{"specversion": "1.0", "type": "CityRegistered"}',
        b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "T", "data": {}}',
        b'{"specversion": "1.0", "id": "1", "source": "/s", "type": "T", "subject": "s",'
        b' "time": "2026-01-01T00:00:00Z", "correlationid": "c", "data": "text"}',
    ],
)
def test_unreadable_messages_are_malformed(value: bytes) -> None:
    with pytest.raises(MalformedEvent):
        decode(value)
