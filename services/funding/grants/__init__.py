"""Grants: partnerships' applications to a fund, their two reviews and the decision, amendments,
milestones and the tranches paid against them, holds, and funding's read model of agreements and
cities (from matching and registry events).

- `domain`: the rules, free of I/O (state machine, four-eyes rules, release rules, holds).
- `models`: tables and API schemas; `KnownAgreement` and `KnownCity` are the read model, also
  read by the transparency reports.
- `read_model`: the handlers that build the read model and hold tranches on its changes.
- `tranches`: the tranche operations that touch the ledger and the holds (I/O).
- `api`: the HTTP routes; `handlers`: the event type -> handler table.
"""
