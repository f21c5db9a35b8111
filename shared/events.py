"""The event envelope: CloudEvents 1.0 in JSON structured mode, built and parsed by the
`cloudevents` SDK so that the envelope follows the spec rather than our reading of it.

Extension attributes (CloudEvents requires lowercase alphanumeric names):
- `schemaversion`: version of the payload schema for this `type`;
- `correlationid`: the id shared by every event of one user-visible flow;
- `causationid`: the id of the event (or request) that directly caused this one.
"""

import json
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings.kafka import KafkaMessage, from_structured, to_structured
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel

from shared.contracts import EventSpec

_FORMAT = JSONFormat()

# Set by the HTTP middleware for a request and by the consumer for an event being handled, so
# that events recorded while serving it carry the right correlation and causation ids.
current_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
current_causation_id: ContextVar[str | None] = ContextVar("causation_id", default=None)
current_event_id: ContextVar[str | None] = ContextVar("event_id", default=None)


class MalformedEvent(ValueError):
    """The bytes on the topic are not an event this system can read: never worth a retry."""


@dataclass(frozen=True)
class Event:
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    schema_version: int
    correlation_id: str
    causation_id: str | None
    data: dict[str, Any]

    def payload(self, spec: EventSpec) -> BaseModel:
        """The typed payload. Unknown fields are ignored so that producers can add fields."""
        return spec.payload.model_validate(self.data)


def new_event(spec: EventSpec, subject: object, payload: BaseModel) -> Event:
    if not isinstance(payload, spec.payload):
        raise TypeError(f"{spec.type} takes {spec.payload.__name__}, not {type(payload).__name__}")
    event_id = str(uuid.uuid4())
    return Event(
        id=event_id,
        type=spec.type,
        source=spec.source,
        subject=str(subject),
        time=datetime.now(UTC),
        schema_version=spec.version,
        correlation_id=current_correlation_id.get() or event_id,
        causation_id=current_causation_id.get(),
        data=payload.model_dump(mode="json"),
    )


def encode(event: Event) -> KafkaMessage:
    attributes: dict[str, Any] = {
        "id": event.id,
        "source": event.source,
        "type": event.type,
        "subject": event.subject,
        "time": event.time,
        "datacontenttype": "application/json",
        "schemaversion": event.schema_version,
        "correlationid": event.correlation_id,
    }
    if event.causation_id:
        attributes["causationid"] = event.causation_id
    # The subject (aggregate id) is the Kafka key, so one aggregate's events stay in order.
    return to_structured(
        CloudEvent(attributes, event.data), _FORMAT, key_mapper=lambda e: e.get_subject()
    )


def decode(value: bytes | None) -> Event:
    if not value:
        raise MalformedEvent("empty message")
    try:
        ce = from_structured(KafkaMessage(headers={}, key=None, value=value), _FORMAT, CloudEvent)
    except (ValueError, TypeError, KeyError, json.JSONDecodeError) as exc:
        raise MalformedEvent(f"not a CloudEvents JSON envelope: {exc}") from exc
    except Exception as exc:  # the SDK's validation errors share no base with ValueError
        raise MalformedEvent(f"invalid CloudEvents envelope: {exc}") from exc
    attrs = ce.get_attributes()
    data = ce.get_data()
    if not isinstance(data, dict):
        raise MalformedEvent("event data must be a JSON object")
    missing = [name for name in ("subject", "time", "correlationid") if not attrs.get(name)]
    if missing:
        raise MalformedEvent(f"envelope lacks {', '.join(missing)}")
    try:
        schema_version = int(attrs.get("schemaversion", 1))
    except (TypeError, ValueError) as exc:
        raise MalformedEvent("schemaversion must be an integer") from exc
    return Event(
        id=attrs["id"],
        type=attrs["type"],
        source=attrs["source"],
        subject=attrs["subject"],
        time=attrs["time"],
        schema_version=schema_version,
        correlation_id=attrs["correlationid"],
        causation_id=attrs.get("causationid"),
        data=data,
    )
