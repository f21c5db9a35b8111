"""Reading bulk import files: a file is checked whole (encoding, every line, the columns) before a
row is used, and refused with a message that says what is wrong and where."""

import io
import json
from pathlib import Path

import pytest

from services.registry.bulk.files import FileRefused, Format, Writer, format_of, open_source
from services.registry.bulk.rows import CITY_COLUMNS, ITEM_COLUMNS


def _file(tmp_path: Path, content: str | bytes, name: str = "cities.csv") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def _rows(path: Path, format_: Format = Format.CSV) -> list[tuple[int, dict[str, object]]]:
    source = open_source(path, format_, CITY_COLUMNS)
    return [(row.line, row.values) for row in source]


def test_csv_rows_carry_their_line_with_blank_cells_left_out(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        "name,country_code,region,official_languages\n"
        'Lomé,TG,Maritime,fr; ee\n\n"Port-au-\nPrince",HT,,fr;ht;\n,,,\n',
    )
    source = open_source(path, Format.CSV, CITY_COLUMNS)
    assert source.rows == 2
    assert _rows(path) == [
        (
            2,
            {
                "name": "Lomé",
                "country_code": "TG",
                "region": "Maritime",
                "official_languages": ["fr", "ee"],
            },
        ),
        (4, {"name": "Port-au-\nPrince", "country_code": "HT", "official_languages": ["fr", "ht"]}),
    ]


def test_rows_are_numbered_as_a_spreadsheet_numbers_them(tmp_path: Path) -> None:
    # A cell with a line break is one row; messages name the line of the file too.
    path = _file(tmp_path, 'name,country_code,region\nLomé,TG,"Mari\ntime"\nLyon,FR\n')
    with pytest.raises(FileRefused, match=r"row 3 \(line 4 of the file\) has 2 fields"):
        open_source(path, Format.CSV, CITY_COLUMNS)
    path = _file(tmp_path, 'name,country_code,region\nLomé,TG,"Mari\ntime"\nLyon,FR,\n')
    assert [line for line, _ in _rows(path)] == [2, 3]


def test_a_byte_order_mark_and_semicolons_are_understood(tmp_path: Path) -> None:
    # What a spreadsheet in a French locale saves as "CSV UTF-8".
    path = _file(tmp_path, '\ufeffname;country_code;official_languages\nLyon;FR;"fr;en"\n')
    assert _rows(path) == [
        (2, {"name": "Lyon", "country_code": "FR", "official_languages": ["fr", "en"]})
    ]


def test_a_contacts_cell_that_is_not_json_is_a_problem_of_its_row(tmp_path: Path) -> None:
    path = _file(tmp_path, 'name,country_code,contacts\nLyon,FR,"[{""name"": ""A""}"\n')
    [row] = open_source(path, Format.CSV, CITY_COLUMNS)
    assert row.values == {"name": "Lyon", "country_code": "FR"}
    [(column, reason)] = row.problems
    assert column == "contacts"
    assert reason.startswith("not JSON")


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("name,region", "missing column 'country_code'"),
        ("name,country_code,mayor", "unknown column 'mayor'"),
        ("name,country_code,name", "names 'name' more than once"),
        ("", "the first line must name the columns"),
    ],
)
def test_wrong_columns_refuse_the_file(tmp_path: Path, header: str, message: str) -> None:
    path = _file(tmp_path, f"{header}\nLyon,FR,x\n" if header else "")
    with pytest.raises(FileRefused, match=message) as refused:
        open_source(path, Format.CSV, CITY_COLUMNS)
    if message.startswith(("missing", "unknown")):
        assert "Required: name, country_code; optional: id, region" in str(refused.value)


