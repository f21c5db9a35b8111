"""covering index of the open items by kind, status, domain and city

Partner suggestions read which cities offer or need in which domains from the index alone
(partners.top_partners). The new index serves every query the old one served (its first three
columns are the old one's), so the old one goes in the same revision: a version still running
during a rolling deploy, or a rollback, loses no index it used. The new one is made first, so
no moment is without either.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 10:11:23.210255
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("known_needs_offers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_known_needs_offers_kind_status_domain_city_id",
            ["kind", "status", "domain", "city_id"],
            unique=False,
        )
        batch_op.drop_index("ix_known_needs_offers_kind_status_domain")


def downgrade() -> None:
    with op.batch_alter_table("known_needs_offers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_known_needs_offers_kind_status_domain", ["kind", "status", "domain"], unique=False
        )
        batch_op.drop_index("ix_known_needs_offers_kind_status_domain_city_id")
