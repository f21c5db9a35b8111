from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class FundingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FUNDING_")

    port: int = 8003
    database_url: str = "sqlite+aiosqlite:///./var/data/funding.db"
