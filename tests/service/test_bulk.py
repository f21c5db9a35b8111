"""The registry's bulk import and export (python -m services.registry.bulk) over a real registry
database: valid rows imported with their events in the outbox, bad rows reported, bad files
refused whole, re-runs that change nothing, and exports that import back to the same."""

import asyncio
import csv
import json
import os
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from services.registry.bulk import importer
from services.registry.bulk.cli import run
from services.registry.bulk.models import ImportRef
from services.registry.identity.models import RoleGrant
from services.registry.models import City
from services.registry.needs_offers.models import NeedOffer, NeedOfferRevision
from shared import db
from shared.auth import Role
from shared.contracts.registry.cities import CITY_REGISTERED
from shared.outbox import OUTBOX
from tests.conftest import DatabaseFactory
from tests.helpers import ServiceUnderTest, bearer, outbox_events

ROOT = Path(__file__).resolve().parents[2]
USER = bearer()

CITY_HEADER = (
    "name,country_code,region,population,latitude,longitude,external_id,official_languages"
)
CITIES = f"""{CITY_HEADER}
Lomé,TG,Maritime,837437,6.1319,1.2228,unlocode:TG LFW,fr;ee
Ouagadougou,BF,Centre,2415266,12.3714,-1.5197,,fr;mos
Atlantis,XX,,,,,,
Bamako,ML,,-5,,,,fr
Kara,TG,,,,,unlocode:FRLYS,
OUAGADOUGOU,bf,,,,,,
Lyon,FR,Auvergne-Rhône-Alpes,522250,45.764,4.8357,geonames:2996944,fr
"""
CITIES_REPORT = [
    ["row", "column", "reason"],
    ["4", "country_code", "'XX' is not an ISO 3166-1 alpha-2 country code (e.g. 'FR', 'TG')"],
    ["5", "population", "Input should be greater than or equal to 0"],
    ["6", "external_id", "UN/LOCODE FRLYS is a place in FR, not in TG"],
    ["7", "name", "the same city as row 3"],
]

ITEM_HEADER = [
    "external_ref",
    "city_id",
    "country_code",
    "city_name",
    "title",
    "description",
    "domain",
    "languages",
    "forms",
    "capacity_staff_days",
    "capacity_partners",
    "period_start",
    "period_end",
]
# Lomé asks for training in waste collection (the Lomé-Lyon partnership of the 2001 meeting).
TRAINING = {
    "title": "Training for waste collection teams",
    "description": "Training of 40 municipal agents.\nCollection rounds and vehicle upkeep.",
    "domain": "waste-collection",
    "languages": "fra;ee",
    "forms": "training;exchange-visits",
    "capacity_staff_days": "60",
    "period_start": "2027-02-01",
    "period_end": "2027-07-31",
}


def _write(path: Path, content: str) -> Path:
    path.write_text(content, encoding="utf-8")
    return path


