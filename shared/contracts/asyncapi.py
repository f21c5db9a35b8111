"""The event catalogue as an AsyncAPI 3.0 document, generated from the contracts so that it cannot
drift from the code: `make asyncapi` writes docs/asyncapi.json, and a test fails when the
committed file and the code disagree. Front ends and donor systems read it."""

import json
from typing import Any

from shared.contracts import EventSpec
from shared.contracts.catalogue import CATALOGUE, PRODUCERS

ENVELOPE_REQUIRED = [
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "datacontenttype",
    "schemaversion",
    "correlationid",
    "data",
]


def envelope_schema(spec: EventSpec) -> dict[str, Any]:
    return {
        "type": "object",
        "description": "CloudEvents 1.0, JSON structured mode.",
        "required": ENVELOPE_REQUIRED,
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {
                "type": "string",
                "format": "uuid",
                "description": "unique; consumers dedupe by it",
            },
            "source": {"const": spec.source},
            "type": {"const": spec.type},
            "subject": {"type": "string", "description": "the aggregate's id; also the Kafka key"},
            "time": {"type": "string", "format": "date-time"},
            "datacontenttype": {"const": "application/json"},
            "schemaversion": {"const": spec.version, "description": "version of `data`'s schema"},
            "correlationid": {"type": "string", "description": "shared by one flow's events"},
            "causationid": {"type": "string", "description": "the event that caused this one"},
            "data": {"$ref": f"#/components/schemas/{spec.type}"},
        },
    }


def _message(spec: EventSpec) -> dict[str, Any]:
    return {
        "name": spec.type,
        "title": spec.type,
        "summary": spec.summary,
        "contentType": "application/cloudevents+json",
        "headers": {
            "type": "object",
            "properties": {"content-type": {"const": "application/cloudevents+json"}},
        },
        "payload": envelope_schema(spec),
        "bindings": {
            "kafka": {
                "key": {"type": "string", "description": "the event's subject (aggregate id)"},
                "bindingVersion": "0.5.0",
            }
        },
        "examples": [
            {
                "name": f"{spec.type} example",
                "payload": {"data": spec.example.model_dump(mode="json")},
            }
        ],
    }


def _payload_schemas() -> dict[str, Any]:
    """Every payload's schema, with the models and enums they share (pydantic's `$defs`) lifted
    beside them, so that each `$ref` resolves within this document."""
    schemas: dict[str, Any] = {}
    for name, spec in CATALOGUE.items():
        schema = spec.payload.model_json_schema(
            mode="serialization", ref_template="#/components/schemas/{model}"
        )
        for shared_name, definition in schema.pop("$defs", {}).items():
            if schemas.setdefault(shared_name, definition) != definition:
                raise ValueError(f"two different schemas are both named {shared_name}")
        schemas[name] = schema
    return schemas


def document() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    for service, module in PRODUCERS.items():
        channels[module.TOPIC] = {
            "address": module.TOPIC,
            "description": f"Every event the {service} service publishes, keyed by subject.",
            "messages": {
                spec.type: {"$ref": f"#/components/messages/{spec.type}"} for spec in module.EVENTS
            },
        }
        operations[f"{service}.publish"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{module.TOPIC}"},
            "summary": f"{service} publishes through its transactional outbox (at least once).",
            "messages": [
                {"$ref": f"#/channels/{module.TOPIC}/messages/{spec.type}"}
                for spec in module.EVENTS
            ],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "city-exchange events",
            "version": "1.0.0",
            "description": (
                "Events of the city-to-city exchange programme. Delivery is at least once: "
                "consumers deduplicate by event `id`. Events of one aggregate share a key, so "
                "they arrive in order. Consumers ignore fields they do not know. A message a "
                "consumer cannot handle goes to its dead-letter topic `<consumer>.dlq` with "
                "the error in the `dlq-error` header."
            ),
        },
        "defaultContentType": "application/cloudevents+json",
        "servers": {
            "embedded": {
                "host": "127.0.0.1:9092",
                "protocol": "kafka",
                "description": "the embedded Tansu broker of `make run`",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": {name: _message(spec) for name, spec in CATALOGUE.items()},
            "schemas": _payload_schemas(),
        },
    }


def render() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(render(), end="")
