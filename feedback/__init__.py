"""First-party feedback store: database, events, experiments and their statistics, features and datasets."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Names load on first use, so that `import feedback.db` (the API server, a worker process) does not
# pay for pandas and the CSV importers until they are needed.

if TYPE_CHECKING:
    from feedback.catalog import (
        create_brand,
        create_campaign,
        get_or_create_segment,
        get_variant,
        lineage_of,
        save_campaign,
        segment_names,
        variants_of,
    )
    from feedback.contacts import contact_hash, ensure_contacts, find_contact, normalise_external_id
    from feedback.csv_import import ImportReport, RejectedLine, import_outcomes_csv
    from feedback.db import database_url, downgrade, make_engine, session_factory, session_scope, upgrade
    from feedback.errors import (
        ConflictError,
        DatabaseError,
        FeedbackError,
        ImmutableError,
        NotFoundError,
        StateError,
    )
    from feedback.events import FeedbackEventIn, OutcomeEventIn, RejectedRow
    from feedback.ingest import BatchResult, ingest_feedback, ingest_outcomes
    from feedback.models import (
        Assignment,
        Brand,
        Campaign,
        Contact,
        DatasetManifest,
        Experiment,
        ExperimentArm,
        FeatureDefinition,
        FeedbackEvent,
        GenerationRequest,
        OutcomeEvent,
        Segment,
        SegmentMembership,
        Variant,
        Workspace,
    )
    from feedback.privacy import ErasureReport, erase_contact, scrub_text
    from feedback.rfm import (
        RfmStoreReport,
        compute_rfm,
        import_orders_csv,
        segment_contact_ids,
        store_rfm_segments,
    )
    from feedback.tenancy import (
        create_workspace,
        get_in_workspace,
        get_workspace,
        get_workspace_by_name,
        in_workspace,
    )

_EXPORTS: dict[str, str] = {
    "Assignment": "feedback.models",
    "BatchResult": "feedback.ingest",
    "Brand": "feedback.models",
    "Campaign": "feedback.models",
    "ConflictError": "feedback.errors",
    "Contact": "feedback.models",
    "DatabaseError": "feedback.errors",
    "DatasetManifest": "feedback.models",
    "ErasureReport": "feedback.privacy",
    "Experiment": "feedback.models",
    "ExperimentArm": "feedback.models",
    "FeatureDefinition": "feedback.models",
    "FeedbackError": "feedback.errors",
    "FeedbackEvent": "feedback.models",
    "FeedbackEventIn": "feedback.events",
    "GenerationRequest": "feedback.models",
    "ImmutableError": "feedback.errors",
    "ImportReport": "feedback.csv_import",
    "NotFoundError": "feedback.errors",
    "OutcomeEvent": "feedback.models",
    "OutcomeEventIn": "feedback.events",
    "RejectedLine": "feedback.csv_import",
    "RejectedRow": "feedback.events",
    "RfmStoreReport": "feedback.rfm",
    "Segment": "feedback.models",
    "SegmentMembership": "feedback.models",
    "StateError": "feedback.errors",
    "Variant": "feedback.models",
    "Workspace": "feedback.models",
    "compute_rfm": "feedback.rfm",
    "contact_hash": "feedback.contacts",
    "create_brand": "feedback.catalog",
    "create_campaign": "feedback.catalog",
    "create_workspace": "feedback.tenancy",
    "database_url": "feedback.db",
    "downgrade": "feedback.db",
    "ensure_contacts": "feedback.contacts",
    "erase_contact": "feedback.privacy",
    "find_contact": "feedback.contacts",
    "get_in_workspace": "feedback.tenancy",
    "get_or_create_segment": "feedback.catalog",
    "get_variant": "feedback.catalog",
    "get_workspace": "feedback.tenancy",
    "get_workspace_by_name": "feedback.tenancy",
    "import_orders_csv": "feedback.rfm",
    "import_outcomes_csv": "feedback.csv_import",
    "in_workspace": "feedback.tenancy",
    "ingest_feedback": "feedback.ingest",
    "ingest_outcomes": "feedback.ingest",
    "lineage_of": "feedback.catalog",
    "make_engine": "feedback.db",
    "normalise_external_id": "feedback.contacts",
    "save_campaign": "feedback.catalog",
    "scrub_text": "feedback.privacy",
    "segment_contact_ids": "feedback.rfm",
    "segment_names": "feedback.catalog",
    "session_factory": "feedback.db",
    "session_scope": "feedback.db",
    "store_rfm_segments": "feedback.rfm",
    "upgrade": "feedback.db",
    "variants_of": "feedback.catalog",
}

__all__ = [
    "Assignment",
    "BatchResult",
    "Brand",
    "Campaign",
    "ConflictError",
    "Contact",
    "DatabaseError",
    "DatasetManifest",
    "ErasureReport",
    "Experiment",
    "ExperimentArm",
    "FeatureDefinition",
    "FeedbackError",
    "FeedbackEvent",
    "FeedbackEventIn",
    "GenerationRequest",
    "ImmutableError",
    "ImportReport",
    "NotFoundError",
    "OutcomeEvent",
    "OutcomeEventIn",
    "RejectedLine",
    "RejectedRow",
    "RfmStoreReport",
    "Segment",
    "SegmentMembership",
    "StateError",
    "Variant",
    "Workspace",
    "compute_rfm",
    "contact_hash",
    "create_brand",
    "create_campaign",
    "create_workspace",
    "database_url",
    "downgrade",
    "ensure_contacts",
    "erase_contact",
    "find_contact",
    "get_in_workspace",
    "get_or_create_segment",
    "get_variant",
    "get_workspace",
    "get_workspace_by_name",
    "import_orders_csv",
    "import_outcomes_csv",
    "in_workspace",
    "ingest_feedback",
    "ingest_outcomes",
    "lineage_of",
    "make_engine",
    "normalise_external_id",
    "save_campaign",
    "scrub_text",
    "segment_contact_ids",
    "segment_names",
    "session_factory",
    "session_scope",
    "store_rfm_segments",
    "upgrade",
    "variants_of",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'feedback' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