def _write_csv(path: Path, header: list[str], rows: list[dict[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.DictWriter(file, header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _read_csv(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as file:
        return list(csv.reader(file))


def _row_of(path: Path, record_id: str) -> int:
    """The row (header: 1) of the record whose first cell is `record_id`."""
    [row] = [n for n, record in enumerate(_read_csv(path), 1) if record[0] == record_id]
    return row


def _url(registry: ServiceUnderTest) -> str:
    return registry.runtime.settings.database_url


async def _bulk(registry: ServiceUnderTest, *argv: str | Path) -> int:
    return await run([str(arg) for arg in argv], database_url=_url(registry))


def _summary(out: str) -> str:
    """'3 imported, 0 already present, 4 rejected' from the command's summary line."""
    line = out.splitlines()[0]
    return line.split(": ", 1)[1].split(", of ")[0]


async def _count(registry: ServiceUnderTest, table: Any) -> int:
    async with registry.runtime.sessions() as session:
        return (await session.exec(select(func.count()).select_from(table))).one()


async def _import_cities(registry: ServiceUnderTest, tmp_path: Path) -> dict[str, str]:
    """Lomé, Ouagadougou and Lyon (the good rows of CITIES), by name."""
    assert await _bulk(registry, "import", "cities", _write(tmp_path / "cities.csv", CITIES)) == 1
    page = (await registry.client.get("/cities", headers=USER)).json()
    return {city["name"]: city["id"] for city in page["items"]}


async def test_an_import_takes_the_valid_rows_and_reports_the_others(
    registry: ServiceUnderTest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "cities.csv", CITIES)
    # Batches of two: rows of one batch are checked against those of earlier batches.
    code = await _bulk(
        registry, "import", "cities", path, "--as", "ops@registry", "--batch-size", 2
    )
    assert code == 1
    out = capsys.readouterr().out
    assert _summary(out) == "3 imported, 0 already present, 4 rejected"
    assert str(tmp_path / "cities.rejected.csv") in out
    assert _read_csv(tmp_path / "cities.rejected.csv") == CITIES_REPORT

    page = (await registry.client.get("/cities", headers=USER)).json()
    assert sorted(city["name"] for city in page["items"]) == ["Lomé", "Lyon", "Ouagadougou"]
    lome = next(city for city in page["items"] if city["name"] == "Lomé")
    assert (lome["external_id"], lome["official_languages"]) == ("unlocode:TGLFW", ["fr", "ee"])
    assert lome["verified_at"] is None

    events = await registry.events("CityRegistered")
    assert len(events) == 3
    assert {event.subject for event in events} == {city["id"] for city in page["items"]}
    assert len({event.correlation_id for event in events}) == 1  # one import, one flow
    payload = next(event for event in events if event.subject == lome["id"]).payload(
        CITY_REGISTERED
    )
    assert (payload.name, payload.is_ldc, payload.external_id) == ("Lomé", True, "unlocode:TGLFW")

    async with registry.runtime.sessions() as session:
        registrants = (await session.exec(select(City.registered_by))).all()
    assert set(registrants) == {"ops@registry"}
    async with registry.runtime.sessions() as session:
        roles = (await session.exec(select(RoleGrant.role))).all()
    assert Role.CITY_OFFICER not in roles


async def test_a_re_run_changes_nothing_and_http_registrations_count_as_present(
    registry: ServiceUnderTest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Québec registered over HTTP first: the file's " QUEBEC " is the same city.
    registered = await registry.client.post(
        "/cities", json={"name": "Québec", "country_code": "CA"}, headers=USER
    )
    assert registered.status_code == 201
    lines = [
        '{"name": " QUEBEC ", "country_code": "ca", "population": 549459}',
        '{"name": "Lokossa", "country_code": "BJ", "official_languages": ["fr"]}',
        '{"name": "Lokossa (again)", "country_code": "BJ", "external_id": "geonames:2392601"}',
        '{"name": "Andenne", "country_code": "BE", "external_id": "geonames:2802985"}',
    ]
    path = _write(tmp_path / "cities.jsonl", "\n".join(lines) + "\n")
    assert await _bulk(registry, "import", "cities", path) == 0
    assert _summary(capsys.readouterr().out) == "3 imported, 1 already present, 0 rejected"
    outbox = await _count(registry, OUTBOX)

    # The same file again, then another naming the same cities differently.
    assert await _bulk(registry, "import", "cities", path, "--progress") == 0
    out, err = capsys.readouterr()
    assert _summary(out) == "0 imported, 4 already present, 0 rejected"
    assert "import cities: 100%" in err  # the progress bar
    again = _write(
        tmp_path / "again.csv",
        "name,country_code,external_id\nLOKOSSA,BJ,\nEvere,BE,geonames:2802985\n",
    )
    assert await _bulk(registry, "import", "cities", again) == 0
    assert _summary(capsys.readouterr().out) == "0 imported, 2 already present, 0 rejected"
    assert await _count(registry, OUTBOX) == outbox
    assert (await registry.client.get("/cities", headers=USER)).json()["total"] == 4
    assert _read_csv(tmp_path / "again.rejected.csv") == [["row", "column", "reason"]]


async def test_a_city_conflicting_with_two_registered_ones_is_rejected(
    registry: ServiceUnderTest, tmp_path: Path
) -> None:
    for body in (
        {"name": "Lomé", "country_code": "TG"},
        {"name": "Kara", "country_code": "TG", "external_id": "geonames:2597439"},
    ):
        assert (await registry.client.post("/cities", json=body, headers=USER)).status_code == 201
    kara = (await registry.client.get("/cities", headers=USER)).json()["items"][0]
    path = _write(
        tmp_path / "cities.csv",
        f"id,name,country_code,external_id\n,Lomé,TG,geonames:2597439\n{kara['id']},Sokodé,TG,\n",
    )
    assert await _bulk(registry, "import", "cities", path) == 1
    [_, by_external_id, by_id] = _read_csv(tmp_path / "cities.rejected.csv")
    assert by_external_id[:2] == ["2", "external_id"]
    assert f"geonames:2597439 identifies Kara (TG), city {kara['id']}" in by_external_id[2]
    assert by_id == ["3", "id", f"this id belongs to Kara (TG), city {kara['id']}"]


async def test_a_batch_that_met_a_concurrent_registration_is_checked_again(
    registry: ServiceUnderTest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Lomé registered over HTTP between a batch's look-ups and its inserts (PostgreSQL lets
    that happen): the unique constraint stops the batch, which is checked again, whole."""
    lome = {"name": "Lomé", "country_code": "TG"}
    assert (await registry.client.post("/cities", json=lome, headers=USER)).status_code == 201
    attempts: list[int] = []
    look_up, write = importer._all, importer._CityImporter.write

    async def blind_first(*args: Any) -> list[Any]:
        return [] if len(attempts) == 1 else await look_up(*args)

    async def counted(self: Any, *args: Any) -> Any:
        attempts.append(1)
        return await write(self, *args)

    monkeypatch.setattr(importer, "_all", blind_first)
    monkeypatch.setattr(importer._CityImporter, "write", counted)
    path = _write(tmp_path / "cities.csv", "name,country_code\nLyon,FR\nLomé,TG\n")
    assert await _bulk(registry, "import", "cities", path) == 0
    assert _summary(capsys.readouterr().out) == "1 imported, 1 already present, 0 rejected"
    assert len(attempts) == 2
    assert len(await registry.events("CityRegistered")) == 2


BAD_FILES = [
    ("missing.csv", "name,region\nLyon,Rhône\n", "missing column 'country_code'"),
    ("unknown.csv", "name,country_code,mayor\nLyon,FR,Grégory\n", "unknown column 'mayor'"),
    ("latin1.csv", "name,country_code\nLyon,FR\nLomé,TG\n".encode("latin-1"), "not UTF-8: line 3"),
    ("late.csv", "name,country_code\nLyon,FR\nLomé,TG,x\n", "row 3 has 3 fields"),
    ("bad.jsonl", '{"name": "Lyon", "country_code": "FR"}\n{"name": \n', "line 2 is not JSON"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES)
async def test_a_bad_file_is_refused_whole_and_nothing_is_written(
    registry: ServiceUnderTest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    name: str,
    content: str | bytes,
    message: str,
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        _write(path, content)
    outbox = await _count(registry, OUTBOX)
    assert await _bulk(registry, "import", "cities", path) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"refused, nothing imported: {path}")
    assert message in err
    assert await _count(registry, City) == 0
    assert await _count(registry, OUTBOX) == outbox
    assert not (tmp_path / f"{path.stem}.rejected.csv").exists()


async def test_needs_and_offers_name_their_city_by_name_or_by_id(
    registry: ServiceUnderTest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cities = await _import_cities(registry, tmp_path)
    lome, lyon = cities["Lomé"], cities["Lyon"]
    needs = _write_csv(
        tmp_path / "needs.csv",
        ITEM_HEADER,
        [
            {"external_ref": "LOME-1", "country_code": "tg", "city_name": " LOME ", **TRAINING},
            {"external_ref": "LOME-2", "city_id": lome, **TRAINING, "domain": "drinking-water"},
            {"external_ref": "KARA-1", "country_code": "TG", "city_name": "Kara", **TRAINING},
            {
                "external_ref": "X-1",
                "city_id": lyon,
                "country_code": "TG",
                "city_name": "Lomé",
                **TRAINING,
            },
            {"external_ref": "X-2", "city_id": str(uuid.UUID(int=7)), **TRAINING},
            {"external_ref": "X-3", "city_id": lome, **TRAINING, "domain": "water"},
            {"external_ref": "LOME-1", "city_id": lome, **TRAINING},
        ],
    )
    capsys.readouterr()
    assert await _bulk(registry, "import", "needs", needs, "--as", "ops@registry") == 1
    assert _summary(capsys.readouterr().out) == "2 imported, 0 already present, 5 rejected"
    report = _read_csv(tmp_path / "needs.rejected.csv")
    assert report[1:4] == [
        ["4", "city_name", "no city named 'Kara' in TG: register it first (import cities)"],
        ["5", "city_id", f"city {lyon} is Lyon (FR), not Lomé"],
        ["6", "city_id", f"no city with id {uuid.UUID(int=7)}"],
    ]
    assert report[4][:2] == ["7", "domain"]
    assert report[4][2].startswith("unknown domain 'water'")
    assert report[5] == ["8", "external_ref", "the same external_ref as row 2"]

    page = (await registry.client.get(f"/cities/{lome}/needs", headers=USER)).json()
    assert page["total"] == 2
    assert {item["languages"][0] for item in page["items"]} == {"fr"}
    need = page["items"][0]
    history = (await registry.client.get(f"/needs/{need['id']}/history", headers=USER)).json()
    assert [(rev["action"], rev["actor"]) for rev in history] == [("published", "ops@registry")]
    assert len(await registry.events("NeedPublished")) == 2

    # Offers, as JSON lines: an external_ref is the importer's id within one kind.
    offer = {
        "external_ref": "LOME-1",
        "city_id": lyon,
        "title": "Waste collection: training by our cleansing department",
        "description": "On-site training of collection supervisors.",
        "domain": "waste-collection",
        "languages": ["fr", "en"],
        "forms": ["training", "expertise"],
        "capacity_partners": 2,
        "period_start": "2027-01-15",
        "period_end": "2027-12-15",
    }
    offers = _write(tmp_path / "offers.jsonl", json.dumps(offer) + "\n")
    assert await _bulk(registry, "import", "offers", offers) == 0
    assert _summary(capsys.readouterr().out) == "1 imported, 0 already present, 0 rejected"
    [event] = await registry.events("OfferPublished")
    assert (event.data["city_id"], event.data["capacity_partners"]) == (lyon, 2)

    # Re-runs change nothing.
    assert await _bulk(registry, "import", "needs", needs) == 1
    assert _summary(capsys.readouterr().out) == "0 imported, 2 already present, 5 rejected"
    assert await _bulk(registry, "import", "offers", offers) == 0
    assert _summary(capsys.readouterr().out) == "0 imported, 1 already present, 0 rejected"
    assert await _count(registry, NeedOffer) == 3
    assert await _count(registry, NeedOfferRevision) == 3
    assert await _count(registry, ImportRef) == 3


async def test_an_imported_need_is_published_as_the_api_publishes_it(
    registry: ServiceUnderTest, tmp_path: Path
) -> None:
    lome = (await _import_cities(registry, tmp_path))["Lomé"]
    officer = bearer(f"city_officer:{lome}", subject="officer-of-lome")
    body = {
        **{k: v for k, v in TRAINING.items() if not k.startswith(("capacity", "period"))},
        "languages": ["fra", "ee"],
        "forms": ["training", "exchange-visits"],
        "capacity": {"staff_days": 60},
        "period": {"start": "2027-02-01", "end": "2027-07-31"},
    }
    over_http = await registry.client.post(f"/cities/{lome}/needs", json=body, headers=officer)
    assert over_http.status_code == 201
    path = _write_csv(
        tmp_path / "needs.csv", ITEM_HEADER, [{"external_ref": "A", "city_id": lome, **TRAINING}]
    )
    assert await _bulk(registry, "import", "needs", path, "--as", "officer-of-lome") == 0

    page = (await registry.client.get(f"/cities/{lome}/needs", headers=USER)).json()
    [published] = [item for item in page["items"] if item["id"] == over_http.json()["id"]]
    [imported] = [item for item in page["items"] if item is not published]
    different = {"id", "published_at"}
    assert {k: v for k, v in imported.items() if k not in different} == {
        k: v for k, v in published.items() if k not in different
    }
    events = await registry.events("NeedPublished")
    assert [event.subject for event in events] == [published["id"], imported["id"]]
    assert {**events[0].data, "need_id": None} == {**events[1].data, "need_id": None}
    histories = [
        (await registry.client.get(f"/needs/{item['id']}/history", headers=USER)).json()
        for item in (published, imported)
    ]
    for history in histories:
        for revision in history:
            del revision["at"]
    assert histories[0] == histories[1]


async def _export(registry: ServiceUnderTest, what: str, path: Path, *options: str) -> Path:
    assert await _bulk(registry, "export", what, "--output", path, *options) == 0
    return path


@pytest.fixture
async def copy(new_database: DatabaseFactory) -> AsyncIterator[tuple[str, Any]]:
    """A second, empty registry database, and its sessions."""
    url = await new_database("registry_copy")
    engine = db.create_engine(url)
    try:
        yield url, db.session_factory(engine)
    finally:
        await engine.dispose()


async def test_an_export_imports_back_to_the_same(
    registry: ServiceUnderTest,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    copy: tuple[str, Any],
) -> None:
    cities = await _import_cities(registry, tmp_path)
    lome = cities["Lomé"]
    officer = bearer(f"city_officer:{lome}")
    body = {
        "title": "Drinking water for Bè",
        "description": "Wells and pumps.",
        "domain": "drinking-water",
        "languages": ["fr"],
        "forms": ["equipment"],
        "capacity": {"partners": 1},
        "period": {"start": "2027-01-01", "end": "2027-06-30"},
    }
    for _ in range(2):
        response = await registry.client.post(f"/cities/{lome}/needs", json=body, headers=officer)
        assert response.status_code == 201
    withdrawn = response.json()["id"]
    response = await registry.client.post(f"/needs/{withdrawn}/withdrawal", headers=officer)
    assert response.status_code == 200
    items = [{"external_ref": "LOME-1", "city_id": lome, **TRAINING}]
    assert (
        await _bulk(registry, "import", "needs", _write_csv(tmp_path / "n.csv", ITEM_HEADER, items))
        == 0
    )
    assert (
        await _bulk(
            registry, "import", "offers", _write_csv(tmp_path / "o.csv", ITEM_HEADER, items)
        )
        == 0
    )
    outbox = await _count(registry, OUTBOX)

    exports = tmp_path / "exports"
    exports.mkdir()
    files = [
        await _export(registry, what, exports / f"{what}.{format_}")
        for what in ("cities", "needs", "offers")
        for format_ in ("csv", "jsonl")
    ]
    capsys.readouterr()
    expected = {"cities": 3, "needs": 3, "offers": 1}
    for path in files:
        assert await _bulk(registry, "import", path.stem, path) == 0
        assert _summary(capsys.readouterr().out) == (
            f"0 imported, {expected[path.stem]} already present, 0 rejected"
        )
    assert await _count(registry, OUTBOX) == outbox

    # Into an empty registry: the same records under the same ids, except the withdrawn need.
    url, sessions = copy
    for what in ("cities", "needs", "offers"):
        code = await run(["import", what, str(exports / f"{what}.csv")], database_url=url)
        assert code == (1 if what == "needs" else 0)
    assert _read_csv(exports / "needs.rejected.csv")[1:] == [
        [
            str(_row_of(exports / "needs.csv", withdrawn)),
            "status",
            "only an open need can be imported; this one is withdrawn",
        ]
    ]
    for what in ("cities", "needs", "offers"):
        again = tmp_path / f"again.{what}.jsonl"
        assert await run(["export", what, "--output", str(again)], database_url=url) == 0
        original = (exports / f"{what}.jsonl").read_text(encoding="utf-8").splitlines()
        if what == "needs":
            original = [line for line in original if withdrawn not in line]
        assert again.read_text(encoding="utf-8").splitlines() == original
    copied = [event.type for event in await outbox_events(sessions)]
    assert copied == ["CityRegistered"] * 3 + ["NeedPublished"] * 2 + ["OfferPublished"]

    # One country's only.
    togo = await _export(registry, "cities", tmp_path / "tg.csv", "--country", "tg")
    assert [row[1] for row in _read_csv(togo)] == ["name", "Lomé"]


async def test_contacts_are_exported_only_when_asked_for(
    registry: ServiceUnderTest, tmp_path: Path
) -> None:
    contacts = [{"name": "Yawa Kouigan", "role": "mayor", "email": "maire@lome.tg"}]
    line = {"name": "Lomé", "country_code": "TG", "contacts": contacts}
    path = _write(tmp_path / "cities.jsonl", json.dumps(line) + "\n")
    assert await _bulk(registry, "import", "cities", path) == 0
    plain = await _export(registry, "cities", tmp_path / "plain.jsonl")
    assert "contacts" not in json.loads(plain.read_text(encoding="utf-8"))
    full = await _export(registry, "cities", tmp_path / "full.csv", "--include-contacts")
    [header, row] = _read_csv(full)
    cell = row[header.index("contacts")]
    assert json.loads(cell) == [{**contacts[0], "title": None, "phone": None}]


async def test_the_command_runs_as_a_process_on_the_registry_database(
    new_database: DatabaseFactory, tmp_path: Path
) -> None:
    url = await new_database("registry")
    env = {**os.environ, "REGISTRY_DATABASE_URL": url}

    async def bulk(*argv: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.registry.bulk",
            *argv,
            cwd=ROOT,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    path = _write(tmp_path / "cities.csv", CITIES)
    report = tmp_path / "report.csv"
    code, out, err = await bulk("import", "cities", str(path), "--report", str(report))
    assert code == 1, err
    assert _summary(out) == "3 imported, 0 already present, 4 rejected"
    assert _read_csv(report) == CITIES_REPORT

    code, out, _ = await bulk("export", "cities", "--format", "jsonl")
    assert code == 0
    assert [json.loads(line)["name"] for line in out.splitlines()] == [
        "Ouagadougou",
        "Lyon",
        "Lomé",
    ]

    code, _, err = await bulk("import", "needs", str(path))
    assert code == 2
    assert "missing columns 'external_ref', 'title'" in err

    engine = db.create_engine(url)
    try:
        events = await outbox_events(db.session_factory(engine))
    finally:
        await engine.dispose()
    assert [event.type for event in events] == ["CityRegistered"] * 3
