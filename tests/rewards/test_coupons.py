"""Coupons through the API on SQLite and PostgreSQL: an operator's templates and counts,
claims within the total and the per-member limit under real concurrency, and a coupon's life
with its order (locked at checkout, used at payment, back on an unpaid cancel or a full
refund, kept on a partial one)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import httpx
from sqlalchemy import event, func, select, update

from linli import events, ledger
from linli.rewards import coupons
from linli.rewards.models import Coupon, CouponTemplate
from tests.conftest import login, problem_code
from tests.e2e.conftest import LiveServer
from tests.orders.concurrency import together
from tests.orders.helpers import make_shop, order, pay


def _template(client, shop, **body):
    base = {"name": "满50减10", "kind": "threshold", "amount": 1000, "threshold": 5000, "total": 100, "per_member": 1, "valid_days": 30}
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/coupon-templates", json={**base, **body}, headers=shop.owner)
    assert r.status_code == 201, r.text
    return r.json()


def _count(db, stmt) -> int:
    with db.transaction() as s:
        return s.scalar(stmt)


def test_an_operator_creates_templates_and_sees_their_counts(client, merchant):
    shop = make_shop(client, merchant)
    t = _template(client, shop)
    assert (t["kind"], t["amount"], t["threshold"], t["issued"]) == ("threshold", 1000, 5000, 0)
    buyer = login(client, "13700000001")
    assert client.post(f"/api/v1/coupons/{t['id']}/claim", headers=buyer).status_code == 201
    listed = client.get(f"/api/v1/merchants/{shop.merchant_id}/coupons", headers=shop.owner).json()
    assert [(x["id"], x["issued"], x["used"]) for x in listed] == [(t["id"], 1, 0)]


def test_bad_templates_are_refused_with_a_code(client, merchant):
    shop = make_shop(client, merchant)
    h, mid = shop.owner, shop.merchant_id
    cases = [
        ({"kind": "percent", "percent_bp": 10_001, "amount": 0, "threshold": 0}, "coupon.percent_invalid"),
        ({"kind": "threshold", "amount": 6000, "threshold": 5000}, "coupon.threshold_invalid"),
        ({"kind": "gift", "gift_sku_id": 999_999}, "coupon.gift_sku_unknown"),
        ({"valid_days": None, "valid_to": None}, "coupon.validity_required"),
        ({"per_member": 0}, "coupon.per_member_invalid"),
        ({"total": 0}, "coupon.total_invalid"),
        ({"scope": {"products": [999_999]}}, "coupon.scope_unknown"),
    ]
    base = {"name": "券", "kind": "threshold", "amount": 1000, "threshold": 5000, "total": 100, "valid_days": 30}
    for body, code in cases:
        r = client.post(f"/api/v1/merchants/{mid}/coupon-templates", json={**base, **body}, headers=h)
        assert r.status_code in (400, 422) and problem_code(r) == code, (body, r.text)
    assert client.get(f"/api/v1/merchants/{mid}/coupons", headers=h).json() == []
    stranger = login(client, "13700000009")
    r = client.post(f"/api/v1/merchants/{mid}/coupon-templates", json=base, headers=stranger)
    assert r.status_code == 404 and problem_code(r) == "merchant.not_found"  # not staff: the shop is not revealed


def test_claims_respect_the_per_member_limit_and_the_total(client, merchant):
    shop = make_shop(client, merchant)
    t = _template(client, shop, total=3, per_member=2)
    a, b = login(client, "13700000001"), login(client, "13700000002")
    assert client.post(f"/api/v1/coupons/{t['id']}/claim", headers=a).status_code == 201
    assert client.post(f"/api/v1/coupons/{t['id']}/claim", headers=a).status_code == 201
    r = client.post(f"/api/v1/coupons/{t['id']}/claim", headers=a)
    assert r.status_code == 409 and problem_code(r) == "coupon.member_limit"
    assert client.post(f"/api/v1/coupons/{t['id']}/claim", headers=b).status_code == 201
    r = client.post(f"/api/v1/coupons/{t['id']}/claim", headers=b)
    assert r.status_code == 409 and problem_code(r) == "coupon.sold_out"
    mine = client.get("/api/v1/me/coupons", params={"merchant_id": shop.merchant_id}, headers=a).json()
    assert [c["status"] for c in mine] == ["unused", "unused"]


def test_a_sold_out_template_is_refused_alike_from_memory_and_a_raised_total_is_seen_after_the_ttl(client, db, merchant, monkeypatch):
    shop = make_shop(client, merchant)
    t = _template(client, shop, total=1)
    a, b, c = (login(client, f"1370000000{i}") for i in (1, 2, 3))
    claim = f"/api/v1/coupons/{t['id']}/claim"
    assert client.post(claim, headers=a).status_code == 201
    from_db = client.post(claim, headers=b)
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        remembered = client.post(claim, headers=c)
        anonymous = client.post(claim)
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert (from_db.status_code, remembered.status_code) == (409, 409) and problem_code(remembered) == "coupon.sold_out"
    assert remembered.content == from_db.content and remembered.headers["content-type"] == from_db.headers["content-type"]
    assert not [q for q in statements if "coupon" in q.lower()], statements  # answered without the database
    assert anonymous.status_code == 401  # who asks is still checked first
    # Another process raises the total: this one answers from memory until the TTL is up.
    with db.transaction() as s:
        s.execute(update(CouponTemplate).where(CouponTemplate.id == t["id"]).values(total=2))
    assert client.post(claim, headers=c).status_code == 409
    later = time.monotonic() + coupons.SOLD_OUT_TTL_S
    monkeypatch.setattr(coupons, "time", SimpleNamespace(monotonic=lambda: later))
    assert client.post(claim, headers=c).status_code == 201


def test_concurrent_claims_issue_exactly_the_total_and_nobody_holds_two(app, client, db, merchant):
    shop = make_shop(client, merchant)
    t = _template(client, shop, total=10, per_member=1)
    buyers = [login(client, f"137{i:08d}") for i in range(1, 21)]
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            # 20 members, each claiming twice at the same instant: 40 requests for 10 coupons.
            codes = together(40, lambda i: http.post(f"/api/v1/coupons/{t['id']}/claim", headers=buyers[i % 20]).status_code)
    finally:
        server.stop()
    assert codes.count(201) == 10 and codes.count(409) == 30
    assert _count(db, select(func.count()).select_from(Coupon).where(Coupon.template_id == t["id"])) == 10
    assert _count(db, select(CouponTemplate.issued).where(CouponTemplate.id == t["id"])) == 10
    assert _count(db, select(func.max(select(func.count()).select_from(Coupon).where(Coupon.template_id == t["id"]).group_by(Coupon.member_id).subquery().c[0]))) == 1


def _claim(client, t, buyer) -> int:
    r = client.post(f"/api/v1/coupons/{t['id']}/claim", headers=buyer)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _coupon(client, shop, buyer, cid):
    return next(c for c in client.get("/api/v1/me/coupons", params={"merchant_id": shop.merchant_id}, headers=buyer).json() if c["id"] == cid)


def test_a_coupon_is_locked_at_checkout_used_at_payment_and_discounts_exactly(client, db, merchant):
    shop = make_shop(client, merchant)
    t = _template(client, shop)  # 满50减10
    buyer = login(client, "13700000001")
    cid = _claim(client, t, buyer)
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], coupon_id=cid)  # 68.00 元
    assert r.status_code == 201, r.text
    o = r.json()
    assert o["payable"] == 5800
    assert _coupon(client, shop, buyer, cid)["status"] == "locked"
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], coupon_id=cid)  # one coupon, one order
    assert r.status_code == 409 and problem_code(r) == "coupon.in_use"
    pay(client, db, buyer, o["id"])
    assert _coupon(client, shop, buyer, cid)["status"] == "used"
    listed = client.get(f"/api/v1/merchants/{shop.merchant_id}/coupons", headers=shop.owner).json()
    assert listed[0]["used"] == 1


def test_the_discount_goes_to_the_lines_in_scope(client, db, merchant):
    shop = make_shop(client, merchant)
    with db.transaction() as s:
        from linli.catalog.models import Sku

        berry_product = s.get(Sku, shop.skus["berry"]).product_id
    t = _template(client, shop, kind="fixed", amount=1000, threshold=0, scope={"products": [berry_product]})
    buyer = login(client, "13700000001")
    cid = _claim(client, t, buyer)
    o = order(client, buyer, shop, [(shop.skus["berry"], 1), (shop.skus["apple"], 1)], coupon_id=cid).json()
    got = client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()
    paid = {ln["sku_id"]: ln["paid"] for ln in got["lines"]}
    assert paid == {shop.skus["berry"]: 5800, shop.skus["apple"]: 2990}


def test_an_order_that_misses_the_threshold_or_names_another_members_coupon_is_refused_unchanged(client, db, merchant):
    shop = make_shop(client, merchant)
    t = _template(client, shop, threshold=9000, amount=1000)
    a, b = login(client, "13700000001"), login(client, "13700000002")
    cid = _claim(client, t, a)
    r = order(client, a, shop, [(shop.skus["berry"], 1)], coupon_id=cid)
    assert r.status_code == 409 and problem_code(r) == "coupon.not_applicable"
    r = order(client, b, shop, [(shop.skus["berry"], 2)], coupon_id=cid)
    assert r.status_code == 404 and problem_code(r) == "coupon.not_found"
    assert _coupon(client, shop, a, cid)["status"] == "unused"
    assert client.get("/api/v1/me/orders", headers=a).json() == [] or all(o["status"] != "pending_payment" for o in client.get("/api/v1/me/orders", headers=a).json())


def test_cancelled_unpaid_the_coupon_is_unused_again(client, db, merchant):
    shop = make_shop(client, merchant)
    t = _template(client, shop)
    buyer = login(client, "13700000001")
    cid = _claim(client, t, buyer)
    o = order(client, buyer, shop, [(shop.skus["berry"], 1)], coupon_id=cid).json()
    assert client.post(f"/api/v1/orders/{o['id']}/cancel", headers=buyer).status_code == 200
    assert _coupon(client, shop, buyer, cid)["status"] == "unused"
    assert order(client, buyer, shop, [(shop.skus["berry"], 1)], coupon_id=cid).status_code == 201


def test_twenty_concurrent_orders_with_one_coupon_only_one_gets_it(app, client, db, merchant):
    shop = make_shop(client, merchant)
    t = _template(client, shop)
    buyer = login(client, "13700000001")
    cid = _claim(client, t, buyer)
    body = {"merchant_id": shop.merchant_id, "items": [{"sku_id": shop.skus["berry"], "qty": 1}], "pickup_point_id": shop.point_id, "coupon_id": cid}
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            codes = together(20, lambda i: http.post("/api/v1/orders", json=body, headers=buyer).status_code)
    finally:
        server.stop()
    assert codes.count(201) == 1 and codes.count(409) == 19
    events.drain(db)
    with db.transaction() as s:
        assert ledger.check(s) == []
