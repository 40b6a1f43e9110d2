"""API keys in the migrated schema, and (workspace_id, time) indexes for the monitoring job's windows.

The `api_keys` table used to be created by the API on start, outside the migrations; a database that
has it already keeps it as it is (same columns and names). The monitoring job reads a workspace's
variants, generation requests and feedback events of one time window; these indexes let it read just
that window. Outcome events get none: they are the bulk-ingested table, and an index costs every
insert there.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)
TIME_INDEXES = (
    ("variants", "created_at"),
    ("generation_requests", "created_at"),
    ("feedback_events", "event_time"),
)


def upgrade() -> None:
    """Apply this revision."""
    if not sa.inspect(op.get_bind()).has_table("api_keys"):
        op.create_table(
            "api_keys",
            sa.Column("id", sa.String(length=16), nullable=False),
            sa.Column("workspace_id", sa.String(length=32), nullable=False),
            sa.Column("role", sa.String(length=20), nullable=False),
            sa.Column("name", sa.String(length=200), nullable=False),
            sa.Column("secret_sha256", sa.String(length=64), nullable=False),
            sa.Column("created_at", TIMESTAMP, nullable=False),
            sa.Column("revoked_at", TIMESTAMP, nullable=True),
            sa.ForeignKeyConstraint(
                ["workspace_id"], ["workspaces.id"], name=op.f("fk_api_keys_workspace_id")
            ),
            sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        )
        op.create_index(op.f("ix_api_keys_workspace_id"), "api_keys", ["workspace_id"])
    for table, column in TIME_INDEXES:
        op.create_index(op.f(f"ix_{table}_workspace_id_{column}"), table, ["workspace_id", column])


def downgrade() -> None:
    """Revert this revision."""
    for table, column in TIME_INDEXES:
        op.drop_index(op.f(f"ix_{table}_workspace_id_{column}"), table_name=table)
    op.drop_index(op.f("ix_api_keys_workspace_id"), table_name="api_keys")
    op.drop_table("api_keys")
