"""Replaying every handled event 50 times changes nothing, for EVERY rewards handler (coupon
used and given back, refunds' returns, points earned / available / reversed, a top-up's
credit, growth and levels, the new-member coupon) over one realistic flow through the API
on SQLite and PostgreSQL. Each handler is called directly on every event it has handled,
bypassing the outbox's handled_events: only the handlers' own keys and states stand between
a redelivery and a second grant. (tests/rewards/test_points.py has the points-only one.)"""

from __future__ import annotations

from sqlalchemy import func, select

from linli import events, ledger
from linli.events import OutboxEvent
from linli.ledger import LedgerEntry
from linli.rewards import models
from tests.campaigns.helpers import resident
from tests.conftest import login
from tests.orders.helpers import make_shop, order, pay
from tests.replay import replay_handlers
from tests.rewards.test_points import _complete, _receive, _refund

TABLES = [models.RewardBalance, models.PointsLot, models.Coupon, models.CouponTemplate, models.OrderRewards, models.Topup, models.MemberLevel, models.GrowthEntry]


def _rows(s, model) -> list[tuple]:
    # member_level_states.updated_at is the time of the last recompute (a replayed event
    # recomputes as of its own time): bookkeeping, not a level, growth or review.
    cols = [c for c in model.__table__.columns if not (model is models.MemberLevel and c.key == "updated_at")]
    return sorted(tuple(str(getattr(r, c.key)) for c in cols) for r in s.scalars(select(model)))


def _snapshot(db):
    with db.transaction() as s:
        return (
            s.execute(select(func.count(), func.sum(LedgerEntry.amount * LedgerEntry.id)).select_from(LedgerEntry)).one(),
            {m.__tablename__: _rows(s, m) for m in TABLES},
            s.scalar(select(func.count()).select_from(OutboxEvent)),
        )


def test_replaying_every_rewards_handler_50_times_changes_nothing(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    mid, h = shop.merchant_id, shop.owner
    assert client.put(f"/api/v1/merchants/{mid}/levels", json=[{"name": "银卡", "growth": 5000}, {"name": "金卡", "growth": 20000, "discount_bp": 500}], headers=h).status_code == 200
    welcome = client.post(f"/api/v1/merchants/{mid}/coupon-templates", json={"name": "新人尝鲜券", "kind": "fixed", "amount": 990, "total": 100, "valid_days": 30, "claimable": False}, headers=h).json()
    assert client.put(f"/api/v1/merchants/{mid}/new-member-coupon", json={"template_id": welcome["id"]}, headers=h).status_code == 200
    t = client.post(f"/api/v1/merchants/{mid}/coupon-templates", json={"name": "满50减10", "kind": "threshold", "amount": 1000, "threshold": 5000, "total": 100, "per_member": 2, "valid_days": 30}, headers=h).json()
    assert client.put(f"/api/v1/merchants/{mid}/topup-plans", json=[{"pay": 10_000, "bonus": 1000}], headers=h).status_code == 200
    buyer = resident(client, "13700000001", shop.community_id)  # a new member: the new-member coupon
    events.drain(db)
    code = client.get("/api/v1/me/invite", params={"merchant_id": mid}, headers=shop.leader).json()["code"]
    login(client, "13700000002", invite_code=code)  # bound by the link: the coupon too
    events.drain(db)
    r = client.post("/api/v1/me/topups", json={"merchant_id": mid, "pay": 10_000}, headers=buyer)
    assert client.post(f"/api/v1/payments/sandbox/{r.json()['payment_id']}/complete", headers=buyer).status_code == 202
    events.drain(db)
    c1 = client.post(f"/api/v1/coupons/{t['id']}/claim", headers=buyer).json()["id"]
    c2 = client.post(f"/api/v1/coupons/{t['id']}/claim", headers=buyer).json()["id"]
    # Earn points: bought, received, completed (growth and a level on the way).
    a = order(client, buyer, shop, [(shop.skus["berry2"], 2), (shop.skus["apple"], 1)], coupon_id=c1, stored_value=3000).json()
    a = pay(client, db, buyer, a["id"])
    _receive(client, db, shop, a)
    _complete(db, clock)
    # Spend them with a coupon and stored value; refund in part, then in full.
    b = order(client, buyer, shop, [(shop.skus["berry"], 1), (shop.skus["apple"], 1)], coupon_id=c2, points=100, stored_value=2000).json()
    b = pay(client, db, buyer, b["id"])
    _refund(client, db, shop, buyer, b, 0, 3000)
    _receive(client, db, shop, b)
    _refund(client, db, shop, buyer, b, 0, b["lines"][0]["paid"] - 3000)
    _refund(client, db, shop, buyer, b, 1, b["lines"][1]["paid"])
    _refund(client, db, shop, buyer, a, 0, 5000)
    # An unpaid order cancelled: everything back.
    c = order(client, buyer, shop, [(shop.skus["berry"], 1)], points=10, stored_value=100).json()
    assert client.post(f"/api/v1/orders/{c['id']}/cancel", headers=buyer).status_code == 200
    events.drain(db)
    _complete(db, clock)
    with db.transaction() as s:
        assert ledger.check(s) == []
    before = _snapshot(db)
    ran = replay_handlers(db, "rewards")
    replayed, handlers = {name for _, name in ran}, {key for key, _ in ran}
    assert {"order.paid", "order.received", "order.completed", "order.refunded", "payment.succeeded", "member.bound", "member.community_set"} <= replayed
    assert len(handlers) >= 10, handlers
    after = _snapshot(db)
    for name, rows_before in before[1].items():
        assert after[1][name] == rows_before, name
    assert after == before
    with db.transaction() as s:
        assert ledger.check(s) == []
