from linli import events
from tests.conftest import login, problem_code
from tests.orders.helpers import buy, make_shop, order, pay


def test_member_buys_and_pays_through_sandbox(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    r = order(client, buyer, shop, [(shop.skus["berry"], 2), (shop.skus["apple"], 1)])
    assert r.status_code == 201, r.text
    o = r.json()
    assert o["status"] == "pending_payment"
    assert o["payable"] == 2 * 6800 + 2990
    assert sum(line["paid"] for line in o["lines"]) == o["payable"]
    assert o["community_id"] == shop.community_id
    paid = pay(client, db, buyer, o["id"])
    assert paid["status"] == "paid"
    assert len(paid["pickup_code"]) == 6 and paid["pickup_code"].isdigit()
    assert [t["action"] for t in paid["timeline"]][:2] == ["created", "paid"]
    stock = {k["id"]: k["stock"] for k in client.get(f"/api/v1/merchants/{shop.merchant_id}/products", headers=shop.owner).json()[1]["skus"]}
    assert stock[shop.skus["berry"]] == 98


def test_idempotency_key_returns_first_response_once(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    body = {"merchant_id": shop.merchant_id, "items": [{"sku_id": shop.skus["berry"], "qty": 1}], "pickup_point_id": shop.point_id}
    first = client.post("/api/v1/orders", json=body, headers={**buyer, "Idempotency-Key": "k-1"})
    again = client.post("/api/v1/orders", json=body, headers={**buyer, "Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert len(client.get("/api/v1/me/orders", headers=buyer).json()) == 1
    other = dict(body, items=[{"sku_id": shop.skus["berry"], "qty": 2}])
    r = client.post("/api/v1/orders", json=other, headers={**buyer, "Idempotency-Key": "k-1"})
    assert r.status_code == 409 and problem_code(r) == "idempotency.key_reused"


def test_bad_orders_are_refused_without_partial_state(client, db, merchant, admin):
    shop = make_shop(client, merchant, stock=3)
    other = client.post("/api/v1/merchants", json={"name": "别家店", "owner_phone": "13800000009"}, headers=admin).json()
    other_owner = login(client, "13800000009")
    foreign = client.post(f"/api/v1/merchants/{other['id']}/products", json={"name": "别家货", "category": "杂货", "skus": [{"name": "件", "price": 100, "stock": 5}]}, headers=other_owner).json()
    buyer = login(client, "13700000001")
    cases = [
        ([(999999, 1)], {}, "order.sku_unknown"),
        ([(foreign["skus"][0]["id"], 1)], {}, "order.sku_unknown"),
        ([(shop.skus["berry"], 0)], {}, "order.qty_invalid"),
        ([(shop.skus["berry"], -2)], {}, "order.qty_invalid"),
        ([(shop.skus["berry"], 100)], {}, "order.qty_over_limit"),
        ([(shop.skus["apple"], 1), (shop.skus["berry"], 4)], {}, "stock.sold_out"),
        ([(shop.skus["berry"], 1)], {"pickup_point_id": None}, "order.fulfilment_required"),
        ([(shop.skus["berry"], 1)], {"campaign_id": 5}, "campaign.not_found"),
        ([(shop.skus["berry"], 1)], {"coupon_id": 5}, "coupon.not_found"),
        ([(shop.skus["berry"], 1)], {"points": 100}, "points.insufficient"),
    ]
    for items, extra, code in cases:
        r = order(client, buyer, shop, items, **extra)
        assert 400 <= r.status_code < 500, (code, r.text)
        assert problem_code(r) == code
    assert client.get("/api/v1/me/orders", headers=buyer).json() == []
    skus = {k["id"]: k["stock"] for p in client.get(f"/api/v1/merchants/{shop.merchant_id}/products", headers=shop.owner).json() for k in p["skus"]}
    assert skus[shop.skus["apple"]] == 3 and skus[shop.skus["berry"]] == 3


def test_delivery_only_within_three_km(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    near = {"name": "王女士", "phone": "13700000001", "text": "云顶华府 5 幢 1201", "lat": 30.2800, "lng": 120.1600}
    far = dict(near, lat=30.40, lng=120.30)
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], pickup_point_id=None, address=near)
    assert r.status_code == 201, r.text
    assert r.json()["address"]["text"] == "云顶华府 5 幢 1201"
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], pickup_point_id=None, address=far)
    assert problem_code(r) == "order.out_of_delivery_range"


def test_per_member_limit(client, db, merchant):
    shop = make_shop(client, merchant, limit=2)
    buyer = login(client, "13700000001")
    assert order(client, buyer, shop, [(shop.skus["berry"], 1), (shop.skus["berry2"], 1)]).status_code == 201
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)])
    assert r.status_code == 409 and problem_code(r) == "order.member_limit"
    # Someone else is not limited by it.
    assert order(client, login(client, "13700000002"), shop, [(shop.skus["berry"], 2)]).status_code == 201


