"""Typed event contracts. Each producing service owns one module here (its topic and payloads);
`CATALOGUE` gathers them for consumers, the AsyncAPI document and the contract tests."""

from dataclasses import dataclass, field

from pydantic import BaseModel


@dataclass(frozen=True)
class EventSpec:
    type: str
    payload: type[BaseModel]
    topic: str
    source: str
    summary: str
    # Published in the catalogue and validated against it by the tests; not part of identity.
    example: BaseModel = field(compare=False)
    version: int = 1


class Payload(BaseModel):
    """Base of every event payload. Extra fields are ignored so that a producer can add fields
    without breaking older consumers; a breaking change gets a new `version` and an upcaster."""

    model_config = {"extra": "ignore", "frozen": True}
