"""The feature registry on the database: the `FeatureRegistry` contract over the feature definition table.

Each workspace has its own registry. A definition is stored once per distinct hash; registering an
identical one returns the stored version, a changed one takes the next free version number. Two
sessions registering at once settle on the unique constraints: an insert that collides with a row
another transaction wrote (same hash, or same version number) does nothing, and the registry reads
what is stored and, for a changed definition, tries the next number. On PostgreSQL a colliding insert
waits for the other transaction to commit or roll back; on SQLite writers are serialised anyway.
Rows are never updated or deleted, here or in the database (triggers refuse it).

The registry writes in the caller's transaction, so a registration becomes visible to others when
the caller commits.
"""

from __future__ import annotations

from typing import NoReturn

from sqlalchemy import Select, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from feedback.errors import ConflictError
from feedback.features import (
    FeatureDefinition,
    FeatureImmutableError,
    FeatureNotFoundError,
    RegisteredFeature,
    definition_from_dict,
    definition_hash,
    definition_to_dict,
)
from feedback.models import FeatureDefinitionRow, new_id, utcnow
from feedback.tenancy import get_workspace

__all__ = ["SqlFeatureRegistry"]

# Each failed try means another writer took a version number in the meantime; that many racing
# writers of different definitions of one feature would be a bug elsewhere.
_MAX_TRIES = 50


class SqlFeatureRegistry:
    """A :class:`feedback.features.FeatureRegistry` stored in the workspace's feature definition table."""

    def __init__(self, session: Session, workspace_id: str) -> None:
        get_workspace(session, workspace_id)
        self._session = session
        self._workspace_id = workspace_id

    @property
    def workspace_id(self) -> str:
        """The workspace whose definitions this registry holds."""
        return self._workspace_id

    def register(self, definition: FeatureDefinition) -> RegisteredFeature:
        """Store a definition (or find the identical one) and return its version."""
        digest = definition_hash(definition)
        for _ in range(_MAX_TRIES):
            existing = self._by_hash(definition.name, digest)
            if existing is not None:
                return existing
            version = self._latest_version(definition.name) + 1
            if self._insert(definition, digest, version):
                return RegisteredFeature(definition.name, version, digest, definition)
        raise ConflictError(
            f"could not register feature {definition.name!r}: its version numbers kept being taken",
            field="name",
        )

    def get(self, name: str, version: int | None = None) -> RegisteredFeature:
        """One version of a feature, the latest when `version` is None."""
        stmt = self._rows().where(FeatureDefinitionRow.name == name)
        if version is None:
            stmt = stmt.order_by(FeatureDefinitionRow.version.desc()).limit(1)
        else:
            stmt = stmt.where(FeatureDefinitionRow.version == version)
        row = self._session.scalar(stmt)
        if row is not None:
            return _registered(row)
        if version is None or not self._latest_version(name):
            raise FeatureNotFoundError(f"no feature named {name!r}", field="name")
        raise FeatureNotFoundError(f"feature {name!r} has no version {version}", field="version")

    def versions(self, name: str) -> list[RegisteredFeature]:
        """Every version of a feature, oldest first (empty when unknown)."""
        stmt = self._rows().where(FeatureDefinitionRow.name == name).order_by(FeatureDefinitionRow.version)
        return [_registered(row) for row in self._session.scalars(stmt)]

    def names(self) -> list[str]:
        """The names of the registered features, sorted."""
        stmt = (
            select(FeatureDefinitionRow.name)
            .where(FeatureDefinitionRow.workspace_id == self._workspace_id)
            .distinct()
            .order_by(FeatureDefinitionRow.name)
        )
        return list(self._session.scalars(stmt))

    def update(self, definition: FeatureDefinition) -> NoReturn:
        """Refuse: definitions are immutable; register a new version instead."""
        raise FeatureImmutableError(
            "feature definitions are immutable; register the changed definition as a new version",
            field=definition.name,
        )

    def delete(self, name: str, version: int | None = None) -> NoReturn:
        """Refuse: definitions are immutable and datasets refer to them."""
        raise FeatureImmutableError("feature definitions are immutable and cannot be deleted", field=name)

    def _rows(self) -> Select[FeatureDefinitionRow]:
        return select(FeatureDefinitionRow).where(FeatureDefinitionRow.workspace_id == self._workspace_id)

    def _by_hash(self, name: str, digest: str) -> RegisteredFeature | None:
        row = self._session.scalar(
            self._rows().where(
                FeatureDefinitionRow.name == name, FeatureDefinitionRow.definition_hash == digest
            )
        )
        return None if row is None else _registered(row)

    def _latest_version(self, name: str) -> int:
        stmt = select(func.max(FeatureDefinitionRow.version)).where(
            FeatureDefinitionRow.workspace_id == self._workspace_id, FeatureDefinitionRow.name == name
        )
        return int(self._session.scalar(stmt) or 0)

    def _insert(self, definition: FeatureDefinition, digest: str, version: int) -> bool:
        """Insert one version unless a row with its hash or its number exists; True when it went in."""
        values = {
            "id": new_id(),
            "workspace_id": self._workspace_id,
            "name": definition.name,
            "version": version,
            "definition_hash": digest,
            "definition": definition_to_dict(definition),
            "description": definition.description,
            "owner": definition.owner,
            "created_at": utcnow(),
        }
        dialect = self._session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        stmt = insert(FeatureDefinitionRow).values(**values)
        # No conflict target: a collision on either unique key (hash or version) skips the row.
        inserted = self._session.execute(
            stmt.on_conflict_do_nothing().returning(FeatureDefinitionRow.id)
        ).first()
        return inserted is not None


def _registered(row: FeatureDefinitionRow) -> RegisteredFeature:
    """A stored row as the registry's value type."""
    return RegisteredFeature(row.name, row.version, row.definition_hash, definition_from_dict(row.definition))
