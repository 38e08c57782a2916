"""webhooks: what the owner's token saw, and the registration's filters

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(sa.Column("owner_sports", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("owner_region", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True))
        batch.add_column(sa.Column("sports", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("event_ids", sa.JSON(), nullable=True))
    # Webhooks registered before this kept no record of their owner's token: they go on delivering
    # every sport, as they did, until registered again.
    webhooks = sa.table("webhooks", sa.column("owner_sports", sa.JSON()))
    op.execute(webhooks.update().where(webhooks.c.owner_sports.is_(None)).values(owner_sports=["*"]))


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("event_ids")
        batch.drop_column("sports")
        batch.drop_column("owner_region")
        batch.drop_column("owner_sports")
