"""Incentives' fixtures: the leaderboards on a real Redis (a key prefix of the test's own,
removed after) or on the database alone — ``boards_on`` runs a test both ways."""

from __future__ import annotations

import uuid

import pytest

from linli.incentives import board_store
from tests.services import service_url


@pytest.fixture
def board_redis(db):
    """The boards' Redis store switched on for this test."""
    import redis

    r = redis.Redis.from_url(service_url("redis", 6379))
    before = board_store.configuration()
    prefix = f"linli:test:board:{uuid.uuid4().hex}:"
    board_store.configure(r, prefix=prefix)
    yield r
    board_store.configure(*before)
    keys = list(r.scan_iter(match=prefix + "*"))
    if keys:
        r.delete(*keys)
    r.close()


@pytest.fixture(params=["database", pytest.param("redis", marks=pytest.mark.redis)])
def boards_on(request, db):
    """Run the test with the boards on the database alone, then on Redis too."""
    if request.param == "redis":
        yield request.getfixturevalue("board_redis")
    else:
        before = board_store.configuration()
        board_store.configure(None)
        yield None
        board_store.configure(*before)
