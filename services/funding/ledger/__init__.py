"""The funds' double-entry, append-only ledger: the chart of accounts and movements
(`accounts`), balances derived from entries (`balances`), tables and posting (`store`)."""
