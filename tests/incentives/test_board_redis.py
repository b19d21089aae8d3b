"""Leaderboards on a real Redis, on SQLite and PostgreSQL: the sorted sets are written after
commit from the committed rows and read by the API (a damaged set changes what it answers,
and the rebuild finds and repairs it); the answer equals the database's; a transaction that
rolls back leaves Redis as it was; an older version never overwrites a newer one; a board
Redis lost (flushed, expired) is answered from the database and loaded whole again by the
next change; a change Redis failed to take, or one made inside a savepoint (which may still
roll back), is answered from the database and its board dropped and reloaded at the next
write."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import select

from linli.incentives import board_rebuild, board_store, boards
from linli.incentives.board_rules import BoardKey, Metric, Period, Scope, member_key, period_start
from linli.incentives.models import BoardScore
from tests.incentives.board_helpers import board, brought, ranks, shop_with_sales, without_redis

pytestmark = pytest.mark.redis


def _week(mid: int, clock) -> BoardKey:
    return BoardKey(mid, Scope.merchant, 0, Metric.gmv, Period.week, period_start(Period.week, clock()))


def _flow(client, db, merchant, clock):
    shop, (a, b, c) = shop_with_sales(client, db, merchant, clock, "1360000001", ["berry", "berry", "berry2"])
    return shop, a, b, c


def test_the_api_reads_the_sorted_set_written_after_commit_and_the_rebuild_repairs_it(client, db, merchant, clock, board_redis):
    shop, a, b, c = _flow(client, db, merchant, clock)
    mid = shop.merchant_id
    store = board_store.current()
    z, v = store.keys(_week(mid, clock))
    assert [m.decode() for m in board_redis.zrange(z, 0, -1)] == [member_key(c.id), member_key(a.id), member_key(b.id)]
    assert board_redis.hget(v, "_") == b"1" and board_redis.ttl(z) > 0
    with_redis = board(client, mid)
    with without_redis():
        assert board(client, mid) == with_redis  # the same answer from the database
    assert board_rebuild.rebuild(db, clock()) == 0
    board_redis.zrem(z, member_key(c.id))  # damage Redis behind the database's back
    assert [e["member_id"] for e in board(client, mid)["entries"]] == [a.id, b.id]  # the API really reads Redis
    assert board_rebuild.rebuild(db, clock()) == 1
    assert board(client, mid) == with_redis
    assert board_rebuild.rebuild(db, clock()) == 0


def test_a_board_redis_lost_is_read_from_the_database_and_loaded_whole_by_the_next_change(client, db, merchant, clock, board_redis):
    shop, a, b, c = _flow(client, db, merchant, clock)
    mid = shop.merchant_id
    store = board_store.current()
    k = _week(mid, clock)
    before = board(client, mid)
    board_redis.delete(*store.keys(k))  # expired, or Redis was flushed
    assert board(client, mid) == before
    clock.advance(minutes=1)
    brought(client, db, shop, a, "apple")  # one member moves: the whole board is loaded again
    assert [m.decode() for m in board_redis.zrange(store.keys(k)[0], 0, -1)] == [member_key(c.id), member_key(a.id), member_key(b.id)]
    assert ranks(board(client, mid)) == [(1, c.id, 12800), (2, a.id, 9790), (3, b.id, 6800)]
    assert board_rebuild.rebuild(db, clock()) == 0


def test_a_rolled_back_change_never_reaches_redis_and_an_older_version_never_wins(client, db, merchant, clock, board_redis):
    shop, a, b, c = _flow(client, db, merchant, clock)
    mid = shop.merchant_id
    store = board_store.current()
    k = _week(mid, clock)
    z = store.keys(k)[0]
    before = board_redis.zrange(z, 0, -1, withscores=True)
    with pytest.raises(RuntimeError), db.transaction() as s:
        boards._add(s, k, b.id, 100_000, clock())
        boards._copy_after_commit(s, [k], b.id, clock())
        raise RuntimeError("crash before commit")
    assert board_redis.zrange(z, 0, -1, withscores=True) == before
    with db.transaction() as s:
        row = s.scalars(select(BoardScore).where(*boards.where(k), BoardScore.member_id == b.id)).one()
        stale = board_store.Row(b.id, 1, row.reached_at, row.version - 1)
    assert store.write(k, [stale], 3600) == 0  # a copy racing in late, of an older version
    assert board_redis.zrange(z, 0, -1, withscores=True) == before
    assert board_rebuild.rebuild(db, clock()) == 0


def test_a_change_redis_failed_to_take_is_never_served_stale_and_its_board_is_reloaded(client, db, merchant, clock, board_redis, monkeypatch):
    shop, a, b, c = _flow(client, db, merchant, clock)
    mid = shop.merchant_id
    store = board_store.current()
    z = store.keys(_week(mid, clock))[0]

    def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Redis went away")

    real = store.write
    monkeypatch.setattr(store, "write", down)
    clock.advance(minutes=1)
    brought(client, db, shop, b, "berry2")  # b climbs to 19,600: Redis misses it
    monkeypatch.setattr(store, "write", real)
    assert store.paused() and len(store.dirty) == 4  # the week's and the month's, shop and community
    assert ranks(board(client, mid))[0] == (1, b.id, 19600)  # paused: the database answers
    store._paused_until = 0.0  # the pause is over
    assert ranks(board(client, mid))[0] == (1, b.id, 19600)  # still the database here: the board is dirty
    assert [m.decode() for m in board_redis.zrange(z, 0, 0)] == [member_key(c.id)]  # the stale copy another process could read…
    clock.advance(minutes=1)
    brought(client, db, shop, a, "apple")  # …until the next write reaches Redis: dropped, then loaded whole
    assert not store.dirty
    assert [m.decode() for m in board_redis.zrange(z, 0, -1)] == [member_key(b.id), member_key(c.id), member_key(a.id)]
    assert ranks(board(client, mid)) == [(1, b.id, 19600), (2, c.id, 12800), (3, a.id, 9790)]
    assert board_rebuild.rebuild(db, clock()) == 0


def test_a_change_inside_a_savepoint_never_reaches_redis_as_read_but_drops_the_board(client, db, merchant, clock, board_redis):
    shop, a, b, c = _flow(client, db, merchant, clock)
    store = board_store.current()
    k = _week(shop.merchant_id, clock)
    z = store.keys(k)[0]
    with db.transaction() as s:
        with s.begin_nested() as sp:
            boards._add(s, k, b.id, 100_000, clock())
            boards._copy_after_commit(s, [k], b.id, clock())
            sp.rollback()  # the savepoint is undone; the transaction commits
    assert board_redis.zscore(z, member_key(b.id)) is not None and k in store.dirty
    assert ranks(board(client, shop.merchant_id)) == [(1, c.id, 12800), (2, a.id, 6800), (2, b.id, 6800)]  # the database here
    clock.advance(minutes=1)
    brought(client, db, shop, a, "apple")
    assert not store.dirty and [m.decode() for m in board_redis.zrange(z, 0, -1)] == [member_key(c.id), member_key(a.id), member_key(b.id)]
    assert board_rebuild.rebuild(db, clock()) == 0