def test_needs_name_their_city_one_way_or_the_other(tmp_path: Path) -> None:
    base = "external_ref,title,description,domain,languages,forms,period_start,period_end"
    for city in ("city_id", "country_code,city_name"):
        path = _file(tmp_path, f"{base},{city},capacity_partners\n", "needs.csv")
        assert open_source(path, Format.CSV, ITEM_COLUMNS).rows == 0
    path = _file(tmp_path, f"{base},city_name\n", "needs.csv")
    with pytest.raises(FileRefused) as refused:
        open_source(path, Format.CSV, ITEM_COLUMNS)
    assert "give the columns city_id or country_code and city_name" in str(refused.value)
    assert "capacity_staff_days or capacity_partners" in str(refused.value)


def test_a_file_that_is_not_utf8_is_refused_naming_the_line(tmp_path: Path) -> None:
    path = _file(tmp_path, "name,country_code\nLyon,FR\nLomé,TG\n".encode("latin-1"))
    with pytest.raises(FileRefused, match=r"is not UTF-8: line 3, byte 4 \(0xe9\)"):
        open_source(path, Format.CSV, CITY_COLUMNS)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            "name,country_code\nLyon,FR\nLomé,TG,extra\n",
            "row 3 has 3 fields where the header has 2",
        ),
        ('name,country_code\nLyon,FR\n"Lomé"x,TG\n', "row 3 is not readable CSV"),
        ('name,country_code\nLyon,FR\n"Lomé,TG\n', "row 3 is not readable CSV"),
    ],
)
def test_an_unreadable_line_refuses_the_whole_file(
    tmp_path: Path, content: str, message: str
) -> None:
    with pytest.raises(FileRefused, match=message):
        open_source(_file(tmp_path, content), Format.CSV, CITY_COLUMNS)


def test_json_lines_are_read_and_checked(tmp_path: Path) -> None:
    path = _file(
        tmp_path,
        '{"name": "Lomé", "country_code": "TG", "region": null, "official_languages": ["fr"]}\n'
        "\n"
        '{"name": "Lyon", "country_code": "FR", "population": 522250}\n',
        "cities.jsonl",
    )
    assert format_of(path, None) is Format.JSONL
    assert _rows(path, Format.JSONL) == [
        (1, {"name": "Lomé", "country_code": "TG", "official_languages": ["fr"]}),
        (3, {"name": "Lyon", "country_code": "FR", "population": 522250}),
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"name": "Lyon", "country_code": "FR"}\n{"name": "Lomé",\n', "line 2 is not JSON"),
        ('{"name": "Lyon", "country_code": "FR"}\n["Lomé", "TG"]\n', "line 2 is not a JSON object"),
        (
            '{"name": "Lyon", "country_code": "FR", "mayor": "x"}\n',
            "line 1: unknown column 'mayor'",
        ),
        ('{"name": "Lyon"}\n', "missing column 'country_code'"),
    ],
)
def test_bad_json_lines_refuse_the_whole_file(tmp_path: Path, content: str, message: str) -> None:
    with pytest.raises(FileRefused, match=message):
        open_source(_file(tmp_path, content, "cities.jsonl"), Format.JSONL, CITY_COLUMNS)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FileRefused, match="no such file"):
        open_source(tmp_path / "nothing.csv", Format.CSV, CITY_COLUMNS)


def test_the_writer_writes_what_the_reader_reads(tmp_path: Path) -> None:
    row = {
        "name": "Port-au-Prince",
        "country_code": "HT",
        "region": None,
        "official_languages": ["fr", "ht"],
        "contacts": [{"name": "A, B", "role": "mayor"}],
    }
    header = ["name", "country_code", "region", "official_languages", "contacts"]
    for format_ in Format:
        out = io.StringIO()
        Writer(out, format_, header).write(row)
        path = _file(tmp_path, out.getvalue(), f"cities.{format_}")
        expected = {name: value for name, value in row.items() if value is not None}
        assert _rows(path, format_) == [(2 if format_ is Format.CSV else 1, expected)]
    out = io.StringIO()
    Writer(out, Format.JSONL, header).write(row)
    assert json.loads(out.getvalue())["region"] is None
