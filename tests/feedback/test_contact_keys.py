"""The contact key lives outside the database: key files, mismatches, and the migration that moves it."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import stat
import threading
from pathlib import Path

import pytest
from sqlalchemy import Engine, inspect, text

from feedback.contact_keys import keyring_from_hex, open_keyring
from feedback.contacts import contact_hash, find_contact, workspace_secret
from feedback.db import default_key_file, make_engine, session_factory, upgrade
from feedback.errors import ConfigurationError
from feedback.tenancy import create_workspace


def test_a_key_file_is_created_private_and_gives_the_same_keys_when_read_again(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "contact.key"
    first = open_keyring(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = open_keyring(path)
    assert again.secret_for("w1") == first.secret_for("w1") != first.secret_for("w2")
    assert len(first.secret_for("w1")) == 64
    assert open_keyring(tmp_path / "other.key").secret_for("w1") != first.secret_for("w1")


@pytest.mark.parametrize(
    "content", ["not json", json.dumps({"version": 9}), json.dumps({"version": 1, "master": "abc"})]
)
def test_a_broken_key_file_is_refused_naming_the_setting(tmp_path: Path, content: str) -> None:
    path = tmp_path / "contact.key"
    path.write_text(content)
    with pytest.raises(ConfigurationError) as caught:
        open_keyring(path)
    assert caught.value.field in {"contact_key_file", "contact_key"}


def test_a_key_given_directly_must_be_long_and_cannot_keep_a_workspace_secret() -> None:
    with pytest.raises(ConfigurationError):
        keyring_from_hex("abcd")
    keyring = keyring_from_hex("ab" * 32)
    with pytest.raises(ConfigurationError) as caught:
        keyring.adopt("w1", "a-secret-of-its-own")
    assert caught.value.field == "contact_secret"


def test_an_sqlite_store_keeps_its_key_beside_the_database_and_not_in_it(tmp_path: Path) -> None:
    database = tmp_path / "copyloop.db"
    engine = make_engine(f"sqlite:///{database}")
    upgrade(engine)
    factory = session_factory(engine)
    with factory() as session, session.begin():
        workspace_id = create_workspace(session, "acme").id
        secret = workspace_secret(session, workspace_id)
    engine.dispose()
    key_file = tmp_path / "copyloop.db.contact-key"
    assert open_keyring(key_file).secret_for(workspace_id) == secret
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("copyloop.db*") if p != key_file)
    assert database.read_bytes()
    assert secret.encode() not in stored
    assert json.loads(key_file.read_text())["master"].encode() not in stored


def test_the_wrong_key_file_fails_loudly_instead_of_making_new_contacts(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'copyloop.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with session_factory(engine)() as session, session.begin():
        workspace_id = create_workspace(session, "acme").id
    engine.dispose()
    wrong = make_engine(url, contact_keys=tmp_path / "elsewhere.key")
    with session_factory(wrong)() as session, pytest.raises(ConfigurationError) as caught:
        find_contact(session, workspace_id, "ann@example.com")
    assert caught.value.field == "contact_key" and "acme" in caught.value.message
    wrong.dispose()


def test_a_workspace_secret_of_its_own_is_kept_in_the_key_file(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'copyloop.db'}")
    upgrade(engine)
    with session_factory(engine)() as session, session.begin():
        workspace_id = create_workspace(session, "acme", contact_secret="a-long-enough-secret").id
    engine.dispose()
    saved = json.loads((tmp_path / "copyloop.db.contact-key").read_text())
    assert saved["workspaces"] == {workspace_id: "a-long-enough-secret"}


def _legacy_store(engine: Engine) -> None:
    """A store at revision 0008 with a workspace whose secret is in its row, and a contact in a segment."""
    upgrade(engine, "0008")
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC).replace(tzinfo=None)
    digest = hmac.new(b"legacy-secret-0001", b"ann@example.com", hashlib.sha256).hexdigest()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO workspaces (id, name, contact_secret, created_at) VALUES ('w1', 'old', :s, :t)"
            ),
            {"s": "legacy-secret-0001", "t": now},
        )
        connection.execute(
            text("INSERT INTO contacts (workspace_id, hmac, created_at) VALUES ('w1', :h, :t)"),
            {"h": digest, "t": now},
        )
        connection.execute(
            text(
                "INSERT INTO segments (id, workspace_id, name, description, traits, created_at) "
                "VALUES ('s1', 'w1', 'vip', '', '{}', :t)"
            ),
            {"t": now},
        )
        connection.execute(
            text(
                "INSERT INTO segment_memberships "
                "(workspace_id, segment_id, contact_id, version, computed_at) "
                "SELECT 'w1', 's1', id, 'v1', :t FROM contacts"
            ),
            {"t": now},
        )


def test_the_migration_moves_the_secrets_out_and_keeps_every_row(
    db_url: str, tmp_path: Path, engine: Engine
) -> None:
    # The fixture migrated an empty store to head; start again from an older revision.
    from feedback.db import downgrade

    downgrade(engine, "base")
    key_file = tmp_path / "moved.key"
    legacy = make_engine(db_url, contact_keys=key_file)
    try:
        _legacy_store(legacy)
        upgrade(legacy)
        assert "contact_secret" not in {c["name"] for c in inspect(legacy).get_columns("workspaces")}
        assert open_keyring(key_file).adopted == {"w1": "legacy-secret-0001"}
        with session_factory(legacy)() as session:
            contact = find_contact(session, "w1", "Ann@Example.com")
            assert contact is not None
            assert contact.hmac == contact_hash("legacy-secret-0001", "ann@example.com")
            # The contacts table was rebuilt on SQLite; its child rows are all still there.
            members = session.execute(text("SELECT contact_id FROM segment_memberships")).scalars().all()
            assert members == [contact.id]
        if legacy.dialect.name == "sqlite":
            with legacy.connect() as connection:
                tables = connection.execute(
                    text("SELECT sql FROM sqlite_master WHERE name = 'contacts'")
                ).scalar()
            assert "AUTOINCREMENT" in str(tables)
        # And back: the secrets return to the rows they came from.
        downgrade(legacy, "0008")
        with legacy.connect() as connection:
            assert (
                connection.execute(text("SELECT contact_secret FROM workspaces")).scalar()
                == "legacy-secret-0001"
            )
    finally:
        legacy.dispose()


def test_processes_that_start_at_once_all_read_the_one_master_key(tmp_path: Path) -> None:
    path = tmp_path / "contact.key"
    masters: list[bytes] = []
    start = threading.Barrier(8)

    def first_use() -> None:
        start.wait()
        masters.append(open_keyring(path).master)

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(masters) == 8 and len(set(masters)) == 1
    assert open_keyring(path).master == masters[0]


def test_secrets_adopted_by_two_holders_of_the_file_are_both_kept(tmp_path: Path) -> None:
    path = tmp_path / "contact.key"
    one, two = open_keyring(path), open_keyring(path)
    one.adopt("w1", "first-secret-0001")
    two.adopt("w2", "second-secret-002")
    assert open_keyring(path).adopted == {"w1": "first-secret-0001", "w2": "second-secret-002"}


def test_a_server_started_before_a_workspace_took_its_own_secret_reads_it_when_needed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'copyloop.db'}"
    running = make_engine(url)  # the API, already up
    upgrade(running)
    other = make_engine(url)  # the command line, later
    with session_factory(other)() as session, session.begin():
        workspace_id = create_workspace(session, "acme", contact_secret="a-long-enough-secret").id
    with session_factory(running)() as session:
        assert workspace_secret(session, workspace_id) == "a-long-enough-secret"
    running.dispose()
    other.dispose()


def test_a_uri_filename_keeps_its_key_beside_the_file(tmp_path: Path) -> None:
    assert (
        default_key_file(f"sqlite:///file:{tmp_path / 'db.sqlite'}?uri=true")
        == tmp_path / "db.sqlite.contact-key"
    )
    assert default_key_file("sqlite:///file:mem?mode=memory&uri=true") is None
    assert default_key_file("sqlite://") is None
