"""tokens: issued tokens and revocations

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 06:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

import store.types  # noqa: F401  (autogenerate refers to our column types by module path)

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("jti", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("sub", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("scopes", sa.JSON(), nullable=True),
        sa.Column("sports", sa.JSON(), nullable=True),
        sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=True),
        sa.Column("age_verified", sa.Boolean(), nullable=True),
        sa.Column("rate_limit", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("issued_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", store.types.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("jti"),
    )


def downgrade() -> None:
    op.drop_table("tokens")
