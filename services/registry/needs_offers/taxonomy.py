"""The controlled taxonomy of domains a need or an offer belongs to (drinking water, waste
collection, inter-ethnic dialogue...). It is data, in `domains.json`, so that a domain can be added
or a label corrected without touching code. Codes are stable: events and other services keep them,
so a code is never renamed or reused; labels may change.

The file is validated when this module is imported, so a broken taxonomy stops the service at
start-up rather than answering with half a list."""

import json
import re
from collections import Counter
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

DOMAINS_FILE = Path(__file__).with_name("domains.json")

_CODE = re.compile(r"^[a-z]+(-[a-z]+)*$")


class LabelLanguage(StrEnum):
    """The languages every label is given in."""

    EN = "en"
    FR = "fr"
    ES = "es"


class TaxonomyError(ValueError):
    pass


def _every_language(labels: dict[LabelLanguage, str]) -> dict[LabelLanguage, str]:
    missing = [language.value for language in LabelLanguage if language not in labels]
    if missing:
        raise ValueError(f"labels missing in {', '.join(missing)}")
    return labels


class Domain(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(
        pattern=_CODE.pattern, max_length=60, description="stable, e.g. 'waste-collection'"
    )
    labels: Annotated[
        dict[LabelLanguage, Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]],
        AfterValidator(_every_language),
    ]


class _File(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domains: list[Domain] = Field(min_length=1)


class Taxonomy:
    def __init__(self, domains: list[Domain]) -> None:
        self._by_code = {domain.code: domain for domain in domains}
        if len(self._by_code) != len(domains):
            counts = Counter(domain.code for domain in domains)
            repeated = sorted(code for code, count in counts.items() if count > 1)
            raise TaxonomyError(f"domain codes must be unique; repeated: {', '.join(repeated)}")

    def __contains__(self, code: object) -> bool:
        return code in self._by_code

    def __iter__(self) -> Iterator[Domain]:
        return iter(self._by_code.values())

    @property
    def codes(self) -> list[str]:
        return list(self._by_code)


def load(path: Path) -> Taxonomy:
    """The taxonomy in `path`; TaxonomyError says what is wrong with the file, and where."""
    try:
        parsed = _File.model_validate(json.loads(path.read_text(encoding="utf-8")))
        return Taxonomy(parsed.domains)
    except (OSError, ValueError) as exc:  # ValidationError and JSONDecodeError included
        raise TaxonomyError(f"the domain taxonomy {path} is invalid: {exc}") from exc


TAXONOMY = load(DOMAINS_FILE)
