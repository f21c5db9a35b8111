"""The command line: `python -m services.registry.bulk import|export ...` (see the package's
docstring). Exit codes: 0 done; 1 done, but rows were rejected (see the report); 2 nothing done:
the file, the command or the settings were refused; 3 failed on the way (the database, or
writing a file): the batches committed before are kept, and a re-run finishes the import."""

import argparse
import asyncio
import csv
import sys
import time
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession
from tqdm import tqdm

from services.registry import domain
from services.registry.app import DEFINITION
from services.registry.bulk import exporter
from services.registry.bulk.files import FileRefused, Format, Writer, format_of, open_source
from services.registry.bulk.importer import BATCH_SIZE, Summary, import_rows
from services.registry.bulk.rows import CITY_COLUMNS, ITEM_COLUMNS
from shared import db, migrations
from shared.events import current_correlation_id

OK, ROWS_REJECTED, REFUSED, FAILED = 0, 1, 2, 3
WHAT = ("cities", "needs", "offers")
DEFAULT_SUBJECT = "bulk-import"


class Refused(Exception):
    """The command cannot run as given: nothing was done."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.registry.bulk",
        description="Bulk import and export of the registry's cities, needs and offers, in the "
        "registry's database (REGISTRY_DATABASE_URL).",
        epilog="Exit codes: 0 done; 1 done, with rejected rows (see the report); 2 nothing "
        "done, the file or the command was refused; 3 failed on the way (e.g. the database): "
        "re-run the import to finish it.",
    )
    commands = parser.add_subparsers(dest="command", required=True)

    imports = commands.add_parser(
        "import", help="import a CSV or JSON lines file; re-running it changes nothing"
    )
    imports.add_argument("what", choices=WHAT)
    imports.add_argument("file", type=Path)
    imports.add_argument("--format", choices=list(Format), help="default: from the file name")
    imports.add_argument(
        "--report",
        type=Path,
        help="where the rejected rows go (row, column, reason), as CSV; default: "
        "<file name>.rejected.csv beside the file",
    )
    imports.add_argument(
        "--as",
        dest="subject",
        default=DEFAULT_SUBJECT,
        help=f"who imports, recorded as registered_by and as the revisions' actor "
        f"(default: {DEFAULT_SUBJECT})",
    )
    imports.add_argument("--batch-size", type=_positive, default=BATCH_SIZE, help="rows a commit")
    imports.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        help="show a progress bar on stderr (default: when stderr is a terminal)",
    )

    exports = commands.add_parser("export", help="write every city, need or offer")
    exports.add_argument("what", choices=WHAT)
    exports.add_argument("--format", choices=list(Format), help="default: from --output, or csv")
    exports.add_argument("--output", type=Path, help="default: standard output")
    exports.add_argument("--country", help="only this country's (ISO 3166-1 alpha-2)")
    exports.add_argument(
        "--include-contacts",
        action="store_true",
        help="cities: export the contact officials too (personal data)",
    )
    exports.add_argument("--progress", action=argparse.BooleanOptionalAction)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(sys.argv[1:] if argv is None else argv))


async def run(argv: Sequence[str], database_url: str | None = None) -> int:
    """The command `argv`, on `database_url` (default: the registry's, from its settings); the
    exit code."""
    args = _parser().parse_args(argv)
    try:
        return await _run(args, database_url)
    except (Refused, FileRefused) as exc:
        done = "nothing imported" if args.command == "import" else "nothing exported"
        print(f"refused, {done}: {exc}", file=sys.stderr)
        return REFUSED
    except (SQLAlchemyError, OSError) as exc:  # asyncpg's refused connection is an OSError
        print(f"the {args.command} failed: {exc!r}", file=sys.stderr)
        if args.command == "import":
            print(
                "batches committed before the failure are kept: run the same import again to "
                "finish (what is already imported is skipped)",
                file=sys.stderr,
            )
        return FAILED


def _database_url() -> str:
    try:
        return DEFINITION.settings().database_url
    except ValidationError as exc:
        raise Refused(f"the registry's settings are invalid: {exc}") from None


async def _run(args: argparse.Namespace, database_url: str | None) -> int:
    if args.command == "import":
        columns = CITY_COLUMNS if args.what == "cities" else ITEM_COLUMNS
        source = open_source(args.file, format_of(args.file, args.format), columns)
        subject = args.subject.strip()
        if not 1 <= len(subject) <= 100:
            raise Refused("--as takes a subject of 1 to 100 characters")
        report = args.report or args.file.with_name(f"{args.file.stem}.rejected.csv")
        if not report.parent.is_dir():
            raise Refused(f"--report {report}: no such directory")
        if report.resolve() == args.file.resolve():
            raise Refused("--report names the file to import: it would be overwritten")
    else:
        if args.country:
            try:
                args.country = domain.country_code(args.country)
            except ValueError as exc:
                raise Refused(f"--country: {exc}") from None
        if args.output and not args.output.parent.is_dir():
            raise Refused(f"--output {args.output}: no such directory")
    url = database_url or _database_url()
    engine = db.create_engine(url)
    try:
        await migrations.upgrade(engine, DEFINITION.name)
        sessions = db.session_factory(engine)
        if args.command == "export":
            return await _export(sessions, args)
        started = time.monotonic()
        # One flow: every event of this import shares a correlation id.
        correlation = str(uuid.uuid4())
        token = current_correlation_id.set(correlation)
        try:
            with _bar(args.progress, source.rows, f"import {args.what}") as bar:
                summary = await import_rows(
                    sessions, args.what, source, subject, args.batch_size, bar.update
                )
        finally:
            current_correlation_id.reset(token)
    finally:
        await engine.dispose()
    _write_report(report, summary)
    shown = make_url(url).render_as_string(hide_password=True)
    print(
        f"{args.file}: {summary.imported} imported, {summary.present} already present, "
        f"{summary.rejected} rejected, of {source.rows} rows, in {time.monotonic() - started:.1f} s "
        f"into {shown} (events' correlation id {correlation})"
    )
    if summary.rejected:
        print(f"rejected rows and their reasons: {report}")
        return ROWS_REJECTED
    return OK


def _bar(show: bool | None, total: int, description: str) -> tqdm:
    return tqdm(
        total=total,
        desc=description,
        unit=" rows",
        file=sys.stderr,
        disable=not sys.stderr.isatty() if show is None else not show,
    )


def _write_report(path: Path, summary: Summary) -> None:
    """Written on every run, so that it never speaks of an earlier one."""
    with path.open("w", encoding="utf-8", newline="") as file:
        writer = csv.writer(file, lineterminator="\n")
        writer.writerow(["row", "column", "reason"])
        for rejection in sorted(summary.rejections, key=lambda r: r.row):
            writer.writerow([rejection.row, rejection.column, rejection.reason])


async def _export(sessions: async_sessionmaker[AsyncSession], args: argparse.Namespace) -> int:
    format_ = format_of(args.output, args.format)
    header = exporter.header(args.what, args.include_contacts)
    written = 0
    # Into a side file renamed at the end, so that a failed export leaves no half a file.
    partial = args.output.with_name(f"{args.output.name}.part") if args.output else None
    target = partial.open("w", encoding="utf-8", newline="") if partial else None
    out: TextIO = target or sys.stdout
    with target or nullcontext():
        async with sessions() as session:
            total = await exporter.count(session, args.what, args.country)
            writer = Writer(out, format_, header)
            with _bar(args.progress, total, f"export {args.what}") as bar:
                async for row in exporter.rows(session, args.what, args.country):
                    writer.write(row)
                    written += 1
                    bar.update()
    if partial:
        partial.replace(args.output)
        print(f"{written} {args.what} written to {args.output}", file=sys.stderr)
    return OK
