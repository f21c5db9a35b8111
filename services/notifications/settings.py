from typing import Literal, Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from services.notifications.keys import (
    DEV_UNSUBSCRIBE_KEY,
    NEW_UNSUBSCRIBE_KEY,
    refuse_outside_development,
)
from services.notifications.webhooks.settings import WebhookSettings

# The development mail sink of `make run` (services/notifications/mailsink.py) listens here.
DEV_SMTP_PORT = 8025


class NotificationsSettings(WebhookSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFICATIONS_")

    port: int = 8004
    database_url: str = "sqlite+aiosqlite:///./var/data/notifications.db"

    smtp_host: str = Field("127.0.0.1", description="the SMTP server email goes through")
    smtp_port: int = Field(DEV_SMTP_PORT, description="25 / 587 (STARTTLS) / 465 (TLS)")
    smtp_username: str | None = Field(None, description="none: no authentication")
    smtp_password: SecretStr | None = None
    smtp_security: Literal["none", "starttls", "tls"] = Field(
        "none", description="starttls: upgrade after connecting; tls: TLS from the start"
    )
    smtp_timeout_seconds: float = Field(30, gt=0)
    mail_from: str = Field(
        "city-exchange <notifications@city-exchange.test>", description="the From header"
    )
    message_id_domain: str = Field(
        "notifications.city-exchange.test", description="right side of every Message-ID"
    )
    sender_poll_seconds: float = Field(1.0, gt=0, description="look for due emails this often")
    sender_lease_seconds: float = Field(
        120, gt=0, description="a claimed email is retried by another sender after this"
    )
    retry_first_seconds: float = Field(30, gt=0, description="first wait after a failed send")
    retry_most_seconds: float = Field(3600, gt=0, description="longest wait between retries")
    digest_every_seconds: float = Field(
        60, gt=0, description="look for ended digest periods this often"
    )
    public_base_url: str = Field(
        "http://127.0.0.1:8004",
        description="where people reach this service: the start of the unsubscribe links",
    )
    unsubscribe_keys: SecretStr = Field(
        SecretStr(DEV_UNSUBSCRIBE_KEY),
        description="comma-separated keys (32 characters or more) signing unsubscribe links: "
        f"the first signs, any verifies ({NEW_UNSUBSCRIBE_KEY})",
    )
    sent_retention_days: float = Field(
        90,
        gt=0,
        description="keep sent emails and delivered webhook deliveries (with their attempts) "
        "this long; failed ones stay",
    )
    stream_poll_seconds: float = Field(
        2.0, gt=0, description="a live stream also looks for others' writes this often"
    )

    @model_validator(mode="after")
    def _no_dev_unsubscribe_key(self) -> Self:
        refuse_outside_development(
            self.environment,
            self.unsubscribe_keys,
            DEV_UNSUBSCRIBE_KEY,
            "NOTIFICATIONS_UNSUBSCRIBE_KEYS",
            NEW_UNSUBSCRIBE_KEY,
        )
        return self
