"""Settings every service shares. Each service subclasses `ServiceSettings` with its own env prefix
(e.g. `REGISTRY_DATABASE_URL`); the fields here are read without a prefix because the whole system
agrees on them (e.g. `KAFKA_BOOTSTRAP_SERVERS`, `CX_ENVIRONMENT`)."""

from typing import Literal, Self

from pydantic import AliasChoices, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "test", "production"]

# The development key pair's public half. Its private half is committed too (registry's
# identity/dev_keys.py), so anyone can sign tokens it accepts: outside development a service
# refuses to start with it.
DEV_PUBLIC_KEY = """-----BEGIN PUBLIC KEY-----
MCowBQYDK2VwAyEADHMcmO8GHgObPFfYqTb6W0mJ80bV7VjRJiR4BooRjGo=
-----END PUBLIC KEY-----
"""


def shared_field(env_name: str, default: object, description: str) -> object:
    # An alias makes pydantic-settings ignore the service's env_prefix for this field.
    return Field(default, validation_alias=AliasChoices(env_name), description=description)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    environment: Environment = shared_field(
        "CX_ENVIRONMENT", "development", "development, test or production"
    )
    log_level: str = shared_field("CX_LOG_LEVEL", "INFO", "root log level")
    kafka_bootstrap_servers: str = shared_field(
        "KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092", "comma-separated host:port list"
    )
    # Off by default: the embedded Tansu broker rejects InitProducerId v0 (aiokafka's), so the
    # idempotent producer cannot start there. Turn it on against Apache Kafka. Duplicates it would
    # have prevented are caught by every consumer's inbox anyway.
    kafka_enable_idempotence: bool = shared_field(
        "KAFKA_ENABLE_IDEMPOTENCE", False, "use the idempotent producer (Apache Kafka only)"
    )
    kafka_topic_partitions: int = shared_field(
        "KAFKA_TOPIC_PARTITIONS", 3, "partitions for topics this service creates"
    )
    kafka_replication_factor: int = shared_field(
        "KAFKA_REPLICATION_FACTOR", 1, "replication factor for topics this service creates"
    )
    # How soon a consumer group notices a member has gone. Tansu waits out the session of a
    # member that left before it reassigns its partitions, so this bounds how long a restarted
    # instance waits; 6 s is Apache Kafka's minimum. Heartbeats come from a background task, so
    # a slow handler does not trip it.
    kafka_session_timeout_ms: int = shared_field(
        "KAFKA_SESSION_TIMEOUT_MS", 6000, "consumer group session timeout"
    )
    kafka_heartbeat_interval_ms: int = shared_field(
        "KAFKA_HEARTBEAT_INTERVAL_MS", 1000, "consumer group heartbeat interval"
    )
    # The longest a fetch waits for data. Apache Kafka answers a waiting fetch as soon as data
    # arrives; Tansu lets it run its course, so aiokafka's 500 ms default added ~130 ms median
    # latency to every consumer hop there (bench/). 100 ms costs a few idle fetches a second.
    kafka_fetch_max_wait_ms: int = shared_field(
        "KAFKA_FETCH_MAX_WAIT_MS", 100, "longest wait of a consumer fetch for new data"
    )

    auth_issuer: str = shared_field("AUTH_ISSUER", "city-exchange", "expected `iss` of tokens")
    auth_audience: str = shared_field("AUTH_AUDIENCE", "city-exchange", "expected `aud` of tokens")
    auth_public_key: str = shared_field(
        "AUTH_PUBLIC_KEY", DEV_PUBLIC_KEY, "PEM public key that verifies access tokens"
    )
    auth_jwks_url: str | None = shared_field(
        "AUTH_JWKS_URL", None, "verify with an OpenID Connect provider's keys instead of the key"
    )
    auth_algorithms: list[str] = shared_field(
        "AUTH_ALGORITHMS", ["EdDSA"], "accepted signature algorithms (JSON list)"
    )
    auth_roles_claim: str = shared_field(
        "AUTH_ROLES_CLAIM", "roles", "claim holding grants such as 'city_officer:<city id>'"
    )
    auth_clock_leeway_seconds: int = shared_field(
        "AUTH_CLOCK_LEEWAY_SECONDS", 30, "tolerated clock difference with the issuer"
    )

    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str = "sqlite+aiosqlite:///./var/data/service.db"
    # Off where a deploy job migrates before the new version starts (deploy/README.md): the
    # service then refuses a database that is not at its latest revision.
    migrate_on_start: bool = shared_field(
        "CX_MIGRATE_ON_START", True, "migrate the database to the latest revision at start-up"
    )

    outbox_poll_seconds: float = Field(
        1.0, description="fallback poll interval; a commit wakes the relay at once"
    )
    outbox_batch_size: int = 200
    consumer_max_attempts: int = Field(
        5, description="handler attempts before a message goes to the dead-letter topic"
    )
    outbox_retention_days: float = Field(7, gt=0, description="keep published outbox rows")
    inbox_retention_days: float = Field(
        30, gt=0, description="keep processed event ids; longer than any consumer's lag"
    )
    purge_every_seconds: float = Field(3600, gt=0)

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Self:
        # One SQLite file cannot be shared by several instances of a service, nor backed up
        # while it is written: refuse to start rather than lose data quietly.
        if self.environment == "production" and self.database_url.startswith("sqlite"):
            prefix = self.model_config.get("env_prefix", "")
            raise ValueError(
                f"CX_ENVIRONMENT=production needs PostgreSQL: set {prefix}DATABASE_URL to a "
                "postgresql+asyncpg:// URL"
            )
        if (
            self.environment != "development"
            and self.auth_jwks_url is None
            and self.auth_public_key.strip() == DEV_PUBLIC_KEY.strip()
        ):
            raise ValueError(
                f"CX_ENVIRONMENT={self.environment} refuses the development token key: set "
                "AUTH_PUBLIC_KEY (and the registry's REGISTRY_TOKEN_SIGNING_KEY) or AUTH_JWKS_URL"
            )
        return self
