"""The webhook part of the notifications settings (NOTIFICATIONS_WEBHOOK_*). Delays are in
seconds so that tests can run the whole schedule in a second."""

from typing import Self

from cryptography.fernet import Fernet
from pydantic import Field, SecretStr, field_validator, model_validator

from services.notifications.webhooks.dev_keys import DEV_SECRET_KEY
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

    webhook_secret_keys: list[SecretStr] = Field(
        [SecretStr(DEV_SECRET_KEY)],
        min_length=1,
        description="Fernet keys (JSON list) encrypting signing secrets at rest: the first "
        "encrypts, any decrypts (python -m services.notifications.webhooks.sealing --new-key)",
    )

    @field_validator("webhook_secret_keys")
    @classmethod
    def _are_fernet_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for number, key in enumerate(keys, start=1):
            try:
                Fernet(key.get_secret_value())
            except ValueError:
                raise ValueError(
                    f"key {number} of NOTIFICATIONS_WEBHOOK_SECRET_KEYS is not a Fernet key (32 "
                    "url-safe base64-encoded bytes): make one with "
                    "python -m services.notifications.webhooks.sealing --new-key"
                ) from None
        return keys

    @model_validator(mode="after")
    def _no_dev_secret_key(self) -> Self:
        # The committed key decrypts whatever it sealed: outside development it is refused even
        # as an old key kept for decrypting.
        if self.environment != "development" and any(
            key.get_secret_value() == DEV_SECRET_KEY for key in self.webhook_secret_keys
        ):
            raise ValueError(
                f"CX_ENVIRONMENT={self.environment} refuses the development webhook secret key: "
                "set NOTIFICATIONS_WEBHOOK_SECRET_KEYS to a JSON list of your own keys "
                "(python -m services.notifications.webhooks.sealing --new-key)"
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
