"""Variant lineage: the LoRA adapter the model wrote with (its name and the sha256 of its weights).

Variants stored before have none.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("variants") as batch:
        batch.add_column(sa.Column("adapter", sa.String(length=200), nullable=True))
        batch.add_column(sa.Column("adapter_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("variants") as batch:
        batch.drop_column("adapter_sha256")
        batch.drop_column("adapter")
