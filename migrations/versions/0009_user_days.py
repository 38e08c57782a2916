"""per-user daily counters for the daily risk limits, filled from the bets already taken

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 08:40:00
"""

from collections.abc import Sequence
from decimal import Decimal

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import store.types

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    days = op.create_table(
        "user_days",
        sa.Column("sub", S(length=200), nullable=False),
        sa.Column("day", S(length=10), nullable=False),
        sa.Column("bets", sa.Integer(), nullable=False),
        sa.Column("lost", store.types.ExactDecimal(), nullable=False),
        sa.PrimaryKeyConstraint("sub", "day"),
    )
    bets = sa.table(
        "bets",
        sa.column("sub", sa.String()),
        sa.column("accepted_at", store.types.UTCDateTime()),
        sa.column("stake", store.types.ExactDecimal()),
        sa.column("payout", store.types.ExactDecimal()),
        sa.column("status", sa.String()),
    )
    # Counted in Python so both databases agree on the UTC day and on exact amounts.
    totals: dict[tuple[str, str], tuple[int, Decimal]] = {}
    for sub, accepted_at, stake, payout, status in op.get_bind().execute(
        sa.select(bets.c.sub, bets.c.accepted_at, bets.c.stake, bets.c.payout, bets.c.status)
    ):
        key = (sub, accepted_at.date().isoformat())
        count, lost = totals.get(key, (0, Decimal("0.00")))
        if status == "settled":
            lost += max(Decimal(0), store.types.cents(stake) - store.types.cents(payout or 0))
        totals[key] = (count + 1, lost)
    if totals:
        op.bulk_insert(days, [{"sub": s, "day": d, "bets": n, "lost": lost} for (s, d), (n, lost) in totals.items()])


def downgrade() -> None:
    op.drop_table("user_days")
