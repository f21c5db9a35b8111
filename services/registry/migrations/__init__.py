"""The registry database's migrations, oldest first (shared.migrations)."""
