"""The `copyloop db` commands: migrate the feedback store's database."""

from __future__ import annotations

import click
from sqlalchemy import Engine, make_url
from sqlalchemy.exc import SQLAlchemyError

from genai.errors import CopyloopError
from serving.cli_errors import fail

__all__ = ["db"]


def _current_revision(engine: Engine) -> str | None:
    """The revision the database is at now (None for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    from feedback.errors import DatabaseError

    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise DatabaseError(f"could not read the database's revision: {exc}") from exc


def _shown(url: str) -> str:
    """The URL without its password, for messages."""
    return make_url(url).render_as_string(hide_password=True)


@click.group("db")
def db() -> None:
    """Manage the feedback store's database (SQLite by default, PostgreSQL by URL)."""


@db.command("upgrade")
@click.option(
    "--url",
    default=None,
    help="Database URL; default: $COPYLOOP_DATABASE_URL, else SQLite in the data directory.",
)
def upgrade(url: str | None) -> None:
    """Migrate the database to the latest revision and print that revision."""
    from feedback.db import database_url, make_engine
    from feedback.db import upgrade as run_upgrade
    from serving.settings import load_settings

    try:
        settings = load_settings(database_url=url)
        resolved = database_url(settings.database_url, settings.data_dir)
        engine = make_engine(resolved, contact_keys=settings.contact_keys())
        try:
            run_upgrade(engine)
            revision = _current_revision(engine)
        finally:
            engine.dispose()
    except CopyloopError as exc:
        fail(exc)
    click.echo(f"{_shown(resolved)}: at revision {revision}")
