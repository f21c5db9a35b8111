from typing import Self

from pydantic import Field, model_validator
from pydantic_settings import SettingsConfigDict

from services.registry.identity.dev_keys import DEV_SIGNING_KEY
from shared.settings import ServiceSettings

# Documented credentials of the first platform administrator in development only.
DEV_ADMIN_USERNAME = "admin@city-exchange.test"
DEV_ADMIN_PASSWORD = "dev-admin-password"


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_")

    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///./var/data/registry.db"

    token_signing_key: str = Field(DEV_SIGNING_KEY, description="PEM Ed25519 private key")
    access_token_ttl_seconds: int = Field(900, ge=60, le=3600)
    refresh_token_ttl_seconds: int = Field(14 * 24 * 3600, ge=3600)
    bootstrap_admin_username: str | None = Field(
        None, description="creates this platform administrator at start-up if there is none"
    )
    bootstrap_admin_password: str | None = None
    login_failures_allowed: int = Field(5, description="failed sign-ins per username per window")
    login_failure_window_seconds: int = 300

    @model_validator(mode="after")
    def _keys_and_first_admin(self) -> Self:
        if (
            self.environment != "development"
            and self.token_signing_key.strip() == DEV_SIGNING_KEY.strip()
        ):
            raise ValueError(
                f"CX_ENVIRONMENT={self.environment} refuses the development signing key: set "
                "REGISTRY_TOKEN_SIGNING_KEY (python -m services.registry.identity.keygen)"
            )
        if self.environment == "development" and self.bootstrap_admin_username is None:
            self.bootstrap_admin_username = DEV_ADMIN_USERNAME
            self.bootstrap_admin_password = DEV_ADMIN_PASSWORD
        return self
