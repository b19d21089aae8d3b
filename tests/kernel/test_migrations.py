"""Migrations: the models are what the migrations build (on both backends), and a
migration that adds a column to existing rows fills it from the right parent.

Each test runs on a scratch database of its own (a SQLite file, or a PostgreSQL database
created and dropped for it), so the shared test databases keep their head schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import CheckConstraint, inspect

from linli import domains, migrate
from linli.db import Base, Database


@pytest.fixture
def scratch(backend: str, tmp_path, request) -> Iterator[Database]:
    """An empty database on ``backend`` that no other test uses."""
    url = f"sqlite:///{tmp_path}/scratch.db" if backend == "sqlite" else request.getfixturevalue("fresh_pg_database")
    db = Database(url)
    yield db
    db.dispose()


def test_models_match_the_migrations(scratch):
    """Upgraded to head, the database is what the models describe: autogenerate finds
    nothing to do (tables, columns, types, nullability, indexes, unique constraints, foreign
    keys), and every table has the CHECK constraints its model declares."""
    migrate.upgrade(scratch)
    domains.load_all()
    with scratch.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
        assert diff == []
        reflected = inspect(conn)
        for table in Base.metadata.sorted_tables:
            declared = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
            assert {c["name"] for c in reflected.get_check_constraints(table.name)} == declared, table.name
