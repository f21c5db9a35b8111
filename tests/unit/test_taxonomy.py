"""The domain taxonomy: the shipped file covers the domains of the source documents, and the
loader refuses a broken file with a message that says what is wrong."""

import json
from pathlib import Path
from typing import Any

import pytest

from services.registry.needs_offers.taxonomy import (
    DOMAINS_FILE,
    TAXONOMY,
    LabelLanguage,
    TaxonomyError,
    load,
)

# Every domain DOMAIN.md lists for needs and offers, in its order.
DOMAIN_MD = [
    "technology-transfer",
    "municipal-staff-training",
    "sanitation-network-inspection",
    "drinking-water",
    "waste-collection",
    "transport",
    "information-technology",
    "microcredit",
    "local-governance",  # "budget transparency / local governance"
    "cultural-exchange",
    "sports-and-cultural-events",
    "inter-ethnic-dialogue",
    "human-rights-and-rule-of-law",
    "women-and-youth-participation",
    "local-economic-development",
    "cross-border-cooperation",
]


def test_the_shipped_taxonomy_covers_every_domain_with_three_labels() -> None:
    assert TAXONOMY.codes == DOMAIN_MD
    for domain in TAXONOMY:
        assert set(domain.labels) == set(LabelLanguage), domain.code
    waste = next(domain for domain in TAXONOMY if domain.code == "waste-collection")
    assert waste.labels[LabelLanguage.FR] == "Enlèvement des ordures"
    assert "waste-collection" in TAXONOMY and "football" not in TAXONOMY


def _entry(code: str = "drinking-water", **labels: str) -> dict[str, Any]:
    return {"code": code, "labels": labels or {"en": "Water", "fr": "Eau", "es": "Agua"}}


def _load(tmp_path: Path, content: object) -> None:
    path = tmp_path / "domains.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({"domains": [_entry(), _entry()]}, "repeated: drinking-water"),
        ({"domains": [_entry(en="Water", fr="Eau")]}, "labels missing in es"),
        ({"domains": [_entry(en="Water", fr="Eau", es="  ")]}, "at least 1 character"),
        ({"domains": [_entry(en="Water", fr="Eau", es="Agua", de="Wasser")]}, "'en', 'fr' or 'es'"),
        ({"domains": [_entry(code="Drinking Water")]}, "should match pattern"),
        ({"domains": [{**_entry(), "parent": "water"}]}, "Extra inputs are not permitted"),
        ({"domains": []}, "at least 1 item"),
        ("{not json", "invalid"),
    ],
)
def test_a_broken_taxonomy_is_refused_with_the_reason(
    tmp_path: Path, content: object, message: str
) -> None:
    with pytest.raises(TaxonomyError, match=r"domain taxonomy .* is invalid") as refused:
        _load(tmp_path, content)
    assert message in str(refused.value)


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(TaxonomyError, match=r"missing\.json"):
        load(tmp_path / "missing.json")


def test_the_shipped_file_loads_on_its_own() -> None:
    assert load(DOMAINS_FILE).codes == TAXONOMY.codes
