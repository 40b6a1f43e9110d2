"""Variant lineage: its backend call's decode time per output token, as the Prometheus histogram
measures it (the decode time after the first token, over the longest candidate's tokens).

Variants stored before have none; monitoring derives theirs from their own tokens.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("variants") as batch:
        batch.add_column(sa.Column("time_per_output_token_s", sa.Float(), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("variants") as batch:
        batch.drop_column("time_per_output_token_s")
