from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class MatchingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHING_")

    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///./var/data/matching.db"
