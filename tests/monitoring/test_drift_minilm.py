"""Embedding drift with the real embedding model (all-MiniLM-L6-v2 from its package, offline)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine

from genai.embed import MiniLMEmbedder
from monitoring.config import MonitoringConfig
from monitoring.frames import load_frames, load_texts, scopes
from monitoring.reports import drift_report, drift_sample
from monitoring.textstats import EmbeddingCache
from monitoring.windows import monitoring_window
from tests.support.monitoring import day_end

pytestmark = pytest.mark.real


def test_the_real_model_sees_the_shouty_copy_as_embedding_drift(
    store: Engine, config: MonitoringConfig
) -> None:
    scope = scopes(store)[0]
    frames = load_frames(store, scope, monitoring_window("24h", "3d", day_end(6)))
    current, reference = drift_sample(frames, config.drift)
    texts = load_texts(store, scope.workspace_id, [*current["variant_id"], *reference["variant_id"]])
    embedder = MiniLMEmbedder()
    cache = EmbeddingCache(embedder.name)
    report = drift_report(frames, texts, config.drift, embedder, cache=cache)
    assert any(t.name.startswith("Embedding drift") for t in report.failures)
    means = {row["column"]: row for row in report.tables["means"]}
    assert means["subject_similarity"]["current"] < means["subject_similarity"]["reference"] - 0.02
    assert len(cache) == texts["subject"].nunique() + texts["body"].nunique()
