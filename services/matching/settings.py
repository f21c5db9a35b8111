from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.matching.domain import DEFAULT_ACCEPTANCE_DAYS, MAX_ACCEPTANCE_DAYS
from services.matching.interests import DEFAULT_ANSWER_DAYS, MAX_ANSWER_DAYS
from services.matching.suggestions import Weights
from shared.settings import ServiceSettings


class MatchingSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MATCHING_")

    port: int = 8002
    database_url: str = "sqlite+aiosqlite:///./var/data/matching.db"
    suggestion_weights: Weights = Field(
        default_factory=Weights,
        description="weights of the suggestion components, e.g. "
        "MATCHING_SUGGESTION_WEIGHTS='{\"language\": 2.0}' (see services/matching/suggestions.py)",
    )
    expiry_every_seconds: float = Field(
        300,
        gt=0,
        description="how often overdue proposals and unanswered expressions of interest expire",
    )
    acceptance_days: int = Field(
        DEFAULT_ACCEPTANCE_DAYS,
        ge=1,
        le=MAX_ACCEPTANCE_DAYS,
        description="days the parties have to accept a proposed agreement when the proposal "
        "sets no accept_by (MATCHING_ACCEPTANCE_DAYS)",
    )
    interest_answer_days: int = Field(
        DEFAULT_ANSWER_DAYS,
        ge=1,
        le=MAX_ANSWER_DAYS,
        description="days the city asked has to answer an expression of interest before it "
        "expires (MATCHING_INTEREST_ANSWER_DAYS)",
    )
    dormant_after_days: int = Field(
        90,
        ge=1,
        le=3650,
        description="days without a sign of life after which an active agreement is dormant and "
        "its parties are reminded, once per such period (MATCHING_DORMANT_AFTER_DAYS)",
    )
    dormancy_check_every_seconds: float = Field(
        3600, gt=0, description="how often dormant agreements are looked for"
    )
