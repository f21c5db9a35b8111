from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class NotificationsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_")

    port: int = 8004
    database_url: str = "sqlite+aiosqlite:///./var/data/notifications.db"
