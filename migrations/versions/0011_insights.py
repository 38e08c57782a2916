"""the insight log and the scores of its probabilities

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import store.types

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "insights",
        sa.Column("id", S(length=64), nullable=False),
        sa.Column("event_id", S(length=200), nullable=False),
        sa.Column("sport", S(length=64), nullable=False),
        sa.Column("generator", S(length=128), nullable=False),
        sa.Column("model", S(length=128), nullable=True),
        sa.Column("prompt_hash", S(length=64), nullable=True),
        sa.Column("fallback_reason", S(length=500), nullable=True),
        sa.Column("odds_seq", sa.Integer(), nullable=False),
        sa.Column("output", sa.JSON(), nullable=True),
        sa.Column("latency_ms", sa.Float(), nullable=True),
        sa.Column("prompt_tokens", sa.Integer(), nullable=True),
        sa.Column("completion_tokens", sa.Integer(), nullable=True),
        sa.Column("created_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_insights_event", "insights", ["event_id", "created_at"])
    op.create_table(
        "insight_scores",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("result_id", S(length=64), nullable=False),
        sa.Column("insight_id", S(length=64), nullable=False),
        sa.Column("event_id", S(length=200), nullable=False),
        sa.Column("sport", S(length=64), nullable=False),
        sa.Column("generator", S(length=128), nullable=False),
        sa.Column("basis", S(length=16), nullable=False),
        sa.Column("probabilities", sa.JSON(), nullable=True),
        sa.Column("outcome", S(length=16), nullable=False),
        sa.Column("brier", sa.Float(), nullable=False),
        sa.Column("log_loss", sa.Float(), nullable=False),
        sa.Column("scored_at", store.types.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_insight_scores_result", "insight_scores", ["result_id"])


def downgrade() -> None:
    op.drop_index("ix_insight_scores_result", "insight_scores")
    op.drop_table("insight_scores")
    op.drop_index("ix_insights_event", "insights")
    op.drop_table("insights")
