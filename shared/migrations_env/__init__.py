"""The alembic environment every service shares (shared.migrations)."""
