"""``linli leaderboard rebuild`` on SQLite and PostgreSQL, without Redis and with a real one:
after the incremental upkeep it finds 0 differences; a rollup row or a Redis sorted set
damaged on purpose is found (a count above 0) and repaired, so a second run finds 0. It
always exits 0 (the count is the answer)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from linli.campaigns.flash_sale import gate as flash
from linli.cli import app as cli_app
from linli.config import get_settings
from linli.incentives import board_store
from linli.incentives.board_rules import BoardKey, Metric, Period, Scope, member_key, period_start
from tests.incentives.board_helpers import Sharer, board, brought, ranks
from tests.incentives.helpers import _refund
from tests.orders.helpers import make_shop
from tests.services import service_url

runner = CliRunner()


@pytest.fixture
def cli_env(db, monkeypatch):
    """The command's environment points at this test's database; whatever its start-up
    configures (the flash gate, the boards' store) is put back afterwards."""
    monkeypatch.setenv("LINLI_DATABASE_URL", db.url)
    monkeypatch.delenv("LINLI_REDIS_URL", raising=False)
    get_settings.cache_clear()
    flash_before, boards_before = flash.configuration(), board_store.configuration()
    yield monkeypatch
    get_settings.cache_clear()
    flash.configure(*flash_before)
    board_store.configure(*boards_before)


def _rebuild(*args: str) -> int:
    r = runner.invoke(cli_app, ["leaderboard", "rebuild", *args])
    assert r.exit_code == 0, r.output
    m = re.search(r"(\d+) differences", r.output)
    assert m, r.output
    return int(m.group(1))


def _flow(client, db, merchant, clock):
    shop = make_shop(client, merchant, stock=2000)
    a, b = (Sharer(client, shop, f"1360000005{i}") for i in range(2))
    brought(client, db, shop, a, "berry2")
    clock.advance(minutes=1)
    buyer, o = brought(client, db, shop, b, "berry")
    _refund(client, db, shop, buyer, o, 0, 800)
    return shop, a, b


def test_the_rebuild_finds_nothing_after_the_upkeep_and_repairs_a_damaged_rollup_row(client, db, merchant, clock, cli_env):
    board_store.configure(None)
    shop, a, b = _flow(client, db, merchant, clock)
    before = ranks(board(client, shop.merchant_id))
    assert before == [(1, a.id, 12800), (2, b.id, 6000)]
    assert _rebuild() == 0
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE incentive_board_scores SET score = 1 WHERE member_id = :m AND period = 'week' AND scope = 'merchant'"), {"m": a.id})
    assert ranks(board(client, shop.merchant_id))[0] == (1, b.id, 6000)  # the damage shows
    assert _rebuild("--merchant", str(shop.merchant_id)) == 1
    assert _rebuild() == 0
    assert ranks(board(client, shop.merchant_id)) == before


@pytest.mark.redis
def test_with_redis_the_rebuild_repairs_a_damaged_sorted_set(client, db, merchant, clock, cli_env):
    import redis

    url = service_url("redis", 6379)
    cli_env.setenv("LINLI_REDIS_URL", url)
    r = redis.Redis.from_url(url)
    board_store.configure(r)  # the default prefix, as the command's own start-up sets it
    pattern = f"{board_store.PREFIX}{{{merchant.id}}}:*"
    stale = list(r.scan_iter(match=pattern))
    if stale:
        r.delete(*stale)
    try:
        shop, a, b = _flow(client, db, merchant, clock)
        assert _rebuild() == 0
        k = BoardKey(shop.merchant_id, Scope.merchant, 0, Metric.gmv, Period.week, period_start(Period.week, clock()))
        z = board_store.current().keys(k)[0]
        r.zadd(z, {member_key(b.id): -(10**6) * (1 << 22)})  # b "leads" in Redis only
        assert ranks(board(client, shop.merchant_id))[0][1] == b.id
        assert _rebuild() == 1
        assert _rebuild() == 0
        assert ranks(board(client, shop.merchant_id)) == [(1, a.id, 12800), (2, b.id, 6000)]
    finally:
        keys = list(r.scan_iter(match=pattern))
        if keys:
            r.delete(*keys)
        r.close()
