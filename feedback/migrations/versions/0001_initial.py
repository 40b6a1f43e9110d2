"""Initial schema: workspaces, catalogue, contacts, events, experiments, features and datasets.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# The types are spelled out here rather than imported from feedback.models, so that this revision
# keeps creating the same schema whatever the models become later.
TIMESTAMP = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

IMMUTABLE_MESSAGE = "feature definitions are immutable"

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "workspaces",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("contact_secret", sa.String(length=128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workspaces")),
        sa.UniqueConstraint("name", name=op.f("uq_workspaces_name")),
    )
    op.create_table(
        "brands",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kit", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name=op.f("fk_brands_workspace_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_brands")),
        sa.UniqueConstraint("workspace_id", "id", name=op.f("uq_brands_workspace_id_id")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_brands_workspace_id_name")),
    )
    op.create_index(op.f("ix_brands_workspace_id"), "brands", ["workspace_id"])

    op.create_table(
        "contacts",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("hmac", sa.String(length=64), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name=op.f("fk_contacts_workspace_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_contacts")),
        sa.UniqueConstraint("workspace_id", "hmac", name=op.f("uq_contacts_workspace_id_hmac")),
        sa.UniqueConstraint("workspace_id", "id", name=op.f("uq_contacts_workspace_id_id")),
    )
    op.create_table(
        "dataset_manifests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("manifest", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_dataset_manifests_workspace_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_manifests")),
        sa.UniqueConstraint("workspace_id", "id", name=op.f("uq_dataset_manifests_workspace_id_id")),
    )
    op.create_index(op.f("ix_dataset_manifests_workspace_id"), "dataset_manifests", ["workspace_id"])

    op.create_table(
        "feature_definitions",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("definition_hash", sa.String(length=64), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("version >= 1", name=op.f("ck_feature_definitions_version")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_feature_definitions_workspace_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feature_definitions")),
        sa.UniqueConstraint("workspace_id", "id", name=op.f("uq_feature_definitions_workspace_id_id")),
        sa.UniqueConstraint(
            "workspace_id",
            "name",
            "definition_hash",
            name=op.f("uq_feature_definitions_workspace_id_name_definition_hash"),
        ),
        sa.UniqueConstraint(
            "workspace_id", "name", "version", name=op.f("uq_feature_definitions_workspace_id_name_version")
        ),
    )
    op.create_index(op.f("ix_feature_definitions_workspace_id"), "feature_definitions", ["workspace_id"])

    op.create_table(
        "segments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("traits", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name=op.f("fk_segments_workspace_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segments")),
        sa.UniqueConstraint("workspace_id", "id", name=op.f("uq_segments_workspace_id_id")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_segments_workspace_id_name")),
    )
    op.create_index(op.f("ix_segments_workspace_id"), "segments", ["workspace_id"])

    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "brand_id"],
            ["brands.workspace_id", "brands.id"],
            name=op.f("fk_campaigns_workspace_id_brand_id"),
        ),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name=op.f("fk_campaigns_workspace_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaigns")),
        sa.UniqueConstraint("workspace_id", "id", name=op.f("uq_campaigns_workspace_id_id")),
    )
    op.create_index(op.f("ix_campaigns_workspace_id"), "campaigns", ["workspace_id"])

    op.create_table(
        "experiments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("salt", sa.String(length=64), nullable=False),
        sa.Column("segment_id", sa.String(length=32), nullable=True),
        sa.Column("primary_metric", sa.String(length=50), nullable=False),
        sa.Column("guardrail_metrics", JSON, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("mode", sa.String(length=20), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("stopped_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("mode IN ('fixed', 'bandit')", name=op.f("ck_experiments_mode")),
        sa.CheckConstraint(
            "status IN ('draft', 'running', 'stopped', 'completed')", name=op.f("ck_experiments_status")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "segment_id"],
            ["segments.workspace_id", "segments.id"],
            name=op.f("fk_experiments_workspace_id_segment_id"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_experiments_workspace_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.UniqueConstraint("workspace_id", "id", name=op.f("uq_experiments_workspace_id_id")),
        sa.UniqueConstraint("workspace_id", "name", name=op.f("uq_experiments_workspace_id_name")),
    )
    op.create_index(op.f("ix_experiments_workspace_id"), "experiments", ["workspace_id"])

    op.create_table(
        "segment_memberships",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("segment_id", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.String(length=100), nullable=False),
        sa.Column("computed_at", TIMESTAMP, nullable=False),
        sa.Column("scores", JSON, nullable=True),
        sa.ForeignKeyConstraint(
            ["workspace_id", "contact_id"],
            ["contacts.workspace_id", "contacts.id"],
            name=op.f("fk_segment_memberships_workspace_id_contact_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "segment_id"],
            ["segments.workspace_id", "segments.id"],
            name=op.f("fk_segment_memberships_workspace_id_segment_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_segment_memberships")),
        sa.UniqueConstraint(
            "segment_id",
            "contact_id",
            "version",
            name=op.f("uq_segment_memberships_segment_id_contact_id_version"),
        ),
    )
    op.create_index(op.f("ix_segment_memberships_contact_id"), "segment_memberships", ["contact_id"])
    op.create_index(
        op.f("ix_segment_memberships_workspace_id_version"),
        "segment_memberships",
        ["workspace_id", "version"],
    )

    op.create_table(
        "generation_requests",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("brand_id", sa.String(length=32), nullable=True),
        sa.Column("campaign_id", sa.String(length=32), nullable=True),
        sa.Column("brief", JSON, nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("stats", JSON, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed')",
            name=op.f("ck_generation_requests_status"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "brand_id"],
            ["brands.workspace_id", "brands.id"],
            name=op.f("fk_generation_requests_workspace_id_brand_id"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "campaign_id"],
            ["campaigns.workspace_id", "campaigns.id"],
            name=op.f("fk_generation_requests_workspace_id_campaign_id"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_generation_requests_workspace_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_generation_requests")),
        sa.UniqueConstraint("workspace_id", "id", name=op.f("uq_generation_requests_workspace_id_id")),
    )
    op.create_index(op.f("ix_generation_requests_workspace_id"), "generation_requests", ["workspace_id"])

    op.create_table(
        "variants",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("generation_request_id", sa.String(length=32), nullable=False),
        sa.Column("pipeline_id", sa.String(length=100), nullable=True),
        sa.Column("segment_name", sa.String(length=80), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("draft", JSON, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reasons", JSON, nullable=False),
        sa.Column("gate_results", JSON, nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("backend", sa.String(length=100), nullable=False),
        sa.Column("model_id", sa.String(length=300), nullable=False),
        sa.Column("checkpoint_sha256", sa.String(length=64), nullable=True),
        sa.Column("prompt_name", sa.String(length=200), nullable=False),
        sa.Column("prompt_version", sa.String(length=100), nullable=False),
        sa.Column("prompt_sha256", sa.String(length=64), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("sampling", JSON, nullable=False),
        sa.Column("tokens_in", sa.Integer(), nullable=False),
        sa.Column("tokens_out", sa.Integer(), nullable=False),
        sa.Column("ttft_s", sa.Float(), nullable=True),
        sa.Column("latency_s", sa.Float(), nullable=False),
        sa.Column("finish_reason", sa.String(length=50), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "generation_request_id"],
            ["generation_requests.workspace_id", "generation_requests.id"],
            name=op.f("fk_variants_workspace_id_generation_request_id"),
        ),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspaces.id"], name=op.f("fk_variants_workspace_id")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_variants")),
        sa.UniqueConstraint("workspace_id", "id", name=op.f("uq_variants_workspace_id_id")),
    )
    op.create_index(op.f("ix_variants_generation_request_id"), "variants", ["generation_request_id"])
    op.create_index(op.f("ix_variants_workspace_id"), "variants", ["workspace_id"])

    op.create_table(
        "experiment_arms",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("experiment_id", sa.String(length=32), nullable=False),
        sa.Column("variant_id", sa.String(length=32), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("weight", sa.Float(), nullable=False),
        sa.Column("is_control", sa.Boolean(), nullable=False),
        sa.CheckConstraint("weight >= 0", name=op.f("ck_experiment_arms_weight")),
        sa.ForeignKeyConstraint(
            ["workspace_id", "experiment_id"],
            ["experiments.workspace_id", "experiments.id"],
            name=op.f("fk_experiment_arms_workspace_id_experiment_id"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "variant_id"],
            ["variants.workspace_id", "variants.id"],
            name=op.f("fk_experiment_arms_workspace_id_variant_id"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_experiment_arms_workspace_id")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_arms")),
        sa.UniqueConstraint(
            "experiment_id", "position", name=op.f("uq_experiment_arms_experiment_id_position")
        ),
        sa.UniqueConstraint(
            "experiment_id", "variant_id", name=op.f("uq_experiment_arms_experiment_id_variant_id")
        ),
        sa.UniqueConstraint("workspace_id", "id", name=op.f("uq_experiment_arms_workspace_id_id")),
    )
    op.create_index(op.f("ix_experiment_arms_workspace_id"), "experiment_arms", ["workspace_id"])

    op.create_table(
        "feedback_events",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("variant_id", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("edited_text", sa.Text(), nullable=True),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(length=200), nullable=True),
        sa.Column("reason_codes", JSON, nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("event_time", TIMESTAMP, nullable=False),
        sa.Column("ingested_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "kind IN ('accept', 'reject', 'edit', 'rating', 'comment')", name=op.f("ck_feedback_events_kind")
        ),
        sa.CheckConstraint(
            "rating IS NULL OR (rating >= 1 AND rating <= 5)", name=op.f("ck_feedback_events_rating")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "variant_id"],
            ["variants.workspace_id", "variants.id"],
            name=op.f("fk_feedback_events_workspace_id_variant_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feedback_events")),
        sa.UniqueConstraint(
            "workspace_id", "idempotency_key", name=op.f("uq_feedback_events_workspace_id_idempotency_key")
        ),
    )
    op.create_index(
        op.f("ix_feedback_events_workspace_id_variant_id_event_time"),
        "feedback_events",
        ["workspace_id", "variant_id", "event_time"],
    )

    op.create_table(
        "outcome_events",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("variant_id", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("revenue", sa.Numeric(precision=14, scale=4), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=False),
        sa.Column("event_time", TIMESTAMP, nullable=False),
        sa.Column("ingested_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "kind IN ('send', 'delivery', 'open', 'click', 'conversion', "
            "'unsubscribe', 'bounce', 'complaint')",
            name=op.f("ck_outcome_events_kind"),
        ),
        sa.CheckConstraint(
            "revenue IS NULL OR kind = 'conversion'", name=op.f("ck_outcome_events_revenue_on_conversion")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "contact_id"],
            ["contacts.workspace_id", "contacts.id"],
            name=op.f("fk_outcome_events_workspace_id_contact_id"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outcome_events")),
        sa.UniqueConstraint(
            "workspace_id", "idempotency_key", name=op.f("uq_outcome_events_workspace_id_idempotency_key")
        ),
    )
    op.create_index(op.f("ix_outcome_events_contact_id"), "outcome_events", ["contact_id"])
    op.create_index(
        op.f("ix_outcome_events_workspace_id_variant_id_kind_event_time"),
        "outcome_events",
        ["workspace_id", "variant_id", "kind", "event_time"],
    )

    op.create_table(
        "assignments",
        sa.Column("id", BIGINT_ID, autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.String(length=32), nullable=False),
        sa.Column("experiment_id", sa.String(length=32), nullable=False),
        sa.Column("contact_id", sa.BigInteger(), nullable=False),
        sa.Column("arm_id", sa.String(length=32), nullable=False),
        sa.Column("assigned_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id", "arm_id"],
            ["experiment_arms.workspace_id", "experiment_arms.id"],
            name=op.f("fk_assignments_workspace_id_arm_id"),
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "contact_id"],
            ["contacts.workspace_id", "contacts.id"],
            name=op.f("fk_assignments_workspace_id_contact_id"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id", "experiment_id"],
            ["experiments.workspace_id", "experiments.id"],
            name=op.f("fk_assignments_workspace_id_experiment_id"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignments")),
        sa.UniqueConstraint(
            "experiment_id", "contact_id", name=op.f("uq_assignments_experiment_id_contact_id")
        ),
    )
    op.create_index(op.f("ix_assignments_contact_id"), "assignments", ["contact_id"])

    _feature_definitions_immutable()


def _feature_definitions_immutable() -> None:
    """Refuse UPDATE and DELETE on feature definitions in the database too, not only in the library."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION feature_definitions_immutable() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN RAISE EXCEPTION '{IMMUTABLE_MESSAGE}' USING ERRCODE = 'restrict_violation'; END; $$"
        )
        op.execute(
            "CREATE TRIGGER feature_definitions_immutable BEFORE UPDATE OR DELETE ON feature_definitions "
            "FOR EACH ROW EXECUTE FUNCTION feature_definitions_immutable()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER feature_definitions_no_{action.lower()} BEFORE {action} ON feature_definitions "
            f"BEGIN SELECT RAISE(ABORT, '{IMMUTABLE_MESSAGE}'); END"
        )


def downgrade() -> None:
    """Revert this revision."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS feature_definitions_immutable ON feature_definitions")
        op.execute("DROP FUNCTION IF EXISTS feature_definitions_immutable()")
    else:
        op.execute("DROP TRIGGER IF EXISTS feature_definitions_no_update")
        op.execute("DROP TRIGGER IF EXISTS feature_definitions_no_delete")
    op.drop_table("assignments")
    op.drop_table("outcome_events")
    op.drop_table("feedback_events")
    op.drop_table("experiment_arms")
    op.drop_table("variants")
    op.drop_table("generation_requests")
    op.drop_table("segment_memberships")
    op.drop_table("experiments")
    op.drop_table("campaigns")
    op.drop_table("segments")
    op.drop_table("feature_definitions")
    op.drop_table("dataset_manifests")
    op.drop_table("contacts")
    op.drop_table("brands")
    op.drop_table("workspaces")
