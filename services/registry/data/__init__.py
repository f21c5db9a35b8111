"""Reference data the registry keeps in the repository, read once when the registry starts, so
that a bad edit stops it at once rather than answering wrongly."""

import json
from pathlib import Path

from services.registry import domain

LDC_FILE = Path(__file__).with_name("ldc.json")


def load_ldc_list(path: Path = LDC_FILE) -> domain.LdcList:
    """The UN list of least developed countries: edit ldc.json to update it (its `about` says
    how)."""
    return domain.ldc_list(json.loads(path.read_text(encoding="utf-8")))


LDC_LIST = load_ldc_list()
