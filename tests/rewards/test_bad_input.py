"""Bad input to the rewards through the API on SQLite and PostgreSQL, in one table: another
member's coupon, an expired or out-of-scope coupon, points over 50% or over the balance, a
top-up over the cap, a percent over 10000 bp. Each is a 4xx problem+json with a stable code
and nothing changes (ledger, balances, coupons, orders, top-ups, templates)."""

from __future__ import annotations

from sqlalchemy import func, select

from linli import events, ledger
from linli.catalog.models import Sku
from linli.ledger import LedgerEntry
from linli.orders.models import Order
from linli.rewards import models
from tests.conftest import login, problem_code
from tests.orders.helpers import buy, make_shop
from tests.rewards.test_points import _complete, _receive


def _state(db):
    with db.transaction() as s:
        counts = tuple(s.scalar(select(func.count()).select_from(m)) for m in (LedgerEntry, Order, models.Topup, models.CouponTemplate, models.OrderRewards))
        balances = sorted(tuple(r) for r in s.execute(select(models.RewardBalance.member_id, models.RewardBalance.points_available, models.RewardBalance.points_pending,
                                                             models.RewardBalance.sv_principal, models.RewardBalance.sv_bonus)))
        coupons = sorted(tuple(r) for r in s.execute(select(models.Coupon.id, models.Coupon.status, models.Coupon.order_id)))
        return counts, balances, coupons


def test_bad_input_is_a_4xx_problem_and_changes_nothing(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    mid, h = shop.merchant_id, shop.owner
    assert client.put(f"/api/v1/merchants/{mid}/reward-settings", json={"points_per_yuan": 10}, headers=h).status_code == 200
    with db.transaction() as s:
        apple = s.get(Sku, shop.skus["apple"]).product_id

    def template(**body):
        base = {"name": "券", "kind": "fixed", "amount": 500, "threshold": 0, "total": 100, "per_member": 5, "valid_days": 30}
        r = client.post(f"/api/v1/merchants/{mid}/coupon-templates", json={**base, **body}, headers=h)
        assert r.status_code == 201, r.text
        return r.json()["id"]

    a, b = login(client, "13700000001"), login(client, "13700000002")
    short, apples_only, plain = template(valid_days=1), template(scope={"products": [apple]}), template()
    claim = lambda t, who: client.post(f"/api/v1/coupons/{t}/claim", headers=who).json()["id"]  # noqa: E731
    expired, scoped, others = claim(short, a), claim(apples_only, a), claim(plain, b)
    o = buy(client, db, a, shop, [(shop.skus["berry2"], 2)])  # 256 元 × 10: 2,560 points
    _receive(client, db, shop, o)
    _complete(db, clock)  # 7 days on: the 1-day coupon has expired
    r = client.post("/api/v1/me/topups", json={"merchant_id": mid, "pay": 490_000}, headers=a)
    assert client.post(f"/api/v1/payments/sandbox/{r.json()['payment_id']}/complete", headers=a).status_code == 202
    events.drain(db)
    a, h = login(client, "13700000001"), login(client, merchant.owner_phone)
    apples = [{"sku_id": shop.skus["apple"], "qty": 1}]  # 29.90 元: points pay at most 1,495
    order = {"merchant_id": mid, "items": apples, "pickup_point_id": shop.point_id}
    cases = [
        ("another member's coupon", "POST", "/api/v1/orders", {**order, "coupon_id": others}, a, 404, "coupon.not_found"),
        ("an expired coupon", "POST", "/api/v1/orders", {**order, "coupon_id": expired}, a, 409, "coupon.not_valid_now"),
        ("an out-of-scope coupon", "POST", "/api/v1/orders", {**order, "items": [{"sku_id": shop.skus["berry"], "qty": 1}], "coupon_id": scoped}, a, 409, "coupon.not_applicable"),
        ("points over 50%", "POST", "/api/v1/orders", {**order, "points": 1496}, a, 422, "points.over_cap"),
        ("points over the balance", "POST", "/api/v1/orders", {**order, "items": [{"sku_id": shop.skus["berry2"], "qty": 5}], "points": 2561}, a, 422, "points.insufficient"),
        ("negative points", "POST", "/api/v1/orders", {**order, "points": -1}, a, 422, None),
        ("a top-up over the cap", "POST", "/api/v1/me/topups", {"merchant_id": mid, "pay": 10_001}, a, 422, "stored_value.over_cap"),
        ("a percent over 10000 bp", "POST", f"/api/v1/merchants/{mid}/coupon-templates",
         {"name": "折", "kind": "percent", "percent_bp": 10_001, "amount": 0, "threshold": 0, "total": 10, "valid_days": 30}, h, 422, "coupon.percent_invalid"),
    ]
    before = _state(db)
    for name, method, url, body, who, status, code in cases:
        r = client.request(method, url, json=body, headers=who)
        assert r.status_code == status, (name, r.text)
        assert r.headers["content-type"].startswith("application/problem+json"), name
        if code is not None:
            assert problem_code(r) == code, (name, r.text)
        assert _state(db) == before, name
    with db.transaction() as s:
        assert ledger.check(s) == []
