"""The webhook part of the notifications settings (NOTIFICATIONS_WEBHOOK_*). Delays are in
seconds so that tests can run the whole schedule in a second."""

from typing import Self

from pydantic import Field, SecretStr, model_validator

from services.notifications.keys import (
    DEV_SECRET_KEY,
    NEW_SECRET_KEY,
    refuse_outside_development,
)
from shared.settings import ServiceSettings


class WebhookSettings(ServiceSettings):
    webhook_retry_schedule_seconds: list[float] = Field(
        [0, 5, 300, 1800, 7200, 18000, 36000],  # at once, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h
        min_length=1,
        description="delay before each attempt of a delivery, the first one included",
    )
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="per delivery attempt")
    webhook_lease_seconds: float = Field(
        60.0, gt=0, description="a claimed delivery is retried after this if its sender died"
    )
    webhook_poll_seconds: float = Field(1.0, gt=0, description="how often the sender looks")
    webhook_batch_size: int = Field(50, ge=1, description="deliveries sent concurrently")
    webhook_disable_after_seconds: float = Field(
        5 * 24 * 3600, gt=0, description="disable an endpoint whose attempts all failed this long"
    )
    webhook_secret_grace_seconds: float = Field(
        24 * 3600, ge=0, description="how long a rotated-out secret still signs"
    )

    webhook_secret_keys: SecretStr = Field(
        SecretStr(DEV_SECRET_KEY),
        description="comma-separated Fernet keys encrypting signing secrets at rest: the first "
        f"encrypts, any decrypts ({NEW_SECRET_KEY})",
    )

    @model_validator(mode="after")
    def _no_dev_secret_key(self) -> Self:
        refuse_outside_development(
            self.environment,
            self.webhook_secret_keys,
            DEV_SECRET_KEY,
            "NOTIFICATIONS_WEBHOOK_SECRET_KEYS",
            NEW_SECRET_KEY,
        )
        return self

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> Self:
        # A lease shorter than an attempt would let a second sender resend a delivery that is
        # still in flight.
        if self.webhook_lease_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "NOTIFICATIONS_WEBHOOK_LEASE_SECONDS must exceed "
                "NOTIFICATIONS_WEBHOOK_TIMEOUT_SECONDS"
            )
        return self
