"""Points earned on orders through the API on SQLite and PostgreSQL (RULES.md "Points"):
pending on receipt, available when the after-sales window closes, reversed exactly per line
by refunds (also after the points were spent: the balance goes negative, redemption is
blocked, the next earning repays), expired once with one reminder 30 days before, the
statement and wallet showing each step; replaying every event changes nothing, and
``ledger check`` holds after every flow."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from sqlalchemy import func, select

from linli import events, jobs, ledger
from linli.errors import Invalid
from linli.events import OutboxEvent
from linli.ledger import LedgerEntry, LedgerTransfer
from linli.rewards import settings as reward_settings
from linli.rewards.models import PointsLot, RewardBalance, RewardSettings
from linli.rewards.rules import SETTINGS
from tests.conftest import login, problem_code
from tests.e2e.conftest import LiveServer
from tests.merchants import new_merchant
from tests.orders.concurrency import together
from tests.orders.helpers import buy, make_shop, order, pay
from tests.replay import replay_handlers

UTC = timezone.utc
# Earned on 22 November 2026 (the test clock): expires at the end of 2027, Shanghai time.
EXPIRES = datetime(2027, 12, 31, 16, 0, tzinfo=UTC)


def _check(db) -> None:
    with db.transaction() as s:
        assert ledger.check(s) == []


def _receive(client, db, shop, o) -> None:
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/orders/{o['id']}/ready", headers=shop.owner).status_code == 200
    r = client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    assert r.status_code == 200, r.text
    events.drain(db)


def _complete(db, clock) -> None:
    jobs.run_due(db, clock.advance(days=7, minutes=1))


def _refund(client, db, shop, buyer, o, line_index: int, amount: int) -> dict:
    line = o["lines"][line_index]
    r = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": line["id"], "amount": amount}], "reason": "坏果"}, headers=buyer)
    assert r.status_code == 201, r.text
    case = r.json()
    if case["status"] == "requested":  # not a quick refund: the shop approves it
        assert client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{case['id']}/approve", headers=shop.owner).status_code == 200
    events.drain(db)
    _check(db)
    return case


def _wallet(client, shop, buyer) -> dict:
    r = client.get("/api/v1/me/wallet", params={"merchant_id": shop.merchant_id}, headers=buyer)
    assert r.status_code == 200, r.text
    return r.json()["points"]


def _points(client, shop, buyer) -> tuple[int, int]:
    w = _wallet(client, shop, buyer)
    return w["pending"], w["available"]


def _statement(client, shop, buyer) -> list[tuple[str, int | None, int, int]]:
    r = client.get("/api/v1/me/points", params={"merchant_id": shop.merchant_id}, headers=buyer)
    assert r.status_code == 200, r.text
    return [(m["reason"], m["order_id"], m["pending"], m["available"]) for m in r.json()]


def _lots(db, order_id: int) -> list[tuple[int, int, int, str]]:
    with db.transaction() as s:
        return [(lot.amount, lot.remaining, lot.reversed, lot.state) for lot in s.scalars(select(PointsLot).where(PointsLot.order_id == order_id).order_by(PointsLot.line_id))]


def test_points_are_pending_on_receipt_and_available_when_the_window_closes(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1), (shop.skus["apple"], 2)])  # 68.00 + 59.80 元
    assert _points(client, shop, buyer) == (0, 0)  # paid is not received
    _receive(client, db, shop, o)
    assert _points(client, shop, buyer) == (68 + 59, 0)
    _check(db)
    _complete(db, clock)
    w = _wallet(client, shop, buyer)
    assert (w["pending"], w["available"], w["expiring"]) == (0, 127, [])
    with db.transaction() as s:
        assert {lot.expires_at for lot in s.scalars(select(PointsLot))} == {EXPIRES}
    assert _statement(client, shop, buyer) == [("available", o["id"], -127, 127), ("earned", o["id"], 59, 0), ("earned", o["id"], 68, 0)]
    _check(db)


def test_the_rate_is_the_merchants_setting(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    r = client.put(f"/api/v1/merchants/{shop.merchant_id}/reward-settings", json={"points_per_yuan": 3, "points_expiry_years": 0}, headers=shop.owner)
    assert r.status_code == 200 and r.json() == {"points_per_yuan": 3, "points_expiry_years": 0}
    buyer = login(client, "13700000001")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    _receive(client, db, shop, o)
    _complete(db, clock)
    assert _points(client, shop, buyer) == (0, 204)
    with db.transaction() as s:
        assert [lot.expires_at for lot in s.scalars(select(PointsLot))] == [None]  # 0 years: never


def test_partial_and_full_refunds_reverse_exactly_per_line(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1), (shop.skus["apple"], 1)])  # 68 + 29 points
    _refund(client, db, shop, buyer, o, 0, 1000)  # before receipt: the grant counts it
    _receive(client, db, shop, o)
    assert _lots(db, o["id"]) == [(68, 58, 10, "pending"), (29, 29, 0, "pending")]
    # Cumulative floor: 68 × 1333 / 6800 = 13.33 → 13 so far; 68 × 1666 / 6800 = 16.66 → 16.
    _refund(client, db, shop, buyer, o, 0, 333)
    _refund(client, db, shop, buyer, o, 0, 333)
    assert _lots(db, o["id"])[0] == (68, 52, 16, "pending")
    _refund(client, db, shop, buyer, o, 0, 6800 - 1666)  # the rest of the line: exactly what it earned
    assert _lots(db, o["id"]) == [(68, 0, 68, "reversed"), (29, 29, 0, "pending")]
    assert _points(client, shop, buyer) == (29, 0)
    _complete(db, clock)
    assert _points(client, shop, buyer) == (0, 29)
    _refund(client, db, shop, buyer, o, 1, 1500)  # after the window: from available, 29 × 1500 / 2990 = 14.5 → 14
    assert _points(client, shop, buyer) == (0, 15)
    _refund(client, db, shop, buyer, o, 1, 1490)
    assert _points(client, shop, buyer) == (0, 0)
    assert _lots(db, o["id"]) == [(68, 0, 68, "reversed"), (29, 0, 29, "available")]
    reasons = [(m[0], m[2], m[3]) for m in _statement(client, shop, buyer)]
    assert reasons == [("reversed", 0, -15), ("reversed", 0, -14), ("available", -29, 29), ("reversed", -52, 0), ("reversed", -3, 0), ("reversed", -3, 0),
                       ("earned", 29, 0), ("earned", 58, 0)]


def test_a_refund_after_the_points_were_spent_goes_negative_blocks_redemption_and_the_next_earning_repays(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    a = buy(client, db, buyer, shop, [(shop.skus["berry2"], 1)])  # 128.00 元: 128 points
    _receive(client, db, shop, a)
    _complete(db, clock)
    b = order(client, buyer, shop, [(shop.skus["berry"], 1)], points=100)
    assert b.status_code == 201 and b.json()["payable"] == 6700, b.text
    pay(client, db, buyer, b.json()["id"])
    assert _points(client, shop, buyer) == (0, 28)
    _refund(client, db, shop, buyer, a, 0, 12800)  # all of A: its 128 points come back, 100 of them spent
    assert _points(client, shop, buyer) == (0, -100)
    assert _lots(db, a["id"]) == [(128, -100, 128, "available")]
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], points=1)
    assert r.status_code == 422 and problem_code(r) == "points.insufficient"
    c = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])  # 68 points: pays 68 of the debt
    _receive(client, db, shop, c)
    _complete(db, clock)
    assert _points(client, shop, buyer) == (0, -32)
    assert [lot[1] for lot in _lots(db, a["id"]) + _lots(db, c["id"])] == [-32, 0]
    d = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    _receive(client, db, shop, d)
    _complete(db, clock)
    assert _points(client, shop, buyer) == (0, 36)
    assert [lot[1] for lot in _lots(db, a["id"]) + _lots(db, c["id"]) + _lots(db, d["id"])] == [0, 0, 36]
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], points=36)
    assert r.status_code == 201, r.text
    assert _points(client, shop, buyer) == (0, 0)
    assert _statement(client, shop, buyer)[:2] == [("redeemed", r.json()["id"], 0, -36), ("available", d["id"], -68, 68)]
    _check(db)


def _expiring_events(db) -> list[dict]:
    with db.transaction() as s:
        return [p for p in s.scalars(select(OutboxEvent.payload).where(OutboxEvent.name == "rewards.points_expiring").order_by(OutboxEvent.id))]


def test_points_expire_once_with_one_reminder_30_days_before(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1), (shop.skus["apple"], 1)])
    _receive(client, db, shop, o)
    _complete(db, clock)
    spent = order(client, buyer, shop, [(shop.skus["apple"], 1)], points=20)  # both lots expire together
    assert spent.status_code == 201, spent.text
    pay(client, db, buyer, spent.json()["id"])
    jobs.run_due(db, EXPIRES - timedelta(days=31))
    assert _expiring_events(db) == []
    for _ in range(2):
        jobs.run_due(db, EXPIRES - timedelta(days=30))
    assert _expiring_events(db) == [{"merchant_id": shop.merchant_id, "member_id": o["member_id"], "points": 77, "expires_at": EXPIRES.isoformat(), "v": 1}]
    clock.current = EXPIRES - timedelta(days=10)
    buyer, shop.owner = login(client, "13700000001"), login(client, merchant.owner_phone)  # new sessions, a year on
    assert _wallet(client, shop, buyer)["expiring"] == [{"points": 77, "expires_at": EXPIRES.isoformat().replace("+00:00", "Z")}]
    jobs.run_due(db, EXPIRES - timedelta(seconds=1))
    assert _points(client, shop, buyer) == (0, 77)
    for _ in range(2):
        jobs.run_due(db, EXPIRES)
    assert _points(client, shop, buyer) == (0, 0)
    assert len(_expiring_events(db)) == 1
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(LedgerTransfer).where(LedgerTransfer.kind == "points_expire")) == 2  # one per lot
    assert [m[0] for m in _statement(client, shop, buyer)[:2]] == ["expired", "expired"]
    _check(db)
    # A refund of a line whose points expired takes them back from what expired, not from the member.
    _refund(client, db, shop, buyer, o, 1, 2990)  # the apple's 29 points: none spent (the 20 came from the older lot)
    assert _points(client, shop, buyer) == (0, 0)
    assert _lots(db, o["id"])[1] == (29, 0, 29, "expired")


def test_a_refund_of_points_spent_and_expired_reverses_both(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])  # 68 points
    _receive(client, db, shop, o)
    _complete(db, clock)
    spent = order(client, buyer, shop, [(shop.skus["apple"], 1)], points=40)
    pay(client, db, buyer, spent.json()["id"])
    jobs.run_due(db, EXPIRES)  # the other 28 expire
    clock.current = EXPIRES
    buyer, shop.owner = login(client, "13700000001"), login(client, merchant.owner_phone)
    _refund(client, db, shop, buyer, o, 0, 6800)
    assert _points(client, shop, buyer) == (0, -40)  # the 40 spent are owed; the 28 expired come back from expired
    assert _lots(db, o["id"]) == [(68, -40, 68, "available")]


def _later(fn, seconds: float = 0.03) -> int:
    time.sleep(seconds)  # let the checkouts get going first
    fn()
    return 0


def test_a_reversal_racing_real_redemptions_is_never_skipped(app, client, db, merchant, clock):
    """A refund's reversal handled while the member redeems points in ten concurrent checkouts:
    no deadlock and no 500, every point either redeemed or reversed, the ledger balanced."""
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    a = buy(client, db, buyer, shop, [(shop.skus["berry2"], 2)])  # 256 points
    _receive(client, db, shop, a)
    _complete(db, clock)
    shop.owner = login(client, merchant.owner_phone)
    r = client.post(f"/api/v1/orders/{a['id']}/refunds", json={"lines": [{"line_id": a["lines"][0]["id"], "amount": 25600}], "reason": "坏果"}, headers=buyer)
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{r.json()['id']}/approve", headers=shop.owner).status_code == 200
    body = {"merchant_id": shop.merchant_id, "items": [{"sku_id": shop.skus["berry"], "qty": 1}], "pickup_point_id": shop.point_id, "points": 20}
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            codes = together(11, lambda i: _later(lambda: events.drain(db)) if i == 0 else http.post("/api/v1/orders", json=body, headers=buyer).status_code)
    finally:
        server.stop()
    events.drain(db)
    placed = codes[1:].count(201)
    assert set(codes[1:]) <= {201, 409, 422}, codes
    assert _points(client, shop, buyer) == (0, -20 * placed)
    _check(db)


def _snapshot(db):
    with db.transaction() as s:
        return (
            s.execute(select(func.count(), func.sum(LedgerEntry.amount * LedgerEntry.id)).select_from(LedgerEntry)).one(),
            sorted(tuple(r) for r in s.execute(select(RewardBalance.member_id, RewardBalance.points_pending, RewardBalance.points_available, RewardBalance.sv_principal, RewardBalance.sv_bonus))),
            sorted(tuple(r) for r in s.execute(select(PointsLot.id, PointsLot.remaining, PointsLot.reversed, PointsLot.expired, PointsLot.state, PointsLot.expires_at, PointsLot.reminded_at))),
            s.scalar(select(func.count()).select_from(OutboxEvent)),
        )


def test_replaying_every_handled_event_50_times_changes_nothing(client, db, merchant, clock):
    """Each rewards handler is run again on every event it has handled, bypassing the
    outbox's handled_events (a redelivery that guard did not catch): only the handlers'
    own keys stand between a replay and a second grant."""
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    a = buy(client, db, buyer, shop, [(shop.skus["berry2"], 1), (shop.skus["apple"], 1)])
    _refund(client, db, shop, buyer, a, 1, 700)
    _receive(client, db, shop, a)
    _refund(client, db, shop, buyer, a, 0, 999)
    _complete(db, clock)
    b = order(client, buyer, shop, [(shop.skus["berry"], 1)], points=100).json()
    pay(client, db, buyer, b["id"])
    _refund(client, db, shop, buyer, a, 0, 12800 - 999)
    _refund(client, db, shop, buyer, b, 0, 2000)
    jobs.run_due(db, EXPIRES - timedelta(days=30))
    jobs.run_due(db, EXPIRES)
    _check(db)
    before = _snapshot(db)
    replayed = {name for _, name in replay_handlers(db, "rewards")}
    jobs.run_due(db, EXPIRES)
    assert {"order.paid", "order.received", "order.completed", "order.refunded"} <= replayed
    assert _snapshot(db) == before
    _check(db)


def test_settings_out_of_bounds_are_refused_with_a_code(client, db, merchant):
    url = f"/api/v1/merchants/{merchant.id}/reward-settings"
    assert client.get(url, headers=merchant.owner).json() == SETTINGS.defaults() == {"points_per_yuan": 1, "points_expiry_years": 1}
    for body in ({"points_per_yuan": 11}, {"points_per_yuan": -1}, {"points_expiry_years": 6}):
        r = client.put(url, json=body, headers=merchant.owner)
        assert r.status_code == 422 and problem_code(r) == "validation.invalid", body
    assert client.get(url, headers=merchant.owner).json() == SETTINGS.defaults()
    assert client.post(f"/api/v1/merchants/{merchant.id}/staff", json={"phone": "13800000009", "role": "operator"}, headers=merchant.owner).status_code == 201
    operator = login(client, "13800000009")
    assert client.get(url, headers=operator).status_code == 200
    r = client.put(url, json={"points_per_yuan": 2}, headers=operator)
    assert r.status_code == 403 and problem_code(r) == "auth.role_forbidden"
    r = client.get(url, headers=login(client, "13700000009"))
    assert r.status_code == 404 and problem_code(r) == "merchant.not_found"


def test_the_service_refuses_a_setting_out_of_bounds_and_writes_nothing(db):
    mid, owner = new_merchant(db)
    with db.transaction() as s:
        with pytest.raises(Invalid) as e:
            reward_settings.put(s, owner, mid, {"points_per_yuan": 2, "points_expiry_years": 9})
        assert e.value.code == "rewards.settings_invalid" and e.value.extra == {"field": "points_expiry_years", "lo": 0, "hi": 5}
        s.flush()
        assert s.get(RewardSettings, mid) is None
    with db.transaction() as s:
        assert reward_settings.put(s, owner, mid, {"points_per_yuan": 2}).points_per_yuan == 2


def test_points_spent_then_returned_after_their_lot_expired_are_not_taken_twice(client, db, merchant, clock):
    """Found by review: A's points all spent on B, A's lot past its date, B refunded (its
    points come back to A's lot and then expire), A refunded: the reversal takes them from
    expired, so the member owes nothing."""
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    a = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])  # 68 points
    _receive(client, db, shop, a)
    _complete(db, clock)
    b = order(client, buyer, shop, [(shop.skus["berry2"], 1)], points=68)
    assert b.status_code == 201, b.text
    b = pay(client, db, buyer, b.json()["id"])
    assert _points(client, shop, buyer) == (0, 0)
    jobs.run_due(db, EXPIRES)  # A's lot is past its date holding nothing
    clock.current = EXPIRES
    buyer, shop.owner = login(client, "13700000001"), login(client, merchant.owner_phone)
    _refund(client, db, shop, buyer, b, 0, 12_800 - 68)  # all of B: its 68 redeemed points come back to A's lot
    jobs.run_due(db, clock.advance(minutes=5))  # and expire with it
    assert _points(client, shop, buyer) == (0, 0)
    _refund(client, db, shop, buyer, a, 0, 6800)
    assert _points(client, shop, buyer) == (0, 0)  # not -68: what expired is taken from expired
    _check(db)
