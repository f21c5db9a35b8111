"""Reading and writing the files: CSV and JSON lines, checked whole before any row is used.

`open_source` reads a file through once to check it (UTF-8, every line readable, the columns
right) and raises `FileRefused` if anything is wrong with the file as a whole; iterating the
`Source` then reads it again, row by row, so that a large file is never held in memory."""

import csv
import json
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

LIST_SEPARATOR = ";"
_DELIMITERS = ",;\t"


class FileRefused(Exception):
    """Something is wrong with the file as a whole: nothing of it is imported."""


class Format(StrEnum):
    CSV = "csv"
    JSONL = "jsonl"


def format_of(path: Path | None, given: str | None) -> Format:
    """The format asked for, else the one the file name says (.jsonl, .ndjson), else CSV."""
    if given:
        return Format(given)
    if path is not None and path.suffix.lower() in (".jsonl", ".ndjson"):
        return Format.JSONL
    return Format.CSV


@dataclass(frozen=True)
class Columns:
    """The columns a kind of row has. `one_of` lists alternatives of which one must be present
    whole, e.g. `city_id`, or `country_code` and `city_name`."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    one_of: tuple[tuple[tuple[str, ...], ...], ...] = ()
    lists: frozenset[str] = frozenset()
    json: frozenset[str] = frozenset()

    @property
    def names(self) -> tuple[str, ...]:
        return self.required + self.optional

    def check(self, present: Collection[str]) -> None:
        """FileRefused naming the columns missing or unknown, and the ones expected."""
        problems = []
        if unknown := [name for name in present if name not in self.names]:
            problems.append(f"unknown column{'s' * (len(unknown) > 1)} {_names(unknown)}")
        if missing := [name for name in self.required if name not in present]:
            problems.append(f"missing column{'s' * (len(missing) > 1)} {_names(missing)}")
        for alternatives in self.one_of:
            if not any(all(name in present for name in group) for group in alternatives):
                described = " or ".join(" and ".join(group) for group in alternatives)
                problems.append(f"give the column{'s' * (len(alternatives) > 1)} {described}")
        if problems:
            raise FileRefused(
                f"{'; '.join(problems)}. Required: {', '.join(self.required)}"
                + (f"; optional: {', '.join(self.optional)}" if self.optional else "")
            )


def _names(names: Iterable[str]) -> str:
    return ", ".join(repr(name) for name in names)


@dataclass(frozen=True)
class Row:
    """One record of the file: its values by column, blank cells left out. `line` is its row as a
    spreadsheet numbers it (a CSV's header is row 1; a cell with line breaks is still one row),
    the line of a JSON lines file. `problems` are cells that could not be
    read at all (e.g. a `contacts` cell that is not JSON), as (column, reason)."""

    line: int
    values: dict[str, Any]
    problems: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Source:
    path: Path
    format: Format
    columns: Columns
    rows: int  # how many records the file holds
    delimiter: str = ","
    header: tuple[str, ...] = ()

    def __iter__(self) -> Iterator[Row]:
        if self.format is Format.CSV:
            return self._csv_rows()
        return self._jsonl_rows()

    def _csv_rows(self) -> Iterator[Row]:
        with self.path.open(encoding="utf-8-sig", newline="") as file:
            for line, _, record in _csv_records(file, self.delimiter):
                if line == 1:
                    continue
                row = Row(line, {})
                for name, cell in zip(self.header, record, strict=True):
                    self._cell(row, name, cell.strip())
                yield row

    def _cell(self, row: Row, name: str, cell: str) -> None:
        if not cell:
            return
        if name in self.columns.lists:
            row.values[name] = [part.strip() for part in cell.split(LIST_SEPARATOR) if part.strip()]
        elif name in self.columns.json:
            try:
                row.values[name] = json.loads(cell)
            except json.JSONDecodeError as exc:
                row.problems.append((name, f"not JSON: {exc.msg} (character {exc.pos + 1})"))
        else:
            row.values[name] = cell

    def _jsonl_rows(self) -> Iterator[Row]:
        with self.path.open(encoding="utf-8-sig") as file:
            for line, text in enumerate(file, 1):
                if text.strip():
                    values = json.loads(text)
                    yield Row(
                        line, {name: value for name, value in values.items() if _given(value)}
                    )


def _given(value: object) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def open_source(path: Path, format_: Format, columns: Columns) -> Source:
    """The file, checked whole; FileRefused says what is wrong and where."""
    if not path.is_file():
        raise FileRefused(f"{path}: no such file")
    _check_utf8(path)
    try:
        if format_ is Format.CSV:
            return _scan_csv(path, columns)
        return _scan_jsonl(path, columns)
    except FileRefused as exc:
        raise FileRefused(f"{path}: {exc}") from None


def _check_utf8(path: Path) -> None:
    # Line by line in bytes, so that the message names the line: a newline byte is never part of
    # another character in UTF-8.
    with path.open("rb") as file:
        for number, raw in enumerate(file, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise FileRefused(
                    f"{path} is not UTF-8: line {number}, byte {exc.start + 1} (0x"
                    f"{raw[exc.start]:02x}) is not UTF-8 text. Save the file as UTF-8 (in a "
                    "spreadsheet: 'CSV UTF-8') and import it again"
                ) from None


def _csv_records(file: TextIO, delimiter: str) -> Iterator[tuple[int, int, list[str]]]:
    """(row, first line, fields) of each record, blank ones (no text in any field) skipped."""
    reader = csv.reader(file, delimiter=delimiter, strict=True)
    row = last = 0
    while True:
        row += 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise FileRefused(f"{_at(row, last + 1)} is not readable CSV: {exc}") from None
        first, last = last + 1, reader.line_num
        if any(cell.strip() for cell in record):
            yield row, first, record


def _at(row: int, line: int) -> str:
    return f"row {row}" if row == line else f"row {row} (line {line} of the file)"


def _scan_csv(path: Path, columns: Columns) -> Source:
    with path.open(encoding="utf-8-sig", newline="") as file:
        first_line = file.readline()
        counts = {candidate: first_line.count(candidate) for candidate in _DELIMITERS}
        delimiter = max(counts, key=lambda candidate: counts[candidate])
        delimiter = delimiter if counts[delimiter] else ","
        file.seek(0)
        records = _csv_records(file, delimiter)
        line, _, header_cells = next(records, (0, 0, []))
        if line != 1:
            raise FileRefused("the first line must name the columns (e.g. name,country_code)")
        header = tuple(cell.strip() for cell in header_cells)
        if repeated := sorted({name for name in header if header.count(name) > 1}):
            raise FileRefused(f"the header names {_names(repeated)} more than once")
        columns.check(header)
        rows = 0
        for line, first, record in records:
            if len(record) != len(header):
                raise FileRefused(
                    f"{_at(line, first)} has {len(record)} fields where the header has "
                    f"{len(header)}: "
                    "a separator or a quote is missing or too many"
                )
            rows += 1
    return Source(path, Format.CSV, columns, rows, delimiter, header)


def _scan_jsonl(path: Path, columns: Columns) -> Source:
    seen: dict[str, None] = {}
    rows = 0
    with path.open(encoding="utf-8-sig") as file:
        for line, text in enumerate(file, 1):
            if not text.strip():
                continue
            try:
                values = json.loads(text)
            except json.JSONDecodeError as exc:
                raise FileRefused(
                    f"line {line} is not JSON: {exc.msg} (character {exc.colno})"
                ) from None
            if not isinstance(values, dict):
                raise FileRefused(f"line {line} is not a JSON object ({{...}})")
            if unknown := [name for name in values if name not in columns.names]:
                raise FileRefused(
                    f"line {line}: unknown column{'s' * (len(unknown) > 1)} {_names(unknown)}; "
                    f"the columns are {', '.join(columns.names)}"
                )
            seen.update(dict.fromkeys(values))
            rows += 1
    if rows:
        columns.check(seen)
    return Source(path, Format.JSONL, columns, rows)


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return LIST_SEPARATOR.join(value)
    if isinstance(value, list | dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, StrEnum):
        return value.value
    return str(value)


def _json_value(value: Any) -> Any:
    if isinstance(value, UUID | date):
        return str(value)
    return value


class Writer:
    """Writes rows of `header` to `out` as CSV or JSON lines."""

    def __init__(self, out: TextIO, format_: Format, header: Iterable[str]) -> None:
        self._out = out
        self._format = format_
        self._header = list(header)
        if format_ is Format.CSV:
            self._csv = csv.writer(out, lineterminator="\n")
            self._csv.writerow(self._header)

    def write(self, row: Mapping[str, Any]) -> None:
        if self._format is Format.CSV:
            self._csv.writerow([_csv_cell(row.get(name)) for name in self._header])
        else:
            values = {name: _json_value(row.get(name)) for name in self._header}
            self._out.write(json.dumps(values, ensure_ascii=False) + "\n")
