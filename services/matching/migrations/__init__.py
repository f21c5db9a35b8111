"""The matching database's migrations, oldest first (shared.migrations)."""
