"""The import ledger: which need or offer an importer's own id (`external_ref`) became, so that
importing the same file again finds it and imports nothing."""

import uuid
from datetime import datetime

from sqlmodel import Field

from services.registry.models import RegistryTable
from services.registry.needs_offers.models import NeedOffer
from shared.db import UTCDateTime, utcnow

MAX_EXTERNAL_REF = 200


class ImportRef(RegistryTable, table=True):
    __tablename__ = "bulk_import_refs"

    kind: str = Field(primary_key=True, max_length=10, description="'need' or 'offer'")
    external_ref: str = Field(primary_key=True, max_length=MAX_EXTERNAL_REF)
    item_id: uuid.UUID = Field(foreign_key=f"{NeedOffer.__tablename__}.id", unique=True)
    imported_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    imported_by: str = Field(max_length=100)
