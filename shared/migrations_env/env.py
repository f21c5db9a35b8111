"""The alembic environment of every service: which service is in the config (shared.migrations)."""

from shared.migrations import run_env

run_env()
