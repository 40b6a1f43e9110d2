"""Events as clients send them, and the worker that the multi-process tests spawn.

Kept apart from the other helpers so that a spawned worker imports only what ingestion needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def outcome_event(
    key: str, variant_id: str, contact: str, kind: str = "open", **extra: object
) -> dict[str, object]:
    """An outcome event as a client sends it."""
    return {
        "idempotency_key": key,
        "variant_id": variant_id,
        "contact": contact,
        "kind": kind,
        "event_time": "2024-05-01T10:00:00+00:00",
        **extra,
    }


def feedback_event(key: str, variant_id: str, kind: str = "accept", **extra: object) -> dict[str, object]:
    """A feedback event as a client sends it."""
    return {
        "idempotency_key": key,
        "variant_id": variant_id,
        "kind": kind,
        "event_time": "2024-05-01T10:00:00+00:00",
        **extra,
    }


def ingest_worker(
    url: str,
    workspace_id: str,
    variant_ids: list[str],
    keys: list[int],
    start: Any,
    results: Any,
    copy_threshold: int | None = None,
    key_file: Path | None = None,
) -> None:
    """Run in a spawned process: wait until every worker is ready, then ingest `keys` in small batches.

    A `copy_threshold` below the batch size sends PostgreSQL batches down the COPY paths; `key_file`
    is the parent's contact key file (a spawned process does not see the test's user folders).
    """
    from feedback import bulk
    from feedback.db import make_engine, session_factory
    from feedback.ingest import ingest_feedback, ingest_outcomes

    if copy_threshold is not None:
        bulk.COPY_THRESHOLD = copy_threshold

    engine = make_engine(url, contact_keys=key_file)
    factory = session_factory(engine)
    start.wait(60)
    seen: dict[str, int] = {}
    accepted = 0
    for begin in range(0, len(keys), 40):
        batch = keys[begin : begin + 40]
        outcomes = [
            outcome_event(f"o-{k}", variant_ids[k % len(variant_ids)], f"user{k % 17}@example.com")
            for k in batch
        ]
        result = ingest_outcomes(factory, workspace_id, outcomes)
        assert not result.rejected, result.rejected
        accepted += len(result.accepted)
        seen.update({f"o-{batch[i]}": event_id for i, event_id in result.ids.items()})
        notes = [feedback_event(f"f-{k}", variant_ids[k % len(variant_ids)]) for k in batch]
        result = ingest_feedback(factory, workspace_id, notes)
        accepted += len(result.accepted)
        seen.update({f"f-{batch[i]}": event_id for i, event_id in result.ids.items()})
    engine.dispose()
    results.put((accepted, seen))
