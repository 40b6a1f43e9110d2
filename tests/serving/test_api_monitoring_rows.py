"""Monitoring on rows the API itself wrote: the stored time per output token is the one the
Prometheus histogram observed, and the block counts and queue time reach the reports."""

from __future__ import annotations

import datetime as dt
import re

import httpx
import pytest
from sqlalchemy import create_engine

from monitoring.frames import load_frames, scopes
from monitoring.windows import monitoring_window
from tests.support.live_server import LiveServer, create_brand, create_generation


def _histogram(metrics: str, name: str) -> tuple[float, float]:
    """The (sum, count) of a histogram over every label set."""
    total = count = 0.0
    for line in metrics.splitlines():
        match = re.match(rf"{name}_(sum|count)\{{.*\}} (\S+)$", line)
        if match:
            if match.group(1) == "sum":
                total += float(match.group(2))
            else:
                count += float(match.group(2))
    return total, count


def test_the_reports_time_per_output_token_is_prometheus_one(server: LiveServer, api: httpx.Client) -> None:
    name = "gen_ai_server_time_per_output_token_seconds"
    before_sum, before_count = _histogram(httpx.get(f"{server.base_url}/metrics").text, name)
    generation = create_generation(api, create_brand(api))
    after_sum, after_count = _histogram(httpx.get(f"{server.base_url}/metrics").text, name)
    observed = after_count - before_count
    assert observed >= 1
    variants = [v for vs in generation["variants"].values() for v in vs]
    # variants of one backend call share its figure: one value per call (segment and round)
    per_call = {
        (v["segment"], v["lineage"]["attempts"]): v["lineage"]["time_per_output_token_s"] for v in variants
    }
    assert all(value is not None and value >= 0 for value in per_call.values())
    # the scripted drafts pass on the first round: each call gave stored variants, so the sums agree
    assert observed == len(per_call) == 2
    assert sum(per_call.values()) == pytest.approx(after_sum - before_sum, rel=1e-6, abs=1e-9)
    engine = create_engine(server.settings.resolved_database_url())
    try:
        scope = next(s for s in scopes(engine) if s.workspace_id == api.get("/v1/me").json()["workspace_id"])
        now = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        frames = load_frames(engine, scope, monitoring_window("24h", "7d", now, align=False))
    finally:
        engine.dispose()
    current = frames.generations[frames.generations["period"] == "current"]
    assert len(current) == len(variants)
    stored = dict(zip(current["variant_id"], current["time_per_output_token_s"], strict=True))
    for v in variants:
        assert stored[v["id"]] == pytest.approx(v["lineage"]["time_per_output_token_s"])
    # the request's block counts and queue time came through too
    request = frames.requests.iloc[0]
    assert request["candidates"] == generation["stats"]["candidates"]
    assert request["blocked"] == generation["stats"]["blocked"]
