"""A variant's verdicts: counts by kind, mean rating, latest decision and the newest events."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from feedback.errors import NotFoundError
from feedback.ingest import ingest_feedback
from feedback.tenancy import create_workspace
from feedback.verdicts import variant_verdicts
from tests.support.payloads import feedback_event

Workspace = tuple[str, list[str]]


def test_a_variants_verdicts_count_its_own_events_and_name_the_latest_decision(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws, (mine, other, _) = workspace
    events = [
        feedback_event("a", mine, "accept", event_time="2024-05-01T09:00:00Z"),
        feedback_event("r", mine, "reject", event_time="2024-05-01T11:00:00Z"),
        feedback_event("s1", mine, "rating", rating=2, event_time="2024-05-01T12:00:00Z"),
        feedback_event("s2", mine, "rating", rating=5, event_time="2024-05-01T13:00:00Z"),
        feedback_event("x", other, "accept", event_time="2024-05-01T14:00:00Z"),
    ]
    assert not ingest_feedback(factory, ws, events).rejected
    with factory() as session:
        verdicts = variant_verdicts(session, ws, mine, limit=2)
        assert verdicts.counts == {"accept": 1, "reject": 1, "rating": 2}
        assert verdicts.mean_rating == pytest.approx(3.5)
        assert verdicts.latest_decision == "reject"
        assert [e.rating for e in verdicts.events] == [5, 2]
        quiet = variant_verdicts(session, ws, other, limit=10)
        assert (quiet.mean_rating, quiet.latest_decision, len(quiet.events)) == (None, "accept", 1)
        with pytest.raises(NotFoundError) as info:
            variant_verdicts(session, create_workspace(session, "other").id, mine, limit=10)
        assert info.value.field == "variant_id"
