"""what each source-limited audience was served, and settled markets' results, in the audit

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 22:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("odds_changes") as batch:
        batch.add_column(
            sa.Column("view", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False, server_default="")
        )
        batch.add_column(sa.Column("result", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("odds_changes") as batch:
        batch.drop_column("result")
        batch.drop_column("view")
