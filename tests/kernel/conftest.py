"""Fixtures for the kernel's delivery tests: the test plugin's tables, created and empty."""

from __future__ import annotations

import pytest

from linli.db import Database
from tests import plugin


@pytest.fixture
def effects(db: Database) -> Database:
    """The ``db`` fixture with ``test_effects`` / ``test_ticks`` created and emptied."""
    plugin.create_tables(db)
    plugin.clear_tables(db)
    return db
