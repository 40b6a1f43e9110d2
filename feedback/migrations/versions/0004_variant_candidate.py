"""Variant lineage: which candidate of its generation request the variant was.

With the request's seed this names the variant's own draws (candidate j of a request seeded s samples
from (s, j)), so a variant can be reproduced alone. Variants stored before have 0.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("variants") as batch:
        batch.add_column(sa.Column("candidate", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("variants") as batch:
        batch.drop_column("candidate")
