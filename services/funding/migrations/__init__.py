"""The funding database's migrations, oldest first (shared.migrations)."""
