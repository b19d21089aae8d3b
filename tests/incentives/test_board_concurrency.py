"""Under real concurrency (threads released together; PostgreSQL for real, SQLite taking its
writer turns), on the database alone and with Redis: 20 receipts of one sharer's friends
handled at once all land on the board — the score is their sum, ``reached_at`` the latest
receipt — and Redis, copied by 20 commits racing each other, ends on the newest rows (each
member moves only to a newer version): the rebuild finds no difference."""

from __future__ import annotations

from linli.incentives import board_rebuild
from tests.incentives.board_helpers import board, ranks, redis_view, without_redis
from tests.incentives.helpers import first_order, friend, setup
from tests.incentives.test_concurrency import _hold, _run_together


def test_concurrent_receipts_of_one_sharer_add_up_on_the_board_and_in_redis(client, db, merchant, clock, monkeypatch, boards_on):
    p = setup(client, merchant, clock)
    held = _hold(monkeypatch, "order.received")
    for i in range(20):
        first_order(client, db, p, friend(client, db, p, i))
        clock.advance(seconds=1)
    mid = p.shop.merchant_id
    assert board(client, mid)["entries"] == []
    _run_together(db, "order.received", held)
    body = board(client, mid)
    assert ranks(body) == [(1, p.inviter_id, 20 * 6800)]
    with without_redis():
        assert board(client, mid) == body
    assert board_rebuild.rebuild(db, clock()) == 0
    assert boards_on is None or redis_view(boards_on)