def test_unpaid_order_expires_and_stock_returns(client, db, merchant, clock):
    from linli import jobs

    shop = make_shop(client, merchant, stock=1)
    buyer = login(client, "13700000001")
    o = order(client, buyer, shop, [(shop.skus["berry"], 1)]).json()
    assert problem_code(order(client, login(client, "13700000002"), shop, [(shop.skus["berry"], 1)])) == "stock.sold_out"
    result = jobs.run_due(db, clock.advance(minutes=16))
    assert result["orders.expire_unpaid"] == 1
    assert jobs.run_due(db, clock())["orders.expire_unpaid"] == 0
    assert client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()["status"] == "cancelled"
    r = client.post(f"/api/v1/orders/{o['id']}/pay", headers=buyer)
    assert r.status_code == 409 and problem_code(r) == "order.cancelled"
    assert order(client, login(client, "13700000002"), shop, [(shop.skus["berry"], 1)]).status_code == 201


def test_paying_after_expiry_is_refused_and_order_cancelled(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = order(client, buyer, shop, [(shop.skus["berry"], 1)]).json()
    clock.advance(minutes=15, seconds=1)
    r = client.post(f"/api/v1/orders/{o['id']}/pay", headers=buyer)
    assert r.status_code == 409 and problem_code(r) == "order.expired"
    assert client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()["status"] == "cancelled"


def test_late_payment_is_refunded_not_fulfilled(client, db, merchant, clock):
    from linli import jobs

    shop = make_shop(client, merchant, stock=1)
    buyer = login(client, "13700000001")
    o = order(client, buyer, shop, [(shop.skus["berry"], 1)]).json()
    pid = client.post(f"/api/v1/orders/{o['id']}/pay", headers=buyer).json()["payment_id"]
    # The buyer confirms just before the deadline, but the callback is processed after
    # the expiry job released the stock to someone else.
    assert client.post(f"/api/v1/payments/sandbox/{pid}/complete", headers=buyer).status_code == 202
    jobs.run_due(db, clock.advance(minutes=16), dispatch=False)
    assert order(client, login(client, "13700000002"), shop, [(shop.skus["berry"], 1)]).status_code == 201
    events.drain(db)
    got = client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()
    assert got["status"] == "cancelled"
    assert "late_payment_refunded" in [t["action"] for t in got["timeline"]]
    payment = client.get(f"/api/v1/payments/{pid}", headers=buyer).json()
    assert payment["status"] == "succeeded" and payment["refunded"] == payment["amount"]


def test_buyer_cancels_unpaid_order(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = order(client, buyer, shop, [(shop.skus["berry"], 1)]).json()
    assert client.post(f"/api/v1/orders/{o['id']}/cancel", headers=buyer).json()["status"] == "cancelled"
    paid = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    assert problem_code(client.post(f"/api/v1/orders/{paid['id']}/cancel", headers=buyer)) == "order.not_cancellable"


def test_other_members_cannot_see_or_pay_my_order(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = order(client, buyer, shop, [(shop.skus["berry"], 1)]).json()
    stranger = login(client, "13700000002")
    assert client.get(f"/api/v1/orders/{o['id']}", headers=stranger).status_code == 404
    assert client.post(f"/api/v1/orders/{o['id']}/pay", headers=stranger).status_code == 404
