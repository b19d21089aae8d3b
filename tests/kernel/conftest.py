"""Fixtures for the kernel's tests: the test plugin's tables (delivery tests) and scratch
PostgreSQL databases (command-line and migration tests)."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.engine import make_url

from linli.config import Settings
from linli.db import Database
from tests import plugin
from tests.services import service_url


@pytest.fixture
def effects(db: Database) -> Database:
    """The ``db`` fixture with ``test_effects`` / ``test_ticks`` created and emptied."""
    plugin.create_tables(db)
    plugin.clear_tables(db)
    return db


@pytest.fixture
def fresh_pg_database():
    """A database of its own on the test PostgreSQL server, dropped afterwards, so the
    shared test database is not disturbed."""
    import psycopg

    base = make_url(Settings(database_url=service_url("postgresql", 5432)).database_url)
    name = f"linli_cli_test_{uuid.uuid4().hex[:8]}"
    admin_dsn = base.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield base.set(database=name).render_as_string(hide_password=False)
    with psycopg.connect(admin_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
