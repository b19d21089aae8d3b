"""Fixtures of the campaign tests: the flash-sale gate on a real Redis, or off."""

from __future__ import annotations

import uuid

import pytest

from linli.campaigns import flash
from tests.services import service_url


@pytest.fixture
def gate(db):
    """The Redis gate switched on, under a key prefix of this test's own (removed after)."""
    import redis

    url = service_url("redis", 6379)
    r = redis.Redis.from_url(url)
    before = flash.configuration()
    prefix = f"linli:test:flash:{uuid.uuid4().hex}:"
    flash.configure(r, prefix=prefix)
    yield r
    flash.configure(*before)
    keys = list(r.scan_iter(match=prefix + "*"))
    if keys:
        r.delete(*keys)
    r.close()


@pytest.fixture
def no_gate(db):
    before = flash.configuration()
    flash.configure(None)
    yield
    flash.configure(*before)
