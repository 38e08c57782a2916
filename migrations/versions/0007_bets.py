"""bets, idempotency keys, exposure

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 07:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import store.types  # noqa: F401  (autogenerate refers to our column types by module path)

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString
D = store.types.ExactDecimal
T = store.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "bets",
        sa.Column("id", S(length=64), nullable=False),
        sa.Column("sub", S(length=200), nullable=False),
        sa.Column("event_id", S(length=200), nullable=False),
        sa.Column("sport", S(length=64), nullable=False),
        sa.Column("market_id", S(length=64), nullable=False),
        sa.Column("outcome_id", S(length=16), nullable=False),
        sa.Column("stake", D(), nullable=False),
        sa.Column("odds", D(), nullable=False),
        sa.Column("requested_odds", D(), nullable=False),
        sa.Column("accept", S(length=8), nullable=False),
        sa.Column("potential_payout", D(), nullable=False),
        sa.Column("status", S(length=16), nullable=False),
        sa.Column("accepted_at", T(timezone=True), nullable=False),
        sa.Column("context", sa.JSON(), nullable=True),
        sa.Column("result", S(length=16), nullable=True),
        sa.Column("payout", D(), nullable=True),
        sa.Column("settled_at", T(timezone=True), nullable=True),
        sa.Column("result_id", S(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_bets_sub_time", "bets", ["sub", "accepted_at"])
    op.create_index("ix_bets_market", "bets", ["event_id", "market_id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("sub", S(length=200), nullable=False),
        sa.Column("key", S(length=200), nullable=False),
        sa.Column("request_hash", S(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=True),
        sa.Column("created_at", T(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("sub", "key"),
    )
    op.create_table(
        "exposure",
        sa.Column("event_id", S(length=200), nullable=False),
        sa.Column("market_id", S(length=64), nullable=False),
        sa.Column("outcome_id", S(length=16), nullable=False),
        sa.Column("stakes", D(), nullable=False),
        sa.Column("liability", D(), nullable=False),
        sa.Column("bets", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "market_id", "outcome_id"),
    )


def downgrade() -> None:
    op.drop_table("exposure")
    op.drop_table("idempotency_keys")
    op.drop_index("ix_bets_market", table_name="bets")
    op.drop_index("ix_bets_sub_time", table_name="bets")
    op.drop_table("bets")
