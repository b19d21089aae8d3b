"""Leaderboards through the API on SQLite and PostgreSQL, each on the database alone and with
the boards on a real Redis (``boards_on``): ties share a rank with the first to reach the
score listed first, a refunded order leaves the board (and a sale refunded to nothing takes
the member's "reached" time back), a member under a risk hold is left out, a friend counts
once on the referrals board however many programmes rewarded them, community boards, and
after every flow the rebuild from the facts finds no difference; replaying every event 50
times changes no score (in the database or in Redis)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import text

from linli.commission import service as commission
from linli.incentives import board_rebuild
from tests.incentives.board_helpers import Sharer, board, brought, ranks, redis_view, rollup
from tests.incentives.helpers import _complete, _refund, first_order, friend, programme_body, setup
from tests.orders.helpers import make_shop
from tests.replay import replay_handlers

CST = timezone(timedelta(hours=8))
WEEK = datetime(2026, 11, 16, tzinfo=CST)  # the test clock's week (Sunday 22 November, 10:00 in Shanghai)


def _sharers(client, shop, n: int) -> list[Sharer]:
    return [Sharer(client, shop, f"1360000000{i}") for i in range(1, n + 1)]


def _start(body: dict) -> datetime:
    return datetime.fromisoformat(body["period_start"].replace("Z", "+00:00"))


def test_ties_share_a_rank_and_the_first_to_reach_the_score_is_listed_first(client, db, merchant, clock, boards_on):
    shop = make_shop(client, merchant, stock=2000)
    a, b, c, d = _sharers(client, shop, 4)
    brought(client, db, shop, c, "berry2")  # 12,800 fen
    clock.advance(minutes=1)
    brought(client, db, shop, b, "berry")  # 6,800 first…
    clock.advance(minutes=1)
    brought(client, db, shop, a, "berry")  # …then a reaches 6,800 too (a has the lower id)
    clock.advance(minutes=1)
    brought(client, db, shop, d, "apple")  # 2,990
    mid = shop.merchant_id
    body = board(client, mid, period="week", metric="gmv")
    assert ranks(body) == [(1, c.id, 12800), (2, b.id, 6800), (2, a.id, 6800), (4, d.id, 2990)]
    assert [e["phone_masked"] for e in body["entries"]] == ["136****0003", "136****0002", "136****0001", "136****0004"]
    assert all(e["name"] and "1360000000" not in e["name"] for e in body["entries"])
    assert _start(body) == WEEK and body["scope"] == "merchant"
    month = board(client, mid, period="month", metric="gmv")
    assert ranks(month) == ranks(body) and _start(month) == datetime(2026, 11, 1, tzinfo=CST)
    assert ranks(board(client, mid, period="week", metric="gmv", community_id=shop.community_id)) == ranks(body)
    clock.advance(minutes=1)
    brought(client, db, shop, d, "berry")  # d climbs to 9,790: second, and the two at 6,800 share third
    assert ranks(board(client, mid, metric="gmv")) == [(1, c.id, 12800), (2, d.id, 9790), (3, b.id, 6800), (3, a.id, 6800)]
    assert board(client, mid, metric="gmv", at="2026-11-15T23:59:59+08:00")["entries"] == []  # the week before
    assert board_rebuild.rebuild(db, clock()) == 0


def test_a_refunded_order_leaves_the_board_and_gives_back_when_the_score_was_reached(client, db, merchant, clock, boards_on):
    shop = make_shop(client, merchant, stock=2000)
    a, b = _sharers(client, shop, 2)
    brought(client, db, shop, a, "berry")  # a: 6,800 at t0
    clock.advance(minutes=1)
    brought(client, db, shop, b, "berry")  # b: 6,800 at t1
    clock.advance(minutes=1)
    buyer, late = brought(client, db, shop, a, "apple")  # a: 9,790 at t2
    mid = shop.merchant_id
    assert ranks(board(client, mid)) == [(1, a.id, 9790), (2, b.id, 6800)]
    _refund(client, db, shop, buyer, late, 0, 2990)  # refunded to nothing: a is back to 6,800, reached at t0, before b
    assert ranks(board(client, mid)) == [(1, a.id, 6800), (1, b.id, 6800)]
    assert board_rebuild.rebuild(db, clock()) == 0


def test_a_fully_refunded_sharer_is_not_listed_and_a_partial_refund_lowers_the_score(client, db, merchant, clock, boards_on):
    shop = make_shop(client, merchant, stock=2000)
    a, b = _sharers(client, shop, 2)
    a_buyer, a_order = brought(client, db, shop, a, "berry")
    clock.advance(minutes=1)
    b_buyer, b_order = brought(client, db, shop, b, "berry")
    mid = shop.merchant_id
    _refund(client, db, shop, a_buyer, a_order, 0, 6800)
    assert ranks(board(client, mid)) == [(1, b.id, 6800)]
    _refund(client, db, shop, b_buyer, b_order, 0, 1000)
    assert ranks(board(client, mid)) == [(1, b.id, 5800)]
    assert ranks(board(client, mid, period="month", community_id=shop.community_id)) == [(1, b.id, 5800)]
    assert board_rebuild.rebuild(db, clock()) == 0


def test_a_member_under_a_risk_hold_is_left_out_and_the_others_rank_without_them(client, db, merchant, clock, boards_on):
    shop = make_shop(client, merchant, stock=2000)
    a, b, c = _sharers(client, shop, 3)
    brought(client, db, shop, a, "berry2")
    clock.advance(minutes=1)
    brought(client, db, shop, b, "berry")
    clock.advance(minutes=1)
    brought(client, db, shop, c, "berry")
    mid = shop.merchant_id
    with db.transaction() as s:
        commission.hold(s, mid, a.id, "risk:test", clock())
    assert ranks(board(client, mid)) == [(1, b.id, 6800), (1, c.id, 6800)]
    assert a.id not in [e["member_id"] for e in board(client, mid, community_id=shop.community_id)["entries"]]
    with db.transaction() as s:
        commission.release_hold(s, mid, a.id, "risk:test", clock())
    assert ranks(board(client, mid)) == [(1, a.id, 12800), (2, b.id, 6800), (2, c.id, 6800)]


def test_granted_referrals_count_each_friend_once_in_the_period_of_the_grant(client, db, merchant, clock, boards_on):
    p = setup(client, merchant, clock)
    mid = p.shop.merchant_id
    second = programme_body(p.shop, clock, p.percent_template, name="邻里第二计划", inviter_reward={"kind": "points", "amount": 100}, invitee_reward=None, milestones=[])
    assert client.post(f"/api/v1/merchants/{mid}/referral-programmes", json=second, headers=p.shop.owner).status_code == 201
    for i in range(3):
        first_order(client, db, p, friend(client, db, p, i))
    assert board(client, mid, metric="referrals")["entries"] == []  # pending: not granted yet
    _complete(db, clock)  # granted a week later: counted in the week of the grant
    body = board(client, mid, metric="referrals")
    assert ranks(body) == [(1, p.inviter_id, 3)]  # three friends, though two programmes rewarded each
    assert _start(body) == WEEK + timedelta(days=7)
    assert ranks(board(client, mid, metric="referrals", period="month")) == [(1, p.inviter_id, 3)]
    assert ranks(board(client, mid, metric="referrals", community_id=p.shop.community_id)) == [(1, p.inviter_id, 3)]
    assert board(client, mid, metric="referrals", at="2026-11-22T10:00:00+08:00")["entries"] == []
    assert ranks(board(client, mid, metric="gmv", at="2026-11-22T10:00:00+08:00")) == [(1, p.inviter_id, 3 * 6800)]
    assert board_rebuild.rebuild(db, clock()) == 0


def test_a_corrupted_rollup_row_is_found_and_repaired_by_the_rebuild(client, db, merchant, clock, boards_on):
    shop = make_shop(client, merchant, stock=2000)
    a, b = _sharers(client, shop, 2)
    brought(client, db, shop, a, "berry")
    clock.advance(minutes=1)
    brought(client, db, shop, b, "apple")
    before = ranks(board(client, shop.merchant_id))
    assert board_rebuild.rebuild(db, clock()) == 0
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE incentive_board_scores SET score = score + 100000 WHERE member_id = :m AND period = 'week' AND scope = 'merchant'"), {"m": b.id})
        conn.execute(text("DELETE FROM incentive_board_scores WHERE member_id = :m AND period = 'month' AND scope = 'community'"), {"m": a.id})
    assert board_rebuild.rebuild(db, clock()) == 2  # the two rows (Redis was written from the committed rows, before the damage)
    assert board_rebuild.rebuild(db, clock()) == 0
    assert ranks(board(client, shop.merchant_id)) == before
    assert ranks(board(client, shop.merchant_id, period="month", community_id=shop.community_id)) == before


def test_replaying_every_event_50_times_changes_no_score(client, db, merchant, clock, boards_on):
    p = setup(client, merchant, clock)
    buyers = [friend(client, db, p, i) for i in range(3)]
    orders = [first_order(client, db, p, f) for f in buyers]
    _refund(client, db, p.shop, buyers[0], orders[0], 0, 1000)
    _refund(client, db, p.shop, buyers[1], orders[1], 0, 6800)
    _complete(db, clock)
    before = rollup(db), redis_view(boards_on)
    assert {r[2] for r in before[0]} == {"gmv", "referrals"}
    assert boards_on is None or len(before[1]) >= 8  # with Redis, the boards are there to compare
    handlers = {key for key, _ in replay_handlers(db, "incentives")}
    assert {"linli.incentives.handlers.sale_received", "linli.incentives.handlers.sale_refunded", "linli.incentives.handlers.referral_granted"} <= handlers
    assert (rollup(db), redis_view(boards_on)) == before
    assert board_rebuild.rebuild(db, clock()) == 0
