"""market results and the one-settlement-per-market key

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 07:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import store.types  # noqa: F401  (autogenerate refers to our column types by module path)

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "market_results",
        sa.Column("id", S(length=64), nullable=False),
        sa.Column("event_id", S(length=200), nullable=False),
        sa.Column("market_id", S(length=64), nullable=False),
        sa.Column("outcomes", sa.JSON(), nullable=True),
        sa.Column("dead_heat_factor", store.types.ExactDecimal(), nullable=True),
        sa.Column("request_hash", S(length=64), nullable=False),
        sa.Column("actor", S(length=200), nullable=False),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.Column("bets", sa.Integer(), nullable=False),
        sa.Column("paid", store.types.ExactDecimal(), nullable=False),
        sa.Column("rolled_back_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "market_settlements",
        sa.Column("event_id", S(length=200), nullable=False),
        sa.Column("market_id", S(length=64), nullable=False),
        sa.Column("result_id", S(length=64), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "market_id"),
    )


def downgrade() -> None:
    op.drop_table("market_settlements")
    op.drop_table("market_results")
