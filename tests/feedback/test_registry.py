"""The feature registry on the database: versions, immutability, tenancy and concurrent registration."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from feedback.errors import ImmutableError, NotFoundError
from feedback.features import (
    FeatureDefinition,
    FeatureImmutableError,
    FeatureNotFoundError,
    FeatureRegistry,
    MemoryFeatureRegistry,
    RegisteredFeature,
    builtin_features,
    definition_hash,
    definition_to_dict,
)
from feedback.models import FeatureDefinitionRow
from feedback.registry import SqlFeatureRegistry
from feedback.tenancy import create_workspace
from tests.support.feedback import seed_workspace

ACCEPTANCE, CLICK_RATE_30D, BRAND_REJECTIONS, SUBJECT_LENGTH = builtin_features()
Workspace = tuple[str, list[str]]


def _rows(factory: sessionmaker[Session], name: str) -> int:
    with factory() as session:
        stmt = select(func.count()).select_from(FeatureDefinitionRow).where(FeatureDefinitionRow.name == name)
        return session.scalar(stmt) or 0


def _register(
    factory: sessionmaker[Session], workspace_id: str, definition: FeatureDefinition
) -> RegisteredFeature:
    """Register in a session of its own and commit."""
    with factory() as session, session.begin():
        return SqlFeatureRegistry(session, workspace_id).register(definition)


def test_registering_an_identical_definition_returns_the_stored_version(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, _ = workspace
    first = _register(factory, ws_id, ACCEPTANCE)
    again = _register(factory, ws_id, replace(ACCEPTANCE))
    assert (first.name, first.version, first.hash) == (ACCEPTANCE.name, 1, definition_hash(ACCEPTANCE))
    assert again == first
    assert _rows(factory, ACCEPTANCE.name) == 1


def test_a_changed_definition_gets_the_next_version_and_old_versions_stay_readable(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, _ = workspace
    v1 = _register(factory, ws_id, ACCEPTANCE)
    v2 = _register(factory, ws_id, replace(ACCEPTANCE, ttl=timedelta(days=90)))
    v3 = _register(factory, ws_id, replace(ACCEPTANCE, owner="growth-team"))
    assert [v1.version, v2.version, v3.version] == [1, 2, 3]
    assert _register(factory, ws_id, ACCEPTANCE) == v1
    with factory() as session:
        registry = SqlFeatureRegistry(session, ws_id)
        assert registry.get(ACCEPTANCE.name) == v3
        assert registry.get(ACCEPTANCE.name, 1).definition == ACCEPTANCE
        assert registry.get(ACCEPTANCE.name, 2).definition.ttl == timedelta(days=90)
        assert [r.version for r in registry.versions(ACCEPTANCE.name)] == [1, 2, 3]


def test_the_stored_row_holds_the_definition_its_hash_description_and_owner(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, _ = workspace
    _register(factory, ws_id, CLICK_RATE_30D)
    with factory() as session:
        row = session.scalars(select(FeatureDefinitionRow)).one()
        assert row.workspace_id == ws_id
        assert row.definition == definition_to_dict(CLICK_RATE_30D)
        assert row.definition_hash == definition_hash(CLICK_RATE_30D)
        assert (row.description, row.owner) == (CLICK_RATE_30D.description, CLICK_RATE_30D.owner)


def test_names_are_sorted_and_unknown_features_or_versions_are_not_found(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, _ = workspace
    for definition in builtin_features():
        _register(factory, ws_id, definition)
    with factory() as session:
        registry = SqlFeatureRegistry(session, ws_id)
        assert registry.names() == sorted(d.name for d in builtin_features())
        with pytest.raises(FeatureNotFoundError) as err:
            registry.get("nope")
        assert isinstance(err.value, NotFoundError) and err.value.field == "name"
        with pytest.raises(FeatureNotFoundError) as err:
            registry.get(ACCEPTANCE.name, 2)
        assert err.value.field == "version"
        assert registry.versions("nope") == []


def test_update_and_delete_are_refused_and_the_definition_stays(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, _ = workspace
    stored = _register(factory, ws_id, ACCEPTANCE)
    with factory() as session:
        registry = SqlFeatureRegistry(session, ws_id)
        with pytest.raises(FeatureImmutableError) as err:
            registry.update(replace(ACCEPTANCE, owner="someone"))
        assert isinstance(err.value, ImmutableError) and err.value.field == ACCEPTANCE.name
        with pytest.raises(FeatureImmutableError):
            registry.delete(ACCEPTANCE.name, 1)
        with pytest.raises(FeatureImmutableError):
            registry.delete(ACCEPTANCE.name)
    with factory() as session:
        assert SqlFeatureRegistry(session, ws_id).get(ACCEPTANCE.name) == stored


def test_each_workspace_has_its_own_registry(factory: sessionmaker[Session], workspace: Workspace) -> None:
    ws_id, _ = workspace
    with factory() as session:
        other_id, _ = seed_workspace(session, "globex")
        empty_id = create_workspace(session, "initech").id
        session.commit()
    _register(factory, ws_id, ACCEPTANCE)
    _register(factory, ws_id, replace(ACCEPTANCE, ttl=timedelta(days=1)))
    assert _register(factory, other_id, replace(ACCEPTANCE, ttl=timedelta(days=1))).version == 1
    with factory() as session:
        assert SqlFeatureRegistry(session, other_id).names() == [ACCEPTANCE.name]
        with pytest.raises(FeatureNotFoundError):
            SqlFeatureRegistry(session, other_id).get(ACCEPTANCE.name, 2)
        assert SqlFeatureRegistry(session, empty_id).names() == []


def test_an_unknown_workspace_is_refused(factory: sessionmaker[Session]) -> None:
    with factory() as session, pytest.raises(NotFoundError):
        SqlFeatureRegistry(session, "0" * 32)


def test_it_versions_like_the_in_memory_registry(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, _ = workspace
    sequence = [
        ACCEPTANCE,
        SUBJECT_LENGTH,
        replace(ACCEPTANCE, ttl=timedelta(hours=12)),
        ACCEPTANCE,
        replace(SUBJECT_LENGTH, description="Characters in the subject line."),
        replace(ACCEPTANCE, ttl=timedelta(hours=12)),
    ]
    memory = MemoryFeatureRegistry()
    with factory() as session, session.begin():
        stored: FeatureRegistry = SqlFeatureRegistry(session, ws_id)
        for definition in sequence:
            assert stored.register(definition) == memory.register(definition)
        for name in memory.names():
            assert stored.versions(name) == memory.versions(name)


def test_two_sessions_registering_the_same_definition_end_with_one_version(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, _ = workspace
    with factory() as first, ThreadPoolExecutor(max_workers=1) as pool:
        first.begin()
        mine = SqlFeatureRegistry(first, ws_id).register(ACCEPTANCE)
        theirs = pool.submit(_register, factory, ws_id, ACCEPTANCE)
        time.sleep(0.5)
        # The second writer waits on the first one's uncommitted row (or write lock) ...
        assert not theirs.done()
        first.commit()
        # ... and then finds it instead of adding a second version.
        assert theirs.result(timeout=30) == mine
    assert _rows(factory, ACCEPTANCE.name) == 1


def test_a_concurrent_changed_definition_takes_the_next_version(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, _ = workspace
    changed = replace(ACCEPTANCE, ttl=timedelta(days=3))
    with factory() as first, ThreadPoolExecutor(max_workers=1) as pool:
        first.begin()
        mine = SqlFeatureRegistry(first, ws_id).register(ACCEPTANCE)
        theirs = pool.submit(_register, factory, ws_id, changed)
        time.sleep(0.5)
        assert not theirs.done()
        first.commit()
        assert (mine.version, theirs.result(timeout=30).version) == (1, 2)
    assert _rows(factory, ACCEPTANCE.name) == 2


def test_many_threads_registering_at_once_store_each_definition_once(
    factory: sessionmaker[Session], workspace: Workspace
) -> None:
    ws_id, _ = workspace
    definitions = [ACCEPTANCE, replace(ACCEPTANCE, ttl=timedelta(days=7))]
    start = threading.Barrier(6)

    def work(index: int) -> list[RegisteredFeature]:
        start.wait(timeout=30)
        order = definitions if index % 2 else definitions[::-1]
        return [_register(factory, ws_id, definition) for definition in order]

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = [r for batch in pool.map(work, range(6)) for r in batch]
    by_hash = {r.hash: r.version for r in results}
    assert len(results) == 12 and len(set(results)) == 2
    assert sorted(by_hash.values()) == [1, 2]
    assert _rows(factory, ACCEPTANCE.name) == 2
