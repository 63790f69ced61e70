"""Migrations: the fast up-to-date check agrees with Alembic, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from service.db.engine import make_engine
from service.db.migrate import HEAD, alembic_config, current_revision, upgrade


def test_head_constant_matches_newest_migration() -> None:
    assert ScriptDirectory.from_config(alembic_config()).get_current_head() == HEAD


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/m.sqlite3"
    return request.getfixturevalue("pg_url")


def test_upgrade_creates_schema_then_is_a_no_op(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) is None
        upgrade(engine)
        assert current_revision(engine) == HEAD
        assert "therapy_sessions" in inspect(engine).get_table_names()
        upgrade(engine)  # already at head: no error, nothing to do
        assert current_revision(engine) == HEAD
    finally:
        engine.dispose()
