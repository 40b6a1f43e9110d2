"""Datasets from the database: event frames, spines from sends, point-in-time builds, manifests, pairs."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from sqlalchemy.orm import Session, sessionmaker

from feedback.catalog import create_brand, get_or_create_segment, save_campaign, variants_of
from feedback.contacts import ensure_contacts
from feedback.datasets import (
    DATASET_ID_ATTR,
    build_dataset_from_db,
    edit_pairs_from_db,
    feedback_events_frame,
    get_dataset_manifest,
    get_stored_dataset,
    latest_membership_version,
    list_dataset_manifests,
    list_stored_datasets,
    outcome_events_frame,
    preference_pairs_from_db,
    spine_from_sends,
    store_manifest,
    variants_frame,
)
from feedback.errors import InvalidInputError, NotFoundError
from feedback.features import FeatureNotFoundError, builtin_features
from feedback.ingest import ingest_feedback, ingest_outcomes
from feedback.manifest import read_parquet, to_parquet
from feedback.models import SegmentMembership, VariantRow
from feedback.registry import SqlFeatureRegistry
from feedback.tenancy import create_workspace
from tests.support.feedback import make_campaign, seed_workspace
from tests.support.payloads import feedback_event, outcome_event

T0 = pd.Timestamp("2024-05-01", tz="UTC")
ACCEPTANCE, CLICK_RATE_30D, BRAND_REJECTIONS, SUBJECT_LENGTH = builtin_features()
FEATURES = [f.name for f in builtin_features()]
BRIEF = {"goal": "Spring sale", "audience": "loyal customers"}


def at(hours: float) -> str:
    """An ISO timestamp `hours` after T0, as clients send it."""
    return str((T0 + pd.Timedelta(hours=hours)).isoformat())


def stamp(hours: float) -> pd.Timestamp:
    """T0 plus `hours`."""
    return T0 + pd.Timedelta(hours=hours)


@dataclass(frozen=True)
class Store:
    """A workspace with two requests, their variants, segments and contacts."""

    ws: str
    brand: str
    request_a: str
    request_b: str
    a0: str  # request A, high-spenders, model-a
    a1: str  # request A, high-spenders, model-a
    b0: str  # request B, high-spenders, model-b
    b1: str  # request B, lapsed, model-b
    high: str
    lapsed: str
    contacts: dict[str, int]
    other_ws: str


def _events(store: Store) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    a0, a1, b0, b1 = store.a0, store.a1, store.b0, store.b1
    feedback = [
        feedback_event("f1", a0, "accept", event_time=at(1)),
        feedback_event("f2", a1, "reject", event_time=at(2)),
        feedback_event("f3", a0, "accept", event_time=at(3)),
        feedback_event("f4", b1, "reject", event_time=at(1)),
        feedback_event("f5", b0, "accept", event_time=at(2)),
        feedback_event("f6", a0, "edit", event_time=at(4), edited_text="Mail ann@example.com for 20% off"),
        feedback_event("f7", a1, "rating", event_time=at(4), rating=2),
    ]
    outcomes = [
        outcome_event("o1", a0, "c1@example.com", "send", event_time=at(2)),
        outcome_event("o2", a0, "c1@example.com", "click", event_time=at(2.5)),
        outcome_event("o3", b1, "c3@example.com", "send", event_time=at(3)),
        outcome_event("o4", a1, "c2@example.com", "send", event_time=at(4)),
        outcome_event("o5", a0, "c2@example.com", "send", event_time=at(6)),
        outcome_event("o6", a0, "c1@example.com", "conversion", event_time=at(7), revenue=12.5),
    ]
    return feedback, outcomes


@pytest.fixture
def store(factory: sessionmaker[Session]) -> Store:
    """The workspace, with its events ingested and segment memberships under versions v1 then v2."""
    with factory() as session:
        other_ws, other_variants = seed_workspace(session, "globex")
        ws = create_workspace(session, "acme").id
        brand = create_brand(session, ws, "Acme").id
        high = get_or_create_segment(session, ws, "high-spenders").id
        lapsed = get_or_create_segment(session, ws, "lapsed").id
        request_a = save_campaign(
            session, ws, BRIEF, make_campaign({"high-spenders": 2}, model_id="model-a"), brand
        ).id
        request_b = save_campaign(
            session, ws, BRIEF, make_campaign({"high-spenders": 1, "lapsed": 1}, model_id="model-b"), brand
        ).id
        a0, a1 = (v.id for v in variants_of(session, ws, request_a))
        b0, b1 = (v.id for v in variants_of(session, ws, request_b))
        contacts = ensure_contacts(session, ws, ["c1@example.com", "c2@example.com", "c3@example.com"])
        first = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
        members = [("v1", "c1", high), ("v1", "c2", high), ("v1", "c3", lapsed), ("v2", "c1", lapsed)]
        session.add_all(
            SegmentMembership(
                workspace_id=ws,
                segment_id=segment,
                contact_id=contacts[f"{contact}@example.com"],
                version=version,
                computed_at=first if version == "v1" else first + timedelta(days=1),
            )
            for version, contact, segment in members
        )
        session.commit()
    built = Store(ws, brand, request_a, request_b, a0, a1, b0, b1, high, lapsed, contacts, other_ws)
    feedback, outcomes = _events(built)
    assert not ingest_feedback(factory, ws, feedback).rejected
    assert not ingest_outcomes(factory, ws, outcomes).rejected
    # The other workspace's events must never show up in this one's frames.
    assert not ingest_feedback(
        factory, other_ws, [feedback_event("x1", other_variants[0], "reject")]
    ).rejected
    assert not ingest_outcomes(
        factory, other_ws, [outcome_event("x2", other_variants[0], "c1@example.com", "send")]
    ).rejected
    with factory() as session, session.begin():
        registry = SqlFeatureRegistry(session, ws)
        for definition in builtin_features():
            registry.register(definition)
    return built


# Frames.


def test_feedback_frame_joins_each_event_to_its_request_segment_and_brand(
    factory: sessionmaker[Session], store: Store
) -> None:
    with factory() as session:
        frame = feedback_events_frame(session, store.ws)
    assert len(frame) == 7
    assert str(frame["event_time"].dtype) == "datetime64[ns, UTC]"
    assert str(frame["ingested_at"].dtype) == "datetime64[ns, UTC]"
    first = frame.set_index("variant_id").loc[store.b1]
    assert (
        first["generation_request_id"],
        first["segment_id"],
        first["segment_name"],
        first["brand_id"],
    ) == (
        store.request_b,
        store.lapsed,
        "lapsed",
        store.brand,
    )
    assert first["kind"] == "reject" and first["event_time"] == stamp(1)
    edit = frame[frame["kind"] == "edit"].iloc[0]
    assert edit["edited_text"] == "Mail [email] for 20% off"
    assert frame.loc[frame["kind"] == "rating", "rating"].tolist() == [2]
    assert (frame["ingested_at"] > frame["event_time"]).all()


def test_outcome_frame_takes_segments_from_the_latest_membership_version_by_default(
    factory: sessionmaker[Session], store: Store
) -> None:
    with factory() as session:
        assert latest_membership_version(session, store.ws) == "v2"
        latest = outcome_events_frame(session, store.ws)
        chosen = outcome_events_frame(session, store.ws, membership_version="v1")
    c1, c2, c3 = (store.contacts[f"{c}@example.com"] for c in ("c1", "c2", "c3"))

    def segments(frame: pd.DataFrame) -> dict[int, Any]:
        pairs = zip(frame["contact_id"], frame["segment_id"], strict=True)
        return {int(k): (None if pd.isna(v) else v) for k, v in pairs}

    assert segments(latest) == {c1: store.lapsed, c2: None, c3: None}
    assert segments(chosen) == {c1: store.high, c2: store.high, c3: store.lapsed}
    assert len(chosen) == 6
    row = chosen.set_index("event_id").sort_index().iloc[2]
    assert (row["variant_id"], row["variant_segment_id"], row["generation_request_id"]) == (
        store.b1,
        store.lapsed,
        store.request_b,
    )
    revenue = chosen.loc[chosen["kind"] == "conversion", "revenue"]
    assert revenue.dtype == "float64" and revenue.tolist() == [12.5]
    assert chosen.loc[chosen["kind"] != "conversion", "revenue"].isna().all()


def test_variants_frame_carries_lineage_and_draft_text_from_their_creation(
    factory: sessionmaker[Session], store: Store
) -> None:
    with factory() as session:
        frame = variants_frame(session, store.ws).set_index("variant_id")
        created = session.get(VariantRow, store.b1)
        assert created is not None
    assert sorted(frame.index) == sorted([store.a0, store.a1, store.b0, store.b1])
    row = frame.loc[store.b1]
    assert row["subject"] == "Subject 0 for lapsed"
    assert row["body"] == "First paragraph of the body.\n\nSecond paragraph of the body."
    assert (row["model_id"], row["prompt_name"], row["prompt_version"]) == ("model-b", "email", "3")
    assert (row["segment_id"], row["brand_id"]) == (store.lapsed, store.brand)
    assert row["event_time"] == row["ingested_at"] == pd.Timestamp(created.created_at)


# Spines.


def test_spine_from_sends_gives_each_variant_at_its_first_send(
    factory: sessionmaker[Session], store: Store
) -> None:
    with factory() as session:
        spine = spine_from_sends(session, store.ws)
    assert spine["variant_id"].tolist() == [store.a0, store.b1, store.a1]
    assert spine["ts"].tolist() == [stamp(2), stamp(3), stamp(4)]
    assert str(spine["ts"].dtype) == "datetime64[ns, UTC]"
    assert spine["segment_id"].tolist() == [store.high, store.lapsed, store.high]
    assert spine["model_id"].tolist() == ["model-a", "model-b", "model-a"]
    assert set(spine["brand_id"]) == {store.brand}


def test_spine_per_send_has_every_send_within_the_bounds(
    factory: sessionmaker[Session], store: Store
) -> None:
    with factory() as session:
        every = spine_from_sends(session, store.ws, per="send")
        bounded = spine_from_sends(
            session, store.ws, per="send", since=stamp(3).to_pydatetime(), until=stamp(4).to_pydatetime()
        )
        with pytest.raises(InvalidInputError) as err:
            spine_from_sends(session, store.ws, since=dt.datetime(2024, 5, 1))
        assert err.value.field == "since"
    assert every["ts"].tolist() == [stamp(2), stamp(3), stamp(4), stamp(6)]
    assert every["variant_id"].tolist() == [store.a0, store.b1, store.a1, store.a0]
    assert every["contact_id"].tolist()[0] == store.contacts["c1@example.com"]
    assert bounded["ts"].tolist() == [stamp(3), stamp(4)]


# Datasets.


def test_dataset_values_are_the_latest_known_at_each_send_and_never_later_ones(
    factory: sessionmaker[Session], store: Store
) -> None:
    with factory() as session, session.begin():
        spine = spine_from_sends(session, store.ws)
        dataset, manifest = build_dataset_from_db(session, store.ws, spine, FEATURES, membership_version="v1")
    by_variant = dataset.set_index("variant_id")
    # a0 at 2h: one accept (1h); a1 at 4h: one reject (2h); b1 at 3h: one reject (1h).
    assert by_variant["variant_acceptance_rate"].to_dict() == {store.a0: 1.0, store.b1: 0.0, store.a1: 0.0}
    # Sends to members: at 2h c1 (no click yet); at 4h c1 and c2 with c1's click at 2.5h; lapsed c3 at 3h.
    assert by_variant["segment_click_rate_30d"].to_dict() == {store.a0: 0.0, store.b1: 0.0, store.a1: 0.5}
    # Rejections of the brand's drafts: b1 at 1h, a1 at 2h; both requests are for the same brand.
    assert by_variant["brand_rejected_drafts"].to_dict() == {store.a0: 2, store.b1: 2, store.a1: 2}
    # The variants were stored after these sends' times, so their subject length was not known yet.
    assert by_variant["subject_length"].isna().all()
    assert list(dataset.columns) == [*spine.columns, *FEATURES]
    assert manifest.row_count == 3
    assert [(f.name, f.version) for f in manifest.features] == [(name, 1) for name in FEATURES]
    assert (manifest.time_start, manifest.time_end) == (stamp(2), stamp(4))


def test_a_value_becomes_usable_once_its_row_exists(factory: sessionmaker[Session], store: Store) -> None:
    later = pd.Timestamp.now(tz="UTC") + pd.Timedelta(minutes=5)
    spine = pd.DataFrame({"variant_id": [store.b1, store.a0], "ts": [later, stamp(2)]})
    with factory() as session, session.begin():
        dataset, _ = build_dataset_from_db(session, store.ws, spine, ["subject_length"])
    assert dataset["subject_length"].tolist()[0] == len("Subject 0 for lapsed")
    assert pd.isna(dataset["subject_length"].tolist()[1])


def test_every_spine_row_is_kept_in_order_with_duplicates(
    factory: sessionmaker[Session], store: Store
) -> None:
    spine = pd.DataFrame(
        {
            "variant_id": [store.a1, store.a0, store.a1, "unknown", store.a1],
            "ts": [stamp(4), stamp(0.5), stamp(4), stamp(9), stamp(1)],
        },
        index=[10, 11, 12, 13, 14],
    )
    with factory() as session, session.begin():
        dataset, manifest = build_dataset_from_db(session, store.ws, spine, ["variant_acceptance_rate"])
    assert list(dataset.index) == [10, 11, 12, 13, 14]
    assert dataset["variant_id"].tolist() == spine["variant_id"].tolist()
    rates = dataset["variant_acceptance_rate"].tolist()
    # a1 after its rejection; a0 before its first accept, an unknown variant, a1 before its rejection.
    assert rates[0] == rates[2] == 0.0
    assert [pd.isna(rates[i]) for i in (1, 3, 4)] == [True, True, True]
    assert manifest.row_count == 5


def test_as_of_ignores_events_ingested_after_it(factory: sessionmaker[Session], store: Store) -> None:
    cutoff = dt.datetime.now(dt.UTC)
    # A late report of a rejection at 1.5h: a backfill that a dataset built as of the cutoff must not see.
    assert not ingest_feedback(
        factory, store.ws, [feedback_event("late", store.a0, "reject", event_time=at(1.5))]
    ).rejected
    spine = pd.DataFrame({"variant_id": [store.a0], "ts": [stamp(2)]})
    with factory() as session, session.begin():
        now, _ = build_dataset_from_db(session, store.ws, spine, ["variant_acceptance_rate"])
        then, manifest = build_dataset_from_db(
            session, store.ws, spine, ["variant_acceptance_rate"], as_of=cutoff
        )
    assert now["variant_acceptance_rate"].tolist() == [0.5]
    assert then["variant_acceptance_rate"].tolist() == [1.0]
    assert manifest.as_of == pd.Timestamp(cutoff)


def test_the_manifest_records_the_lineage_of_the_spine_variants_and_is_stored(
    factory: sessionmaker[Session], store: Store
) -> None:
    # No lineage columns in the spine: the models come from the variants table.
    spine = pd.DataFrame({"variant_id": [store.a0, store.a1], "ts": [stamp(5), stamp(5)]})
    with factory() as session, session.begin():
        dataset, manifest = build_dataset_from_db(session, store.ws, spine, FEATURES[:1])
        mixed, mixed_manifest = build_dataset_from_db(
            session, store.ws, spine_from_sends(session, store.ws), FEATURES[:1], store=False
        )
    assert (manifest.model_ids, manifest.prompt_versions) == (("model-a",), ("email@3",))
    assert mixed_manifest.model_ids == ("model-a", "model-b")
    assert DATASET_ID_ATTR not in mixed.attrs
    dataset_id = dataset.attrs[DATASET_ID_ATTR]
    with factory() as session:
        assert get_dataset_manifest(session, store.ws, dataset_id) == manifest
        assert list_dataset_manifests(session, store.ws) == [(dataset_id, manifest)]
        with pytest.raises(NotFoundError):
            get_dataset_manifest(session, store.other_ws, dataset_id)


def test_a_stored_manifest_keeps_its_spine_definition_and_lists_newest_first(
    factory: sessionmaker[Session], store: Store
) -> None:
    spine = pd.DataFrame({"variant_id": [store.a0], "ts": [stamp(5)]})
    with factory() as session, session.begin():
        _, manifest = build_dataset_from_db(session, store.ws, spine, FEATURES[:1], store=False)
        plain = store_manifest(session, store.ws, manifest)
        named = store_manifest(
            session, store.ws, manifest, dataset_id="d" * 32, spine_definition={"source": "rows", "rows": 1}
        )
    with factory() as session:
        stored = get_stored_dataset(session, store.ws, named)
        assert (stored.id, stored.manifest) == ("d" * 32, manifest)
        assert stored.spine_definition == {"source": "rows", "rows": 1}
        assert get_stored_dataset(session, store.ws, plain).spine_definition == {}
        newest = list_stored_datasets(session, store.ws, newest_first=True)
        assert [s.id for s in newest] == [named, plain]
        assert [s.id for s in list_stored_datasets(session, store.ws, newest_first=True, offset=1)] == [plain]
        assert list_dataset_manifests(session, store.ws) == [(plain, manifest), (named, manifest)]
        with pytest.raises(NotFoundError):
            get_stored_dataset(session, store.other_ws, named)


def test_a_built_dataset_round_trips_through_parquet_with_its_manifest(
    factory: sessionmaker[Session], store: Store, tmp_path: Any
) -> None:
    with factory() as session, session.begin():
        spine = spine_from_sends(session, store.ws, per="send")
        dataset, manifest = build_dataset_from_db(session, store.ws, spine, FEATURES)
    to_parquet(dataset, manifest, tmp_path / "sends.parquet")
    again, read_manifest = read_parquet(tmp_path / "sends.parquet")
    assert read_manifest == manifest
    assert again["variant_acceptance_rate"].tolist() == dataset["variant_acceptance_rate"].tolist()


def test_features_can_be_named_by_version_and_other_versions_are_left_alone(
    factory: sessionmaker[Session], store: Store
) -> None:
    spine = pd.DataFrame({"variant_id": [store.a1], "ts": [stamp(4)]})
    with factory() as session, session.begin():
        registry = SqlFeatureRegistry(session, store.ws)
        v1 = registry.get(ACCEPTANCE.name)
        # Version 2 counts ratings as acceptances too.
        v2 = registry.register(
            replace(ACCEPTANCE, computation=replace(ACCEPTANCE.computation, events=("accept", "rating")))
        )
        for refs, version in (
            ([ACCEPTANCE.name], 2),
            ([f"{ACCEPTANCE.name}@1"], 1),
            ([(ACCEPTANCE.name, 2)], 2),
            ([v1], 1),
        ):
            _, manifest = build_dataset_from_db(session, store.ws, spine, refs, store=False)
            assert manifest.features[0].version == version
            assert manifest.features[0].hash == (v1.hash if version == 1 else v2.hash)
        with pytest.raises(FeatureNotFoundError):
            build_dataset_from_db(session, store.ws, spine, [f"{ACCEPTANCE.name}@3"])
        with pytest.raises(FeatureNotFoundError):
            build_dataset_from_db(session, store.other_ws, spine, [ACCEPTANCE.name])


@pytest.mark.parametrize(
    ("spine", "refs", "field"),
    [
        (pd.DataFrame({"variant_id": ["v"], "ts": [stamp(1)]}), "variant_acceptance_rate", "features"),
        (pd.DataFrame({"variant_id": ["v"], "ts": [stamp(1)]}), [], "features"),
        (pd.DataFrame({"variant_id": ["v"], "ts": [stamp(1)]}), ["subject_length@x"], "features"),
        (pd.DataFrame({"variant_id": ["v"]}), ["subject_length"], "spine.ts"),
        (
            pd.DataFrame({"variant_id": ["v"], "ts": [dt.datetime(2024, 5, 1)]}),
            ["subject_length"],
            "spine.ts",
        ),
        (
            pd.DataFrame({"variant_id": ["v"], "ts": [stamp(1)]}),
            ["segment_click_rate_30d"],
            "spine.segment_id",
        ),
    ],
)
def test_bad_requests_are_refused_naming_the_field(
    factory: sessionmaker[Session], store: Store, spine: pd.DataFrame, refs: Any, field: str
) -> None:
    with factory() as session, pytest.raises(InvalidInputError) as err:
        build_dataset_from_db(session, store.ws, spine, refs)
    assert err.value.field == field


# Preference data.


def test_preference_pairs_pair_accepted_and_rejected_variants_of_one_request_and_segment(
    factory: sessionmaker[Session], store: Store
) -> None:
    with factory() as session:
        pairs = preference_pairs_from_db(session, store.ws)
    # Request B's accepted and rejected variants were written for different segments: no pair.
    assert len(pairs) == 1
    pair = pairs.iloc[0]
    assert (pair["request_id"], pair["segment"]) == (store.request_a, "high-spenders")
    assert (pair["chosen_variant_id"], pair["rejected_variant_id"]) == (store.a0, store.a1)
    assert pair["chosen"].startswith("Subject 0 for high-spenders\nA preheader")
    assert pair["rejected"].splitlines()[0] == "Subject 1 for high-spenders"
    assert '"segment": "high-spenders"' in pair["prompt"] and "Spring sale" in pair["prompt"]


def test_edit_pairs_carry_the_scrubbed_edit_and_the_original_draft(
    factory: sessionmaker[Session], store: Store
) -> None:
    with factory() as session:
        pairs = edit_pairs_from_db(session, store.ws, prompt_text=lambda brief, segment: f"{segment}")
    assert pairs[["prompt", "edited", "variant_id", "request_id", "segment"]].values.tolist() == [
        ["high-spenders", "Mail [email] for 20% off", store.a0, store.request_a, "high-spenders"]
    ]
    assert pairs.iloc[0]["original"].splitlines()[-1] == "Shop now"


def test_a_workspace_without_events_gives_empty_frames_and_no_pairs(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        ws = create_workspace(session, "empty").id
        session.commit()
        assert feedback_events_frame(session, ws).empty
        assert outcome_events_frame(session, ws).empty
        assert variants_frame(session, ws).empty
        assert spine_from_sends(session, ws).empty
        assert preference_pairs_from_db(session, ws).empty
        assert edit_pairs_from_db(session, ws).empty
        assert str(spine_from_sends(session, ws)["ts"].dtype) == "datetime64[ns, UTC]"
