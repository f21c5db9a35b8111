from pydantic import Field
from pydantic_settings import SettingsConfigDict

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
