"""Real concurrent HTTP requests against a live server (on SQLite and PostgreSQL; the
PostgreSQL run is the one that proves the compare-and-set guards)."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from linli import events
from linli.catalog.models import Sku
from linli.orders.models import Order, OrderAudit
from linli.payments import service as payments
from linli.payments.models import Payment
from tests.conftest import login
from tests.e2e.conftest import LiveServer
from tests.orders.concurrency import together
from tests.orders.helpers import buy, make_shop


def _count(db, stmt) -> int:
    with db.transaction() as s:
        return s.scalar(stmt)


def test_fifty_buyers_ten_units_exactly_ten_orders(app, client, db, merchant):
    shop = make_shop(client, merchant, stock=10)
    buyers = [login(client, f"137{i:08d}") for i in range(1, 51)]
    body = {"merchant_id": shop.merchant_id, "items": [{"sku_id": shop.skus["berry"], "qty": 1}], "pickup_point_id": shop.point_id}
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            codes = together(50, lambda i: http.post("/api/v1/orders", json=body, headers=buyers[i]).status_code)
    finally:
        server.stop()
    assert codes.count(201) == 10
    assert codes.count(409) == 40
    assert _count(db, select(func.count()).select_from(Order)) == 10
    assert _count(db, select(Sku.stock).where(Sku.id == shop.skus["berry"])) == 0


def test_concurrent_duplicate_callbacks_have_one_effect(app, client, db, merchant, clock):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = client.post("/api/v1/orders", json={"merchant_id": shop.merchant_id, "items": [{"sku_id": shop.skus["berry"], "qty": 1}], "pickup_point_id": shop.point_id}, headers=buyer).json()
    pid = client.post(f"/api/v1/orders/{o['id']}/pay", headers=buyer).json()["payment_id"]
    with db.transaction() as s:
        ref, amount = s.get(Payment, pid).gateway_ref, s.get(Payment, pid).amount
    raw, sig = payments.gateway().completion(ref, amount, clock())
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            results = together(20, lambda i: http.post("/api/v1/payments/callback", content=raw, headers={"Linli-Signature": sig, "Content-Type": "application/json"}))
    finally:
        server.stop()
    assert [r.status_code for r in results] == [200] * 20
    events.drain(db)
    got = client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()
    assert got["status"] == "paid"
    assert _count(db, select(func.count()).select_from(OrderAudit).where(OrderAudit.order_id == o["id"], OrderAudit.action == "paid")) == 1


def test_concurrent_refund_requests_never_exceed_paid(app, client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])  # paid 6800
    line_id = o["lines"][0]["id"]
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            codes = together(20, lambda i: http.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": line_id, "amount": 1000}], "reason": f"第{i}次"}, headers=buyer).status_code)
    finally:
        server.stop()
    assert codes.count(201) == 6 and codes.count(409) == 14
    line = client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()["lines"][0]
    assert line["refunded"] <= line["paid"]


def test_multi_line_carts_in_opposite_order_never_deadlock(app, client, db, merchant):
    shop = make_shop(client, merchant, stock=100)
    buyers = [login(client, f"137{i:08d}") for i in range(1, 31)]
    a, b = shop.skus["berry"], shop.skus["apple"]

    def cart(i):
        items = [(a, 1), (b, 1)] if i % 2 else [(b, 1), (a, 1)]
        body = {"merchant_id": shop.merchant_id, "items": [{"sku_id": s, "qty": q} for s, q in items], "pickup_point_id": shop.point_id}
        return http.post("/api/v1/orders", json=body, headers=buyers[i]).status_code

    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            codes = together(30, cart)
    finally:
        server.stop()
    assert codes == [201] * 30
    assert _count(db, select(Sku.stock).where(Sku.id == a)) == 70
    assert _count(db, select(Sku.stock).where(Sku.id == b)) == 70
