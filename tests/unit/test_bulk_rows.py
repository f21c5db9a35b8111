"""Rows of a bulk import validated by the API's own schemas: a bad row says why, column by
column, in the words of the API's rules."""

import uuid

from services.registry.bulk import exporter
from services.registry.bulk.files import Row
from services.registry.bulk.rows import (
    CITY_COLUMNS,
    ITEM_COLUMNS,
    CityRow,
    ItemRow,
    Rejection,
    city_row,
    item_row,
)
from services.registry.needs_offers.domain import Form, Status

NEED = {
    "external_ref": "LOME-2027-01",
    "country_code": "tg",
    "city_name": " LOME ",
    "title": "Training  for waste collection teams",
    "description": "Training of 40 municipal agents.",
    "domain": "Waste-Collection",
    "languages": ["fra", "ee"],
    "forms": ["training"],
    "capacity_staff_days": "60",
    "period_start": "2027-02-01",
    "period_end": "2027-07-31",
}


def test_a_city_row_is_what_the_api_would_register() -> None:
    city = city_row(
        Row(
            2,
            {
                "name": " Québec ",
                "country_code": "ca",
                "population": "549459",
                "latitude": "46.8139",
                "longitude": "-71.208",
                "external_id": "unlocode:CA QUE",
                "official_languages": ["FRA"],
            },
        )
    )
    assert isinstance(city, CityRow)
    assert (city.body.name, city.body.country_code, city.name_key) == ("Québec", "CA", "quebec")
    assert (city.body.population, city.body.longitude) == (549459, -71.208)
    assert (city.body.external_id, city.body.official_languages) == ("unlocode:CAQUE", ["fr"])
    assert city.id is None


def test_a_bad_city_row_says_why_for_each_column() -> None:
    rejected = city_row(
        Row(
            7,
            {
                "id": "not-an-id",
                "name": "   ",
                "country_code": "XX",
                "population": "many",
                "official_languages": ["fr", "klingon"],
                "contacts": [{"name": "Mayor", "role": "mayor", "email": "not-an-address"}],
            },
        )
    )
    assert isinstance(rejected, list)
    reasons = {rejection.column: rejection.reason for rejection in rejected}
    assert {rejection.row for rejection in rejected} == {7}
    assert reasons["id"].startswith("not a UUID")
    assert reasons["name"] == "a city name cannot be blank"
    assert "'XX' is not an ISO 3166-1 alpha-2 country code" in reasons["country_code"]
    assert "valid integer" in reasons["population"]
    assert "'klingon' is not an ISO 639 language code" in reasons["official_languages"]
    assert reasons["contacts: item 1, email"].startswith("not an e-mail address")


def test_a_blank_required_cell_and_a_foreign_un_locode_are_rejected() -> None:
    assert city_row(Row(3, {"country_code": "FR"})) == [Rejection(3, "name", "required, but blank")]
    assert city_row(
        Row(4, {"name": "Kara", "country_code": "TG", "external_id": "unlocode:FRLYS"})
    ) == [Rejection(4, "external_id", "UN/LOCODE FRLYS is a place in FR, not in TG")]


def test_a_need_row_is_what_the_api_would_publish_for_the_named_city() -> None:
    need = item_row(Row(2, NEED))
    assert isinstance(need, ItemRow)
    assert need.external_ref == "LOME-2027-01"
    assert need.city_name == ("TG", "lome", "LOME")
    assert need.city_id is None and need.status is None
    body = need.body
    assert (body.title, body.domain, body.languages) == (
        "Training for waste collection teams",
        "waste-collection",
        ["fr", "ee"],
    )
    assert body.forms == [Form.TRAINING]
    assert (body.capacity.staff_days, body.capacity.partners) == (60, None)

    # With a city_id, a lone country_code is not a second way of naming the city.
    by_id = {k: v for k, v in NEED.items() if k != "city_name"}
    by_id = item_row(Row(3, {**by_id, "city_id": str(uuid.uuid4()), "status": "Open"}))
    assert isinstance(by_id, ItemRow)
    assert by_id.city_name is None and by_id.status is Status.OPEN


def test_a_bad_need_row_names_the_flat_columns() -> None:
    rejected = item_row(
        Row(
            5,
            {
                **{
                    k: v
                    for k, v in NEED.items()
                    if k not in ("external_ref", "capacity_staff_days")
                },
                "country_code": "XX",
                "domain": "water",
                "forms": ["advice"],
                "period_end": "2027-01-01",
                "status": "lost",
            },
        )
    )
    assert isinstance(rejected, list)
    reasons = {rejection.column: rejection.reason for rejection in rejected}
    assert reasons["external_ref"].startswith("required, but blank")
    assert "is not an ISO 3166-1 alpha-2" in reasons["country_code"]
    assert reasons["domain"].startswith("unknown domain 'water': use a code from GET /domains")
    assert "forms: item 1" in reasons
    assert reasons["capacity_staff_days, capacity_partners"].startswith("give the capacity")
    assert reasons["period_start, period_end"].startswith("the period must end after it starts")
    assert reasons["status"] == "unknown status; one of open, matched, withdrawn"


def test_a_need_row_names_its_city_whole() -> None:
    without_city = {k: v for k, v in NEED.items() if k not in ("country_code", "city_name")}
    assert item_row(Row(2, without_city)) == [
        Rejection(2, "city_id", "required, but blank: give city_id, or country_code and city_name")
    ]
    assert item_row(Row(2, {**without_city, "city_name": "Lomé"})) == [
        Rejection(
            2, "country_code", "required, but blank: a city is named by its country and its name"
        )
    ]


def test_an_export_has_every_column_an_import_reads() -> None:
    assert sorted(exporter.header("cities", include_contacts=True)) == sorted(CITY_COLUMNS.names)
    assert "contacts" not in exporter.header("cities")
    for what in ("needs", "offers"):
        assert sorted(exporter.header(what)) == sorted(ITEM_COLUMNS.names)
