"""The pipeline's statistics as one type: written once, stored as JSON, read back the same."""

from __future__ import annotations

import json

from genai.campaign import CampaignDraft, GenerationStats


def test_stats_survive_a_round_trip_through_stored_json() -> None:
    stats = GenerationStats(
        candidates=9,
        blocked=3,
        blocked_by={"links": 2, "grounding": 1},
        queue_s=0.25,
        parse_failures=1,
        seconds=4.5,
        shortfall={"new": 1},
        shortfall_reasons={"new": "only 1 of 2 variants passed the gates"},
        embedder="hashing",
        seed=7,
    )
    stored = json.loads(json.dumps(CampaignDraft("Acme", "Sale", {}, stats=stats).to_dict()))
    assert GenerationStats.from_dict(stored["stats"]) == stats


def test_stored_stats_with_extra_missing_or_malformed_fields_read_as_defaults() -> None:
    stored = {"goal": "Sale", "candidates": True, "blocked": "3", "blocked_by": {"links": None}, "seed": 1.5}
    stats = GenerationStats.from_dict(stored)
    assert (stats.candidates, stats.blocked, stats.blocked_by, stats.seed) == (0, 0, {"links": 0}, None)
    assert GenerationStats.from_dict(None) == GenerationStats()
