"""The first-party tables, as SQLAlchemy typed ORM classes.

Every row belongs to a workspace (the tenant). Child rows reference their parents through composite
foreign keys on ``(workspace_id, id)``, so the database itself refuses a row that points into another
workspace. The high-volume tables (events, memberships, assignments) have no separate foreign key to
``workspaces``: their composite keys already imply it, and every check costs time on bulk inserts
(outcome events go one step further, see `OutcomeEvent`).
Entity ids are 32-character hex UUIDs; high-volume rows (contacts, events, memberships, assignments)
use 64-bit integer ids. Timestamps are stored in UTC and always read back timezone-aware.
The schema is created only by the Alembic migrations in ``feedback/migrations``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

__all__ = [
    "EXPERIMENT_MODES",
    "EXPERIMENT_STATUSES",
    "FEEDBACK_KINDS",
    "GENERATION_STATUSES",
    "MONOTONIC_IDS",
    "OUTCOME_KINDS",
    "ApiKey",
    "Assignment",
    "Base",
    "Brand",
    "Campaign",
    "Contact",
    "DatasetManifestRow",
    "ErasedContact",
    "Experiment",
    "ExperimentArm",
    "FeatureDefinitionRow",
    "FeedbackEvent",
    "GenerationRequestRow",
    "JSONType",
    "OutcomeEvent",
    "RewardModelRow",
    "SegmentMembership",
    "SegmentRow",
    "UTCDateTime",
    "VariantRow",
    "Workspace",
    "new_id",
    "utcnow",
]

FEEDBACK_KINDS = ("accept", "reject", "edit", "rating", "comment")
OUTCOME_KINDS = ("send", "delivery", "open", "click", "conversion", "unsubscribe", "bounce", "complaint")
EXPERIMENT_STATUSES = ("draft", "running", "stopped", "completed")
EXPERIMENT_MODES = ("fixed", "bandit")
GENERATION_STATUSES = ("pending", "running", "completed", "failed")

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


def new_id() -> str:
    """A fresh 32-character hex id for an entity row."""
    return uuid.uuid4().hex


def utcnow() -> dt.datetime:
    """The current time, timezone-aware in UTC."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """A timestamp stored in UTC and read back timezone-aware on every database.

    SQLite has no timezone type, so values are stored there as naive UTC text (which sorts correctly);
    PostgreSQL gets ``timestamptz``. Naive input is refused: it would be ambiguous.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamps must be timezone-aware")
        value = value.astimezone(dt.UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


# JSONB on PostgreSQL (indexable, compact); JSON text elsewhere.
JSONType: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")
# An integer primary key that is SQLite's rowid there (fast, auto-assigned) and a bigint elsewhere.
BigIntId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
Revenue = Numeric(14, 4, asdecimal=False)


# SQLite hands out the id of a deleted last row again unless the table is AUTOINCREMENT; the tables
# that erasure deletes from keep their ids growing, so an old id never names another contact's row.
MONOTONIC_IDS: dict[str, Any] = {"sqlite_autoincrement": True}


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention, so migrations name constraints stably."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dt.datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
        list[Any]: JSONType,
    }


def _in(column: str, values: tuple[str, ...]) -> str:
    quoted = ", ".join(f"'{v}'" for v in values)
    return f"{column} IN ({quoted})"


def _workspace_fk() -> Mapped[str]:
    return mapped_column(String(32), ForeignKey("workspaces.id"), nullable=False, index=True)


class Workspace(Base):
    """The tenant: every other row belongs to exactly one workspace."""

    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Tells whether a contact key is the one this workspace hashes with; the key itself is kept out
    # of the database (feedback.contact_keys).
    contact_key_check: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"Workspace(id={self.id!r}, name={self.name!r})"


