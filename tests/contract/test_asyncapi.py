"""The published catalogue (docs/asyncapi.json) against the code that produces the events."""

import json
from pathlib import Path

import jsonschema
import pytest

from shared.contracts import EventSpec
from shared.contracts.asyncapi import render
from shared.contracts.catalogue import CATALOGUE, PRODUCERS
from shared.events import encode, new_event

COMMITTED = Path(__file__).parents[2] / "docs" / "asyncapi.json"


def test_the_committed_catalogue_is_what_the_code_generates() -> None:
    assert COMMITTED.read_text() == render(), (
        "docs/asyncapi.json is out of date with shared/contracts: run `make asyncapi` and commit it"
    )


def test_every_producer_event_is_catalogued_once_on_its_own_topic() -> None:
    specs = [spec for module in PRODUCERS.values() for spec in module.EVENTS]
    assert len(specs) == len(CATALOGUE)
    for module in PRODUCERS.values():
        assert {spec.topic for spec in module.EVENTS} == {module.TOPIC}
        assert {spec.source for spec in module.EVENTS} == {module.SOURCE}


@pytest.mark.parametrize("spec", CATALOGUE.values(), ids=list(CATALOGUE))
def test_envelopes_as_sent_validate_against_the_published_schema(spec: EventSpec) -> None:
    published = json.loads(COMMITTED.read_text())
    # The message's schema with the document's components beside it, so that its `$ref`s
    # resolve as they do for a reader of the whole catalogue.
    schema = {
        **published["components"]["messages"][spec.type]["payload"],
        "components": published["components"],
    }

    envelope = json.loads(encode(new_event(spec, "subject-1", spec.example)).value)
    jsonschema.validate(envelope, schema, format_checker=jsonschema.FormatChecker())

    broken = {**envelope, "data": {}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
