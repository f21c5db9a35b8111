"""Bulk import and export of the registry's cities, needs and offers, as CSV or JSON lines: a
registry-owned admin tool that writes to the registry's own database (REGISTRY_DATABASE_URL).

    python -m services.registry.bulk import cities FILE [--format csv|jsonl] [--report PATH]
                                                        [--as SUBJECT]
    python -m services.registry.bulk import needs FILE ...      (and: import offers FILE ...)
    python -m services.registry.bulk export cities|needs|offers [--format csv|jsonl]
                                                        [--output FILE] [--country CC]

Rows are validated by the API's own schemas and rules (`CityCreate`, `NeedOfferCreate`, the
domain taxonomy, the duplicate rules) and written in batches of 1000 per transaction, each with
the outbox rows of its events (CityRegistered, NeedPublished, OfferPublished), which the running
registry's relay publishes as if the rows had come over HTTP.

- A file with wrong columns (a required one missing, an unknown one), that is not UTF-8, or with
  an unreadable line is refused whole, before anything is written: exit code 2.
- A row that fails validation is rejected: its row number (as a spreadsheet numbers it: a CSV's
  header is row 1; in JSON lines, the line), column and reason go to the report (CSV,
  `--report`, by default next to the file as `<name>.rejected.csv`, rewritten on every run); the
  valid rows are imported. Exit code 1.
- A city already present (same country and name, accents, case and spacing ignored; or same
  external_id) is skipped, not updated, and raises no event. Needs and offers carry the
  importer's own id in `external_ref`; the registry keeps (kind, external_ref) -> item in its
  ledger (`bulk_import_refs`), so a re-run skips them too. Re-running an import changes nothing.
- Export writes every city, need or offer (or those of one country) with the columns an import
  reads, ids included: an export re-imported into the same registry imports nothing, and one
  imported into an empty registry keeps the ids. Contact officials (personal data) are exported
  only with `--include-contacts`.

CSV cells: a list (`official_languages`, `languages`, `forms`) is written `fr;ee`; `contacts` is
a JSON list; a blank cell is absent. Columns are separated by commas (semicolons and tabs are
recognised from the header). JSON lines: one object per line, with the same names, lists as JSON
lists. Needs and offers name their city by `city_id`, or by `country_code` and `city_name`.
"""
