"""Reference data funding checks against, kept as data files in the repository and loaded once
at import, so that a broken file stops the service at start-up rather than answering wrongly.

- The domain taxonomy: the registry's own data file, read as data (neither its code nor its API):
  the codes are the contract between services (events carry them) and every service ships from
  this repository, so funding sees the same codes as the registry after a deployment.
- The in-kind rate table (`in_kind_rates.json`): the daily rate of each profession, per
  currency, with the source of the table and, where there is one, of the rate itself."""

import json
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared import money

DOMAINS_FILE = Path(__file__).parents[1] / "registry" / "needs_offers" / "domains.json"
IN_KIND_RATES_FILE = Path(__file__).with_name("in_kind_rates.json")


def _domain_codes(path: Path) -> frozenset[str]:
    return frozenset(domain["code"] for domain in json.loads(path.read_text("utf-8"))["domains"])


DOMAIN_CODES = _domain_codes(DOMAINS_FILE)


class InKindRate(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    profession: str = Field(pattern=r"^[a-z]+(-[a-z]+)*$")
    label: str
    currency: str
    daily_rate: Decimal = Field(gt=0, description="per staff-day, in `currency`")
    source: str | None = Field(None, description="where this rate comes from, if not the table's")

    _check_currency = field_validator("currency")(money.currency_code)


class InKindRateTable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str = Field(min_length=1)
    as_of: str
    rates: list[InKindRate] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_rate_per_profession_and_currency(self) -> "InKindRateTable":
        keys = [(r.profession, r.currency) for r in self.rates]
        repeated = sorted({key for key in keys if keys.count(key) > 1})
        if repeated:
            raise ValueError(f"more than one rate for {repeated}")
        return self

    def rate(self, profession: str, currency: str) -> InKindRate | None:
        return next(
            (r for r in self.rates if (r.profession, r.currency) == (profession, currency)), None
        )

    def professions(self, currency: str) -> list[str]:
        return sorted(r.profession for r in self.rates if r.currency == currency)


IN_KIND_RATES = InKindRateTable.model_validate_json(IN_KIND_RATES_FILE.read_text("utf-8"))
