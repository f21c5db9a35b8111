"""alembic's env.py, the same for every service: run_env reads the service from the config that
shared.migrations made."""

from shared.migrations import run_env

run_env()
