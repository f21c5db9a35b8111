"""From a row of the file to what the API would have received, validated by the API's own schemas
(`CityCreate`, `NeedOfferCreate`) and rules; a row that fails says why, column by column."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from services.registry import domain as cities_domain
from services.registry.bulk.files import Columns, Row
from services.registry.bulk.models import MAX_EXTERNAL_REF
from services.registry.models import CityCreate
from services.registry.needs_offers.domain import Status
from services.registry.needs_offers.models import NeedOfferCreate

CITY_COLUMNS = Columns(
    required=("name", "country_code"),
    optional=(
        "id",
        "region",
        "population",
        "latitude",
        "longitude",
        "external_id",
        "official_languages",
        "contacts",
    ),
    lists=frozenset({"official_languages"}),
    json=frozenset({"contacts"}),
)

ITEM_COLUMNS = Columns(
    required=(
        "external_ref",
        "title",
        "description",
        "domain",
        "languages",
        "forms",
        "period_start",
        "period_end",
    ),
    optional=(
        "id",
        "city_id",
        "country_code",
        "city_name",
        "status",
        "capacity_staff_days",
        "capacity_partners",
    ),
    one_of=(
        (("city_id",), ("country_code", "city_name")),
        (("capacity_staff_days",), ("capacity_partners",)),
    ),
    lists=frozenset({"languages", "forms"}),
)

# Flat columns of needs and offers grouped as the API's body groups them.
_GROUPS = {
    "capacity": {"staff_days": "capacity_staff_days", "partners": "capacity_partners"},
    "period": {"start": "period_start", "end": "period_end"},
}


@dataclass(frozen=True)
class Rejection:
    row: int
    column: str
    reason: str


@dataclass(frozen=True)
class CityRow:
    line: int
    body: CityCreate
    name_key: str
    id: uuid.UUID | None


@dataclass(frozen=True)
class ItemRow:
    line: int
    external_ref: str
    body: NeedOfferCreate
    id: uuid.UUID | None
    status: Status | None
    city_id: uuid.UUID | None
    # (country code, name key, the name as written), when the city is named.
    city_name: tuple[str, str, str] | None


class _Problems:
    def __init__(self, row: Row) -> None:
        self.line = row.line
        self.found = [Rejection(row.line, column, reason) for column, reason in row.problems]

    def add(self, column: str, reason: str) -> None:
        self.found.append(Rejection(self.line, column, reason))

    def of(self, exc: ValidationError, column_of: Callable[[tuple[Any, ...]], str]) -> None:
        for error in exc.errors():
            loc = tuple(error["loc"])
            reason = error["msg"].removeprefix("Value error, ")
            if error["type"] == "missing":
                reason = "required, but blank"
            self.add(column_of(loc), reason)


def _cell_path(loc: tuple[Any, ...]) -> str:
    # ('contacts', 0, 'email') -> 'contacts: item 1, email'; list items are counted from 1.
    inner = [f"item {part + 1}" if isinstance(part, int) else str(part) for part in loc[1:]]
    if not loc:
        return ""
    return str(loc[0]) + (f": {', '.join(inner)}" if inner else "")


def _uuid(problems: _Problems, values: dict[str, Any], column: str) -> uuid.UUID | None:
    if column not in values:
        return None
    try:
        return uuid.UUID(str(values[column]))
    except ValueError:
        problems.add(column, "not a UUID (e.g. 0c7d6f4e-5f4b-4b7e-9a51-2d0b1e0c6a11)")
        return None


def city_row(row: Row) -> CityRow | list[Rejection]:
    """The city the row registers, or why it cannot."""
    problems = _Problems(row)
    values = dict(row.values)
    city_id = _uuid(problems, values, "id")
    values.pop("id", None)
    body = None
    try:
        body = CityCreate.model_validate(values)
    except ValidationError as exc:
        problems.of(exc, _cell_path)
    if body is not None:
        # The API's own check of a UN/LOCODE against the country (a 4xx there).
        if reason := cities_domain.external_id_country_mismatch(
            body.external_id, body.country_code
        ):
            problems.add("external_id", reason)
    if problems.found or body is None:
        return problems.found
    return CityRow(row.line, body, cities_domain.city_name_key(body.name), city_id)


def _item_column(loc: tuple[Any, ...]) -> str:
    if loc and loc[0] in _GROUPS:
        group = _GROUPS[loc[0]]
        if len(loc) > 1 and loc[1] in group:
            return group[loc[1]]
        return ", ".join(group.values())
    return _cell_path(loc)


def item_row(row: Row) -> ItemRow | list[Rejection]:
    """The need or offer the row publishes, and how it names its city, or why it cannot."""
    problems = _Problems(row)
    values = row.values
    external_ref = values.get("external_ref")
    if isinstance(external_ref, int) and not isinstance(external_ref, bool):
        external_ref = str(external_ref)
    if external_ref is None:
        problems.add("external_ref", "required, but blank: your own id of this row")
    elif not isinstance(external_ref, str) or len(external_ref.strip()) > MAX_EXTERNAL_REF:
        problems.add("external_ref", f"must be text of at most {MAX_EXTERNAL_REF} characters")
    item_id = _uuid(problems, values, "id")
    city_id = _uuid(problems, values, "city_id")
    status = None
    if "status" in values:
        try:
            status = Status(str(values["status"]).strip().lower())
        except ValueError:
            problems.add("status", f"unknown status; one of {', '.join(Status)}")
    city_name = None
    named = "country_code" in values and "city_name" in values
    if "city_id" not in values and not ("country_code" in values or "city_name" in values):
        problems.add("city_id", "required, but blank: give city_id, or country_code and city_name")
    elif named or "city_id" not in values:
        # With a city_id, a name is checked against it only when given whole.
        city_name = _city_name(problems, values)
    body = None
    nested: dict[str, Any] = {
        name: values[name]
        for name in ("title", "description", "domain", "languages", "forms")
        if name in values
    }
    for group, members in _GROUPS.items():
        nested[group] = {key: values[column] for key, column in members.items() if column in values}
    try:
        body = NeedOfferCreate.model_validate(nested)
    except ValidationError as exc:
        problems.of(exc, _item_column)
    if problems.found or body is None or not isinstance(external_ref, str):
        return problems.found
    return ItemRow(row.line, external_ref.strip(), body, item_id, status, city_id, city_name)


def _city_name(problems: _Problems, values: dict[str, Any]) -> tuple[str, str, str] | None:
    country, name = values.get("country_code"), values.get("city_name")
    if country is None or name is None:
        missing = "city_name" if name is None else "country_code"
        problems.add(missing, "required, but blank: a city is named by its country and its name")
        return None
    try:
        country = cities_domain.country_code(str(country))
    except ValueError as exc:
        problems.add("country_code", str(exc))
        return None
    return country, cities_domain.city_name_key(str(name)), str(name).strip()
