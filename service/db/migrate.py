"""Apply Alembic migrations (no alembic.ini: the configuration is built here).

Several instances may start at once: on PostgreSQL an advisory lock makes them take turns.
An up-to-date schema is recognised with one query, without importing Alembic: that keeps the
start of every server process short (Cloud Run scales from zero on it).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0001"  # the newest revision in migrations/versions (a test keeps them in step)
_LOCK_ID = 0x454D47  # "EMG"


def alembic_config():  # type: ignore[no-untyped-def]
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def current_revision(engine: Engine) -> str | None:
    """The schema's revision, or None for a database Alembic has not touched."""
    try:
        with engine.connect() as connection:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except DBAPIError:
        return None


def upgrade(engine: Engine, revision: str = "head") -> None:
    if revision == "head" and current_revision(engine) == HEAD:
        return
    from alembic import command

    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
