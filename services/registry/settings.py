from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class RegistrySettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REGISTRY_")

    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///./var/data/registry.db"
