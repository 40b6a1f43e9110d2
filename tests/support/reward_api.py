"""Feedback through the API for the reward-model tests: a workspace whose drafts are all judged."""

from __future__ import annotations

import datetime as dt

import httpx

from tests.support.live_server import create_generation, variant_ids

__all__ = ["SEGMENTS", "judged_workspace"]

SEGMENTS = [{"name": f"segment-{i}"} for i in range(4)]


def judged_workspace(api: httpx.Client, brand: str, generations: int = 3) -> list[str]:
    """Generations of 4 segments x 8 variants, every variant accepted or rejected; their ids."""
    ids = []
    for _ in range(generations):
        ids += variant_ids(create_generation(api, brand, segments=SEGMENTS, variants_per_segment=8))
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()
    events = [
        {
            "idempotency_key": f"v{i}",
            "variant_id": vid,
            "kind": "accept" if i % 3 else "reject",
            "event_time": at,
        }
        for i, vid in enumerate(ids)
    ]
    assert api.post("/v1/feedback/batch", json={"events": events}).json()["accepted"] == len(ids)
    return ids
