"""odds audit: events and odds_changes

Revision ID: 0001
Revises:
Create Date: 2026-11-23 04:52:04.586180
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import store.types  # noqa: F401  (autogenerate refers to our column types by module path)

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("sport", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("league", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("home_team", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("away_team", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("start_time", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("first_seen", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "odds_changes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("changed_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("market_id", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("market_type", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("line", store.types.ExactDecimal(), nullable=True),
        sa.Column("suspended", sa.Boolean(), nullable=True),
        sa.Column("margin", store.types.ExactDecimal(), nullable=True),
        sa.Column("outcome_id", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True),
        sa.Column("outcome_name", sqlmodel.sql.sqltypes.AutoString(length=256), nullable=True),
        sa.Column("prev_odds", store.types.ExactDecimal(), nullable=True),
        sa.Column("new_odds", store.types.ExactDecimal(), nullable=True),
        sa.Column("odds_updated_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sources", sa.JSON(), nullable=True),
        sa.Column("source_count", sa.Integer(), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=True),
        sa.Column("method", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("method_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("odds_changes", schema=None) as batch_op:
        batch_op.create_index("ix_odds_changes_event_time", ["event_id", "changed_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("odds_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_odds_changes_event_time")

    op.drop_table("odds_changes")
    op.drop_table("events")
