"""Reward models from stored feedback: point in time, labels, versions, immutability (both databases)."""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from feedback.errors import NotFoundError
from feedback.ingest import ingest_feedback, ingest_outcomes
from feedback.models import RewardModelRow, utcnow
from feedback.rewards import (
    EDIT_WEIGHT,
    MIN_SENDS,
    get_reward_model,
    labelled_drafts,
    latest_reward_model,
    list_reward_models,
    train_reward_model,
)
from genai.embed import HashingEmbedder
from genai.errors import InvalidInputError
from tests.support.feedback import seed_judged_workspace


def _verdicts(ws: str, ids: list[str], at: dt.datetime, tag: str) -> list[dict[str, object]]:
    # the planted taste: questions accepted, the rest rejected
    return [
        {
            "variant_id": vid,
            "kind": "accept" if i % 2 else "reject",
            "idempotency_key": f"{tag}-{vid}",
            "event_time": at,
        }
        for i, vid in enumerate(ids)
    ]


def test_training_learns_only_what_was_known_at_its_time(factory: sessionmaker[Session]) -> None:
    ws, ids = seed_judged_workspace(factory, 120)
    hour_ago = utcnow() - dt.timedelta(hours=1)
    early, late = ids[:60], ids[60:]
    assert not ingest_feedback(factory, ws, _verdicts(ws, early, hour_ago, "a")).rejected
    time.sleep(0.01)
    cut = utcnow()
    time.sleep(0.01)
    # arrives after the cut though it happened before it (a late batch): not known at the cut
    assert not ingest_feedback(factory, ws, _verdicts(ws, late, hour_ago, "b")).rejected
    with factory() as session:
        at_cut, summary = labelled_drafts(session, ws, cut)
        now, _ = labelled_drafts(session, ws)
    assert len(at_cut) == 60 and summary["from_feedback"] == 60 and summary["positives"] == 30
    assert len(now) == 120
    with factory() as session, session.begin():
        stored = train_reward_model(session, ws, HashingEmbedder(), as_of=cut)
    assert stored.version == 1 and stored.label == f"{stored.id} v1"
    assert stored.metrics["labelled"] == 60 and stored.manifest["as_of"] == cut.isoformat()
    assert stored.trained_until == cut
    assert stored.model.named_weights()["subject_question"] > 0
    with factory() as session, session.begin():
        second = train_reward_model(session, ws, HashingEmbedder())
    assert second.version == 2 and second.metrics["labelled"] == 120
    assert second.manifest["variants_sha256"] != stored.manifest["variants_sha256"]
    with factory() as session:
        assert latest_reward_model(session, ws) == second
        assert [m.version for m in list_reward_models(session, ws)] == [2, 1]
        assert get_reward_model(session, ws, stored.id) == stored


def test_edits_are_weak_accepts_and_the_latest_verdict_counts(factory: sessionmaker[Session]) -> None:
    ws, ids = seed_judged_workspace(factory, 4)
    t0 = utcnow() - dt.timedelta(hours=2)
    events = [
        {"variant_id": ids[0], "kind": "reject", "idempotency_key": "1", "event_time": t0},
        {
            "variant_id": ids[0],
            "kind": "accept",
            "idempotency_key": "2",
            "event_time": t0 + dt.timedelta(minutes=5),
        },
        {
            "variant_id": ids[1],
            "kind": "edit",
            "edited_text": "Better",
            "idempotency_key": "3",
            "event_time": t0,
        },
        {"variant_id": ids[2], "kind": "rating", "rating": 5, "idempotency_key": "4", "event_time": t0},
    ]
    assert not ingest_feedback(factory, ws, events).rejected
    with factory() as session:
        examples, summary = labelled_drafts(session, ws)
    by_subject = {e.draft.subject: (e.label, e.weight) for e in examples}
    assert len(examples) == 2 and summary["from_feedback"] == 2  # a rating is not a verdict
    assert by_subject["#0 Sale now"] == (1.0, 1.0)
    assert (1.0, EDIT_WEIGHT) in by_subject.values()


def test_outcome_rates_label_the_drafts_marketers_did_not_judge(factory: sessionmaker[Session]) -> None:
    ws, ids = seed_judged_workspace(factory, 3)
    at = utcnow() - dt.timedelta(hours=1)
    events = []
    for n, (vid, clicks) in enumerate(zip(ids, (2, 9, 5), strict=True)):
        sends = MIN_SENDS if n < 2 else MIN_SENDS - 1  # the third has too few sends to judge
        for c in range(sends):
            email = f"c{c}@example.com"
            events.append(
                {
                    "variant_id": vid,
                    "kind": "send",
                    "contact": email,
                    "idempotency_key": f"s{n}-{c}",
                    "event_time": at,
                }
            )
            if c < clicks:
                events.append(
                    {
                        "variant_id": vid,
                        "kind": "open",
                        "contact": email,
                        "idempotency_key": f"o{n}-{c}",
                        "event_time": at,
                    }
                )
                events.append(
                    {
                        "variant_id": vid,
                        "kind": "click",
                        "contact": email,
                        "idempotency_key": f"k{n}-{c}",
                        "event_time": at,
                    }
                )
    result = ingest_outcomes(factory, ws, events)
    assert not result.rejected, result.rejected[:2]
    with factory() as session:
        examples, summary = labelled_drafts(session, ws)
    assert summary["from_outcomes"] == 2 and summary["outcome_rate_median"] == pytest.approx(
        (2 + 9) / 2 / MIN_SENDS
    )
    labels = {e.draft.subject.split()[0]: e.label for e in examples}
    assert labels == {"#0": 0.0, "#1": 1.0}


def test_too_little_feedback_is_refused_and_nothing_is_stored(factory: sessionmaker[Session]) -> None:
    ws, ids = seed_judged_workspace(factory, 10)
    assert not ingest_feedback(
        factory, ws, _verdicts(ws, ids, utcnow() - dt.timedelta(hours=1), "a")
    ).rejected
    with factory() as session, session.begin(), pytest.raises(InvalidInputError) as caught:
        train_reward_model(session, ws, HashingEmbedder())
    assert caught.value.field == "feedback" and "10 labelled drafts" in str(caught.value)
    with factory() as session:
        assert list_reward_models(session, ws) == [] and latest_reward_model(session, ws) is None


def test_models_are_immutable_and_kept_apart_by_workspace(factory: sessionmaker[Session]) -> None:
    ws, ids = seed_judged_workspace(factory, 60)
    other, _ = seed_judged_workspace(factory, 2, name="globex")
    assert not ingest_feedback(
        factory, ws, _verdicts(ws, ids, utcnow() - dt.timedelta(hours=1), "a")
    ).rejected
    with factory() as session, session.begin():
        stored = train_reward_model(session, ws, HashingEmbedder())
    with factory() as session:
        with pytest.raises(NotFoundError) as caught:
            get_reward_model(session, other, stored.id)
        assert caught.value.field == "reward_model_id"
        assert list_reward_models(session, other) == []
    with factory() as session, pytest.raises(DBAPIError, match="immutable"):
        session.execute(text("UPDATE reward_models SET version = 7"))
        session.flush()
    with factory() as session:
        row = session.get(RewardModelRow, stored.id)
        assert row is not None and row.version == 1
