"""The notifications database's migrations, oldest first (shared.migrations)."""
