"""Reward models: a workspace's trained scorers of drafts, immutable and versioned; and on each
variant, the reward model that took part in its ranking.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Spelled out rather than imported from feedback.models, so that this revision stays what it was.
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)
IMMUTABLE_MESSAGE = "reward models are immutable"


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "reward_models",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("trained_until", TIMESTAMP, nullable=False),
        sa.Column("model", JSON, nullable=False),
        sa.Column("metrics", JSON, nullable=False),
        sa.Column("manifest", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_reward_models_version")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_reward_models_workspace_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reward_models")),
        sa.UniqueConstraint("workspace_id", "id", name=op.f("uq_reward_models_workspace_id_id")),
        sa.UniqueConstraint("workspace_id", "version", name=op.f("uq_reward_models_workspace_id_version")),
    )
    op.create_index(op.f("ix_reward_models_workspace_id"), "reward_models", ["workspace_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION reward_models_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{IMMUTABLE_MESSAGE}' USING ERRCODE = 'restrict_violation'; END; $$"
        )
        op.execute(
            "CREATE TRIGGER reward_models_immutable BEFORE UPDATE ON reward_models "
            "FOR EACH ROW EXECUTE FUNCTION reward_models_immutable()"
        )
    else:
        op.execute(
            "CREATE TRIGGER reward_models_no_update BEFORE UPDATE ON reward_models "
            f"BEGIN SELECT RAISE(ABORT, '{IMMUTABLE_MESSAGE}'); END"
        )
    with op.batch_alter_table("variants") as batch:
        batch.add_column(sa.Column("reward_model", sa.String(length=64), nullable=True))


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("variants") as batch:
        batch.drop_column("reward_model")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS reward_models_immutable ON reward_models")
        op.execute("DROP FUNCTION IF EXISTS reward_models_immutable()")
    else:
        op.execute("DROP TRIGGER IF EXISTS reward_models_no_update")
    op.drop_index(op.f("ix_reward_models_workspace_id"), table_name="reward_models")
    op.drop_table("reward_models")