class ApiKey(Base):
    """One API key of a workspace: its public prefix (the id), role, label and the hash of its secret."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(16), primary_key=True)
    workspace_id: Mapped[str] = _workspace_fk()
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200), default="")
    secret_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class Brand(Base):
    """A brand and its kit (colours, fonts, voice) as JSON."""

    __tablename__ = "brands"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "name"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(200))
    kit: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SegmentRow(Base):
    """A named group of contacts (e.g. an RFM tier)."""

    __tablename__ = "segments"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "name"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str] = mapped_column(Text, default="")
    traits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Contact(Base):
    """A recipient, known only by the HMAC-SHA256 of its external id (never the raw e-mail address)."""

    __tablename__ = "contacts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "hmac"),
        MONOTONIC_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(32), ForeignKey("workspaces.id"))
    hmac: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ErasedContact(Base):
    """A contact erased from a workspace, by hash only: ingestion never stores anything for it again."""

    __tablename__ = "erased_contacts"

    workspace_id: Mapped[str] = mapped_column(String(32), ForeignKey("workspaces.id"), primary_key=True)
    hmac: Mapped[str] = mapped_column(String(64), primary_key=True)
    erased_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class SegmentMembership(Base):
    """That a contact was in a segment according to one version of a segment computation."""

    __tablename__ = "segment_memberships"
    __table_args__ = (
        UniqueConstraint("segment_id", "contact_id", "version"),
        ForeignKeyConstraint(["workspace_id", "segment_id"], ["segments.workspace_id", "segments.id"]),
        ForeignKeyConstraint(
            ["workspace_id", "contact_id"], ["contacts.workspace_id", "contacts.id"], ondelete="CASCADE"
        ),
        Index(None, "workspace_id", "version"),
        MONOTONIC_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(32))
    segment_id: Mapped[str] = mapped_column(String(32))
    contact_id: Mapped[int] = mapped_column(BigInteger, index=True)
    version: Mapped[str] = mapped_column(String(100))
    computed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    # The inputs of the assignment (e.g. RFM scores), so a membership can be explained later.
    scores: Mapped[dict[str, Any] | None] = mapped_column(default=None)


class Campaign(Base):
    """A marketing campaign that groups generation requests."""

    __tablename__ = "campaigns"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        ForeignKeyConstraint(["workspace_id", "brand_id"], ["brands.workspace_id", "brands.id"]),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = _workspace_fk()
    brand_id: Mapped[str | None] = mapped_column(String(32), default=None)
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class GenerationRequestRow(Base):
    """One brief sent to the generation pipeline and the state of that run."""

    __tablename__ = "generation_requests"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        ForeignKeyConstraint(["workspace_id", "brand_id"], ["brands.workspace_id", "brands.id"]),
        ForeignKeyConstraint(["workspace_id", "campaign_id"], ["campaigns.workspace_id", "campaigns.id"]),
        CheckConstraint(_in("status", GENERATION_STATUSES), name="status"),
        Index(None, "workspace_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = _workspace_fk()
    brand_id: Mapped[str | None] = mapped_column(String(32), default=None)
    campaign_id: Mapped[str | None] = mapped_column(String(32), default=None)
    brief: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(20), default="pending")
    # Pipeline counters (candidates, rejections by gate, timings) as the pipeline reported them.
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class VariantRow(Base):
    """One generated email variant with the full lineage of how it was made."""

    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        ForeignKeyConstraint(
            ["workspace_id", "generation_request_id"],
            ["generation_requests.workspace_id", "generation_requests.id"],
        ),
        Index(None, "generation_request_id"),
        # the monitoring job reads a workspace's variants of a time window
        Index(None, "workspace_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = _workspace_fk()
    generation_request_id: Mapped[str] = mapped_column(String(32))
    # The id the pipeline gave the variant inside its campaign draft.
    pipeline_id: Mapped[str | None] = mapped_column(String(100), default=None)
    segment_name: Mapped[str] = mapped_column(String(80))
    rank: Mapped[int] = mapped_column(Integer)
    draft: Mapped[dict[str, Any]] = mapped_column()
    score: Mapped[float] = mapped_column(Float)
    reasons: Mapped[list[Any]] = mapped_column(default=list)
    gate_results: Mapped[list[Any]] = mapped_column(default=list)
    html: Mapped[str | None] = mapped_column(Text, default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    # Lineage: mirrors genai.campaign.Lineage field for field.
    backend: Mapped[str] = mapped_column(String(100))
    model_id: Mapped[str] = mapped_column(String(300))
    checkpoint_sha256: Mapped[str | None] = mapped_column(String(64))
    prompt_name: Mapped[str] = mapped_column(String(200))
    prompt_version: Mapped[str] = mapped_column(String(100))
    prompt_sha256: Mapped[str] = mapped_column(String(64))
    seed: Mapped[int | None] = mapped_column(BigInteger)
    sampling: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tokens_in: Mapped[int] = mapped_column(Integer)
    tokens_out: Mapped[int] = mapped_column(Integer)
    ttft_s: Mapped[float | None] = mapped_column(Float)
    latency_s: Mapped[float] = mapped_column(Float)
    finish_reason: Mapped[str | None] = mapped_column(String(50))
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    candidate: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    adapter: Mapped[str | None] = mapped_column(String(200), default=None)
    adapter_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    reward_model: Mapped[str | None] = mapped_column(String(64), default=None)
    time_per_output_token_s: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FeedbackEvent(Base):
    """A marketer's verdict on a variant: accept, reject, edit, rating or comment."""

    __tablename__ = "feedback_events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key"),
        ForeignKeyConstraint(["workspace_id", "variant_id"], ["variants.workspace_id", "variants.id"]),
        CheckConstraint(_in("kind", FEEDBACK_KINDS), name="kind"),
        CheckConstraint("rating IS NULL OR (rating >= 1 AND rating <= 5)", name="rating"),
        Index(None, "workspace_id", "variant_id", "event_time"),
        Index(None, "workspace_id", "event_time"),
        MONOTONIC_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(32))
    variant_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(20))
    edited_text: Mapped[str | None] = mapped_column(Text, default=None)
    rating: Mapped[int | None] = mapped_column(Integer, default=None)
    comment: Mapped[str | None] = mapped_column(Text, default=None)
    actor: Mapped[str | None] = mapped_column(String(200), default=None)
    reason_codes: Mapped[list[Any]] = mapped_column(default=list)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    # When it happened on the client, and when the store received it (events arrive late).
    event_time: Mapped[dt.datetime] = mapped_column()
    ingested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OutcomeEvent(Base):
    """What happened when a variant was sent to a contact (send, open, click, conversion...).

    The largest table, so it has no foreign keys: ingestion, the only writer, checks the variant
    against the workspace (variants are never deleted) and takes the contact ids from the contacts
    table in the same transaction. Erasure deletes a contact's events itself; on PostgreSQL it and
    ingestion serialise on a per-workspace lock (`feedback.contacts.contacts_lock`).
    """

    __tablename__ = "outcome_events"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key"),
        CheckConstraint(_in("kind", OUTCOME_KINDS), name="kind"),
        CheckConstraint("revenue IS NULL OR kind = 'conversion'", name="revenue_on_conversion"),
        # Per-variant counts (experiment statistics). Without event_time the index takes each new event
        # next to the others of its variant and kind, a third cheaper to maintain under bulk ingestion.
        Index(None, "workspace_id", "variant_id", "kind"),
        MONOTONIC_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(32))
    variant_id: Mapped[str] = mapped_column(String(32))
    contact_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(20))
    revenue: Mapped[float | None] = mapped_column(Revenue, default=None)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    event_time: Mapped[dt.datetime] = mapped_column()
    ingested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class Experiment(Base):
    """An A/B test or bandit over variants, with its metrics and status."""

    __tablename__ = "experiments"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "name"),
        ForeignKeyConstraint(["workspace_id", "segment_id"], ["segments.workspace_id", "segments.id"]),
        CheckConstraint(_in("status", EXPERIMENT_STATUSES), name="status"),
        CheckConstraint(_in("mode", EXPERIMENT_MODES), name="mode"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(200))
    # Mixed into the assignment hash so that two experiments split the same contacts independently.
    salt: Mapped[str] = mapped_column(String(64), default=new_id)
    segment_id: Mapped[str | None] = mapped_column(String(32), default=None)
    primary_metric: Mapped[str] = mapped_column(String(50))
    guardrail_metrics: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(20), default="draft")
    mode: Mapped[str] = mapped_column(String(20), default="fixed")
    # Every allocation the arms have had, oldest first: {"from": ISO time, "weights": [per arm, in
    # arm order]}. The sample-ratio check compares each period's assignments with its weights.
    weight_history: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    started_at: Mapped[dt.datetime | None] = mapped_column(default=None)
    stopped_at: Mapped[dt.datetime | None] = mapped_column(default=None)


