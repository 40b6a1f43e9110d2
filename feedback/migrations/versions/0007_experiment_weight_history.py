"""Experiments keep every allocation their arms have had (a bandit's weights change over time), so
that the sample-ratio check compares each period's assignments with the weights then in force.

Experiments created before have an empty history: their current weights count for all time.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("experiments") as batch:
        batch.add_column(sa.Column("weight_history", JSON, nullable=False, server_default="[]"))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("experiments") as batch:
        batch.drop_column("weight_history")
