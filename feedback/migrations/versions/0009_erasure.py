"""Erasure that stays erased, and the contact key out of the database.

- ``erased_contacts``: the hashes of erased contacts, which ingestion never stores again.
- ``workspaces.contact_secret`` moves into the contact key file (`feedback.contact_keys`); the row
  keeps ``contact_key_check``, which tells whether a key file is the one the workspace hashes with.
- SQLite: the tables erasure deletes from become AUTOINCREMENT, so their ids are never handed out
  again. The contacts table is the parent of assignments and segment memberships (ON DELETE
  CASCADE), and dropping a parent in the rebuild would empty its children, so the children's rows
  wait in temporary tables while it is rebuilt.

The engine's keyring comes in through the Alembic config (`feedback.db.upgrade`).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import context, op

from feedback.contact_keys import ContactKeyring
from feedback.errors import ConfigurationError

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHILDREN = ("assignments", "segment_memberships")
LEAVES = ("outcome_events", "feedback_events")


def _keyring() -> ContactKeyring:
    keyring = context.config.attributes.get("contact_keyring")
    if not isinstance(keyring, ContactKeyring):
        raise ConfigurationError(
            "this migration moves the contact secrets into the contact key file; run it through "
            "`copyloop db upgrade` (or feedback.db.upgrade)",
            field="contact_key",
        )
    return keyring


def _move_secrets_out() -> None:
    bind = op.get_bind()
    workspaces = sa.table(
        "workspaces",
        sa.column("id", sa.String),
        sa.column("contact_secret", sa.String),
        sa.column("contact_key_check", sa.String),
    )
    rows = bind.execute(sa.select(workspaces.c.id, workspaces.c.contact_secret)).all()
    if not rows:
        return
    keyring = _keyring()
    for workspace_id, secret in rows:
        keyring.adopt(workspace_id, secret)
        bind.execute(
            workspaces.update()
            .where(workspaces.c.id == workspace_id)
            .values(contact_key_check=keyring.check_for(workspace_id))
        )


def _rebuild_autoincrement(name: str) -> None:
    with op.batch_alter_table(name, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
        pass


def _sqlite_monotonic_ids() -> None:
    bind = op.get_bind()
    columns = {name: [c["name"] for c in sa.inspect(bind).get_columns(name)] for name in CHILDREN}
    for name in CHILDREN:
        op.execute(f'CREATE TEMP TABLE "_keep_{name}" AS SELECT * FROM "{name}"')
        op.execute(f'DELETE FROM "{name}"')
    _rebuild_autoincrement("contacts")
    for name in CHILDREN:
        _rebuild_autoincrement(name)
        listed = ", ".join(f'"{c}"' for c in columns[name])
        op.execute(f'INSERT INTO "{name}" ({listed}) SELECT {listed} FROM "_keep_{name}"')
        op.execute(f'DROP TABLE "_keep_{name}"')
    for name in LEAVES:
        _rebuild_autoincrement(name)


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "erased_contacts",
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("hmac", sa.String(length=64), nullable=False),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_erased_contacts_workspace_id_workspaces")
        ),
        sa.PrimaryKeyConstraint("workspace_id", "hmac", name=op.f("pk_erased_contacts")),
    )
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite and sqlite3.sqlite_version_info < (3, 35):
        raise ConfigurationError(
            f"this migration needs SQLite 3.35 or later (ALTER TABLE DROP COLUMN); Python here has "
            f"{sqlite3.sqlite_version}",
            field="database_url",
        )
    # SQLite adds a NOT NULL column only with a default; the rows get their value just below.
    op.add_column(
        "workspaces",
        sa.Column("contact_key_check", sa.String(length=16), nullable=sqlite is False, server_default=""),
    )
    _move_secrets_out()
    if sqlite:
        # A native drop: rebuilding the parent of every table would run into their foreign keys.
        op.execute("ALTER TABLE workspaces DROP COLUMN contact_secret")
        _sqlite_monotonic_ids()
    else:
        op.alter_column("workspaces", "contact_key_check", nullable=False, server_default=None)
        op.drop_column("workspaces", "contact_secret")


def downgrade() -> None:
    """Revert this revision: the secrets go back into the workspace rows (ids stay monotonic)."""
    bind = op.get_bind()
    sqlite = bind.dialect.name == "sqlite"
    op.add_column(
        "workspaces",
        sa.Column("contact_secret", sa.String(length=128), nullable=sqlite is False, server_default=""),
    )
    workspaces = sa.table("workspaces", sa.column("id", sa.String), sa.column("contact_secret", sa.String))
    ids = bind.execute(sa.select(workspaces.c.id)).scalars().all()
    if ids:
        keyring = _keyring()
        for workspace_id in ids:
            bind.execute(
                workspaces.update()
                .where(workspaces.c.id == workspace_id)
                .values(contact_secret=keyring.secret_for(workspace_id))
            )
    if sqlite:
        op.execute("ALTER TABLE workspaces DROP COLUMN contact_key_check")
    else:
        op.alter_column("workspaces", "contact_secret", nullable=False, server_default=None)
        op.drop_column("workspaces", "contact_key_check")
    op.drop_table("erased_contacts")
