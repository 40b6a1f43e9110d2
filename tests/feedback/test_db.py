"""Engines, migrations and the constraints the schema enforces by itself."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    ForeignKey,
    MetaData,
    String,
    Table,
    inspect,
    text,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from feedback.db import (
    database_url,
    downgrade,
    make_engine,
    normalise_url,
    session_factory,
    upgrade,
    wal_checkpointer,
)
from feedback.errors import InvalidInputError
from feedback.ingest import ingest_outcomes
from feedback.models import Base, FeatureDefinitionRow, FeedbackEvent, Workspace
from tests.support.feedback import seed_workspace
from tests.support.payloads import outcome_event

TABLES = {
    "workspaces",
    "brands",
    "segments",
    "segment_memberships",
    "contacts",
    "campaigns",
    "generation_requests",
    "variants",
    "feedback_events",
    "outcome_events",
    "experiments",
    "experiment_arms",
    "assignments",
    "feature_definitions",
    "dataset_manifests",
    "api_keys",
}


def test_default_database_is_sqlite_in_the_data_directory_with_wal_and_foreign_keys(tmp_path: Path) -> None:
    url = database_url(data_dir=tmp_path / "data")
    upgrade(url)
    engine = make_engine(url)
    try:
        assert set(inspect(engine).get_table_names()) >= TABLES
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
    finally:
        engine.dispose()
    assert (tmp_path / "data" / "copyloop.db").exists()


def test_database_url_is_the_one_given_and_postgres_urls_use_psycopg(tmp_path: Path) -> None:
    assert database_url("postgresql://u@db:5432/copyloop") == "postgresql+psycopg://u@db:5432/copyloop"
    assert database_url(None, tmp_path) == f"sqlite:///{tmp_path / 'copyloop.db'}"
    assert database_url("sqlite:///x.db") == "sqlite:///x.db"
    assert normalise_url("postgres://u@h/d") == "postgresql+psycopg://u@h/d"
    assert normalise_url("postgresql+psycopg://u@h/d") == "postgresql+psycopg://u@h/d"


def test_unsupported_database_is_refused_naming_the_url() -> None:
    with pytest.raises(InvalidInputError) as info:
        make_engine("mysql://u@h/d")
    assert info.value.field == "database_url"


def test_upgrade_creates_every_table_and_matches_the_models(engine: Engine) -> None:
    assert set(inspect(engine).get_table_names()) >= TABLES
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_upgrade_is_idempotent_and_survives_a_downgrade_round_trip(engine: Engine, db_url: str) -> None:
    upgrade(engine)
    downgrade(engine, "base")
    assert "variants" not in inspect(engine).get_table_names()
    upgrade(db_url)  # a URL works as well as an engine
    assert set(inspect(engine).get_table_names()) >= TABLES


def test_an_api_key_table_the_api_created_before_the_migrations_had_it_keeps_its_keys(
    engine: Engine,
) -> None:
    downgrade(engine, "0002")
    assert "api_keys" not in inspect(engine).get_table_names()
    # as the API created it on start (create_all) before the migrations had it
    legacy = MetaData(naming_convention=dict(Base.metadata.naming_convention))
    Table("workspaces", legacy, Column("id", String(32), primary_key=True))
    Table(
        "api_keys",
        legacy,
        Column("id", String(16), primary_key=True),
        Column("workspace_id", String(32), ForeignKey("workspaces.id"), index=True, nullable=False),
        Column("role", String(20), nullable=False),
        Column("name", String(200), nullable=False),
        Column("secret_sha256", String(64), nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("revoked_at", DateTime(timezone=True), nullable=True),
    )
    with engine.begin() as conn:
        legacy.tables["api_keys"].create(conn)
        conn.execute(
            text("INSERT INTO workspaces (id, name, contact_secret, created_at) VALUES ('w1', 'w', 's', :t)"),
            {"t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
        )
        conn.execute(
            text("INSERT INTO api_keys VALUES ('0123456789ab', 'w1', 'admin', 'ops', :h, :t, NULL)"),
            {"h": "0" * 64, "t": dt.datetime(2026, 1, 1, tzinfo=dt.UTC)},
        )
    upgrade(engine)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT id, role FROM api_keys")).all() == [("0123456789ab", "admin")]
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []


def test_the_monitoring_windows_have_workspace_and_time_indexes(engine: Engine) -> None:
    for table, column in (
        ("variants", "created_at"),
        ("generation_requests", "created_at"),
        ("feedback_events", "event_time"),
    ):
        indexed = [ix["column_names"] for ix in inspect(engine).get_indexes(table)]
        assert ["workspace_id", column] in indexed, table


def test_timestamps_come_back_timezone_aware_in_utc(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        ws_id, variants = seed_workspace(session)
        local = dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
        session.add(
            FeedbackEvent(
                workspace_id=ws_id,
                variant_id=variants[0],
                kind="accept",
                idempotency_key="k",
                event_time=local,
            )
        )
        session.commit()
    with factory() as session:
        event = session.query(FeedbackEvent).one()
        assert event.event_time == local
        assert event.event_time.utcoffset() == dt.timedelta(0)
        assert event.event_time.hour == 10


def test_a_row_cannot_point_at_a_variant_of_another_workspace(factory: sessionmaker[Session]) -> None:
    with factory() as session:
        _, foreign_variants = seed_workspace(session, "other")
        ws_id, _ = seed_workspace(session, "mine")
        session.add(
            FeedbackEvent(
                workspace_id=ws_id,
                variant_id=foreign_variants[0],
                kind="accept",
                idempotency_key="k",
                event_time=dt.datetime.now(dt.UTC),
            )
        )
        with pytest.raises(IntegrityError):
            session.commit()


def test_feature_definitions_cannot_be_updated_or_deleted_in_the_database(
    factory: sessionmaker[Session],
) -> None:
    with factory() as session:
        workspace = Workspace(name="acme", contact_key_check="0" * 16)
        session.add(workspace)
        session.flush()
        session.add(
            FeatureDefinitionRow(
                workspace_id=workspace.id,
                name="subject_length",
                version=1,
                definition_hash="a" * 64,
                definition={"kind": "subject_length"},
            )
        )
        session.commit()
    for statement in (
        update(FeatureDefinitionRow).values(description="changed"),
        text("DELETE FROM feature_definitions"),
    ):
        with factory() as session:
            with pytest.raises(IntegrityError, match="immutable"):
                session.execute(statement)
            session.rollback()
    with factory() as session:
        assert session.query(FeatureDefinitionRow).one().description == ""


def test_a_growing_wal_is_checkpointed_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    engine = make_engine(f"sqlite:///{path}")
    try:
        upgrade(engine)
        checkpointer = wal_checkpointer(engine)
        assert checkpointer is not None
        checkpointer.threshold_bytes = 64 * 1024
        size_before = path.stat().st_size
        factory = session_factory(engine)
        with factory() as session:
            ws_id, variants = seed_workspace(session, "wal")
        for batch in range(20):
            events = [outcome_event(f"k{batch}-{i}", variants[0], f"u{i}@example.com") for i in range(200)]
            ingest_outcomes(factory, ws_id, events)
        deadline = time.monotonic() + 30
        while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert checkpointer.checkpoints >= 1
        # the pages went from the WAL into the database file while the writers' connections stayed open
        assert path.stat().st_size > size_before
    finally:
        engine.dispose()
    assert checkpointer._thread is None or not checkpointer._thread.is_alive()
