"""overrides: trader actions and their rollbacks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 07:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import store.types  # noqa: F401  (autogenerate refers to our column types by module path)

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "overrides",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("action", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("sport", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("league", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("market_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("outcome_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("value", store.types.ExactDecimal(), nullable=True),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("actor", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("replaces", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("target_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("ended_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("before", sa.JSON(), nullable=True),
        sa.Column("after", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_overrides_created", "overrides", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_overrides_created", table_name="overrides")
    op.drop_table("overrides")