class ExperimentArm(Base):
    """One arm of an experiment: a variant and its allocation weight (position 0 is the control)."""

    __tablename__ = "experiment_arms"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        UniqueConstraint("experiment_id", "variant_id"),
        UniqueConstraint("experiment_id", "position"),
        ForeignKeyConstraint(
            ["workspace_id", "experiment_id"], ["experiments.workspace_id", "experiments.id"]
        ),
        ForeignKeyConstraint(["workspace_id", "variant_id"], ["variants.workspace_id", "variants.id"]),
        CheckConstraint("weight >= 0", name="weight"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = _workspace_fk()
    experiment_id: Mapped[str] = mapped_column(String(32))
    variant_id: Mapped[str] = mapped_column(String(32))
    position: Mapped[int] = mapped_column(Integer, default=0)
    weight: Mapped[float] = mapped_column(Float, default=1.0)
    is_control: Mapped[bool] = mapped_column(Boolean, default=False)


class Assignment(Base):
    """Which arm a contact got in an experiment; at most one per experiment and contact."""

    __tablename__ = "assignments"
    __table_args__ = (
        UniqueConstraint("experiment_id", "contact_id"),
        ForeignKeyConstraint(
            ["workspace_id", "experiment_id"], ["experiments.workspace_id", "experiments.id"]
        ),
        ForeignKeyConstraint(
            ["workspace_id", "contact_id"], ["contacts.workspace_id", "contacts.id"], ondelete="CASCADE"
        ),
        ForeignKeyConstraint(
            ["workspace_id", "arm_id"], ["experiment_arms.workspace_id", "experiment_arms.id"]
        ),
        MONOTONIC_IDS,
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[str] = mapped_column(String(32))
    experiment_id: Mapped[str] = mapped_column(String(32))
    contact_id: Mapped[int] = mapped_column(BigInteger, index=True)
    arm_id: Mapped[str] = mapped_column(String(32))
    assigned_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class FeatureDefinitionRow(Base):
    """A versioned feature definition; immutable once written (a database trigger refuses changes)."""

    __tablename__ = "feature_definitions"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "name", "version"),
        UniqueConstraint("workspace_id", "name", "definition_hash"),
        CheckConstraint("version >= 1", name="version"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    definition_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column()
    description: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class DatasetManifestRow(Base):
    """The manifest of a built dataset: feature versions, spine hash, bounds, counts and lineage."""

    __tablename__ = "dataset_manifests"
    __table_args__ = (UniqueConstraint("workspace_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = _workspace_fk()
    manifest: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RewardModelRow(Base):
    """A trained reward model of a workspace: its weights, metrics and training set's manifest.

    Immutable once written (a database trigger refuses changes); a new training is a new version.
    """

    __tablename__ = "reward_models"
    __table_args__ = (
        UniqueConstraint("workspace_id", "id"),
        UniqueConstraint("workspace_id", "version"),
        CheckConstraint("version >= 1", name="version"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=new_id)
    workspace_id: Mapped[str] = _workspace_fk()
    version: Mapped[int] = mapped_column(Integer)
    # the feedback it learned from: only what was recorded and received at or before this instant
    trained_until: Mapped[dt.datetime] = mapped_column()
    model: Mapped[dict[str, Any]] = mapped_column()
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    manifest: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
