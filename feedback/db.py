"""Engines, sessions and migrations for the feedback store (SQLite by default, PostgreSQL by URL).

SQLite runs in WAL mode with foreign keys on and a busy timeout, and every transaction starts with
``BEGIN IMMEDIATE``: writers queue up on the busy timeout instead of failing when two of them try to
upgrade a read lock at once. Readers in WAL mode are never blocked by that. A file database's WAL is
checkpointed on a background thread (`feedback.walcheckpoint`).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from feedback.contact_keys import ContactKeyring, bind_keyring, ephemeral_keyring, keyring_for, open_keyring
from feedback.errors import DatabaseError, InvalidInputError
from feedback.walcheckpoint import WalCheckpointer
from genai.paths import user_data_dir

__all__ = [
    "SQLITE_BUSY_TIMEOUT_MS",
    "database_url",
    "default_key_file",
    "downgrade",
    "make_engine",
    "normalise_url",
    "session_factory",
    "session_scope",
    "truncate_wal",
    "upgrade",
    "wal_checkpointer",
]

SQLITE_BUSY_TIMEOUT_MS = 30_000
WAL_CHECKPOINT_BYTES = 64 * 2**20
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same for every process that migrates this database.
_MIGRATION_LOCK_ID = 0x636F70796C6F6F70


def normalise_url(url: str) -> str:
    """Point bare ``postgresql://`` and ``postgres://`` URLs at the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def database_url(url: str | None = None, data_dir: Path | None = None) -> str:
    """The URL to use: `url`, else SQLite in `data_dir` (default: the user data folder)."""
    if url:
        return normalise_url(url)
    return f"sqlite:///{(data_dir or user_data_dir()) / 'copyloop.db'}"


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" hook emit BEGIN itself, instead of pysqlite's own deferred BEGIN.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Deleted rows (an erased contact's events) are overwritten with zeros, not left in free pages.
        cursor.execute("PRAGMA secure_delete=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # Durable at each checkpoint and safe against corruption in WAL mode; much faster than FULL.
        cursor.execute("PRAGMA synchronous=NORMAL")
        # 64 MiB of page cache (the default is 2 MiB): bulk inserts touch indexes far larger than that.
        cursor.execute("PRAGMA cache_size=-65536")
        # Checkpoints run on a background thread once the WAL passes 64 MiB (see walcheckpoint.py):
        # an index page that several batches change is copied into the database once, and not while
        # a writer waits. The writers' own checkpoint stays as a safety net, much further out.
        cursor.execute(f"PRAGMA wal_autocheckpoint={4 * WAL_CHECKPOINT_BYTES // 4096}")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_CHECKPOINT_BYTES}")
    finally:
        cursor.close()


def _begin_immediate(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


_CHECKPOINTERS: weakref.WeakKeyDictionary[Engine, WalCheckpointer] = weakref.WeakKeyDictionary()


def wal_checkpointer(engine: Engine) -> WalCheckpointer | None:
    """The background WAL checkpointer of an SQLite file engine made by `make_engine`."""
    return _CHECKPOINTERS.get(engine)


def default_key_file(url: str, data_dir: Path | None = None) -> Path | None:
    """Where the contact key lives when nothing else is said: beside an SQLite file, else in
    `data_dir` (default: the user data folder); None for an in-memory database."""
    parsed = make_url(url)
    database = parsed.database
    if parsed.get_backend_name() != "sqlite":
        return (data_dir or user_data_dir()) / "contact.key"
    if database and database.startswith("file:"):
        # a URI filename: file:PATH?params (in memory with mode=memory or no path)
        if "mode=memory" in database or parsed.query.get("mode") == "memory":
            return None
        database = database.removeprefix("file:").split("?", 1)[0]
    if not database or database == ":memory:":
        return None
    return Path(database).expanduser().with_name(Path(database).name + ".contact-key")


def make_engine(
    url: str | None = None, *, echo: bool = False, contact_keys: ContactKeyring | Path | None = None
) -> Engine:
    """Create an engine for `url` (see `database_url`), configured for this store's needs.

    `contact_keys` is the keyring (or key file) that pseudonymises contacts (`feedback.contact_keys`).
    Unset, it is `default_key_file`: beside an SQLite file, else ``contact.key`` in the user data
    folder; an in-memory database gets a key that lives as long as the process.
    """
    resolved = database_url(url)
    try:
        parsed = make_url(resolved)
    except Exception as exc:
        raise InvalidInputError(f"not a database URL: {exc}", field="database_url") from exc
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, echo=echo)
        _bind_contact_keys(engine, resolved, contact_keys)
        event.listen(engine, "connect", _set_sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        if database and database != ":memory:" and not database.startswith("file:"):
            checkpointer = WalCheckpointer(str(Path(database).expanduser()), WAL_CHECKPOINT_BYTES)
            event.listen(engine, "commit", lambda _conn: checkpointer.after_commit())
            event.listen(engine, "engine_disposed", lambda _engine: checkpointer.close())
            _CHECKPOINTERS[engine] = checkpointer
        return engine
    if backend == "postgresql":
        engine = create_engine(parsed, echo=echo, pool_pre_ping=True)
        _bind_contact_keys(engine, resolved, contact_keys)
        return engine
    raise InvalidInputError(
        f"unsupported database {backend!r}: use sqlite or postgresql", field="database_url"
    )


def _bind_contact_keys(engine: Engine, url: str, given: ContactKeyring | Path | None) -> None:
    if isinstance(given, ContactKeyring):
        keyring = given
    else:
        path = given or default_key_file(url)
        keyring = open_keyring(path) if path is not None else ephemeral_keyring()
    bind_keyring(engine, keyring)


def truncate_wal(engine: Engine) -> bool:
    """Copy an SQLite file's write-ahead log into the database and empty it; True when it was emptied.

    Run after an erasure: the log still holds the pages as they were before the delete. False when
    a reader kept the log busy (the next checkpoint empties it), and on other databases.
    """
    if engine.dialect.name != "sqlite" or engine not in _CHECKPOINTERS:
        return False
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        row = cursor.fetchone()
        cursor.close()
    finally:
        raw.close()
    return row is not None and row[0] == 0


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to `engine`; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose transaction commits on success and rolls back on error."""
    with factory() as session, session.begin():
        yield session


def _alembic_config() -> Config:
    config = Config()
    # configparser treats "%" as interpolation; a checkout path may contain one.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


def _migrate(target: str | Engine | None, step: Callable[[Config], None]) -> None:
    engine = target if isinstance(target, Engine) else make_engine(target)
    config = _alembic_config()
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Several app workers may upgrade on start at once; the first migrates, the rest wait.
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            config.attributes["connection"] = connection
            config.attributes["contact_keyring"] = keyring_for(engine)
            step(config)
    except SQLAlchemyError as exc:
        raise DatabaseError(f"migration failed: {exc}") from exc
    finally:
        if not isinstance(target, Engine):
            engine.dispose()


def upgrade(target: str | Engine | None = None, revision: str = "head") -> None:
    """Run the migrations up to `revision` on a URL or engine (default: SQLite in the user data folder)."""
    _migrate(target, lambda config: command.upgrade(config, revision))


def downgrade(target: str | Engine | None, revision: str) -> None:
    """Revert the migrations down to `revision` ("base" removes every table of the store)."""
    _migrate(target, lambda config: command.downgrade(config, revision))
