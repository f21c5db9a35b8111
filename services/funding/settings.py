from decimal import Decimal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class FundingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="FUNDING_")

    port: int = 8003
    database_url: str = "sqlite+aiosqlite:///./var/data/funding.db"
    overdue_check_every_seconds: float = Field(
        3600,
        gt=0,
        description="how often instalments past their due date are looked for and flagged "
        "(FUNDING_OVERDUE_CHECK_EVERY_SECONDS)",
    )
    # A tranche above this amount (per currency, in that currency) is paid only once a second
    # administrator approves its release; a fund in a currency not listed needs two for every
    # release. E.g. FUNDING_SECOND_APPROVAL_THRESHOLDS='{"EUR": "5000", "XOF": "3000000"}'.
    second_approval_thresholds: dict[str, Decimal] = Field(
        default_factory=lambda: {
            "EUR": Decimal("10000"),
            "CHF": Decimal("10000"),
            "USD": Decimal("10000"),
            "GBP": Decimal("10000"),
            "CAD": Decimal("15000"),
            "XOF": Decimal("6500000"),
        }
    )
