from linli import jobs
from tests.conftest import login, problem_code
from tests.orders.helpers import buy, make_shop


def _received(client, db, shop, buyer, items):
    o = buy(client, db, buyer, shop, items)
    client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    return client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()


def test_quick_refund_for_bad_fruit_within_48h(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = _received(client, db, shop, buyer, [(shop.skus["berry"], 2)])
    line = o["lines"][0]
    r = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": line["id"], "amount": 1500}], "reason": "两颗草莓压坏了"}, headers=buyer)
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "refunded" and r.json()["auto_approved"] is True
    got = client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()
    assert got["lines"][0]["refunded"] == 1500 and got["refunded"] == 1500
    # After 48 h the same small request waits for staff.
    clock.advance(hours=49)
    r = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": line["id"], "amount": 1000}], "reason": "又坏了一颗"}, headers=buyer)
    assert r.json()["status"] == "requested"


def test_staff_review_approve_and_reject(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = _received(client, db, shop, buyer, [(shop.skus["berry"], 2)])
    line = o["lines"][0]
    big = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": line["id"], "amount": 6800}], "reason": "整盒变质", "photos": ["uploads/1/a.jpg"]}, headers=buyer).json()
    assert big["status"] == "requested"
    mid = shop.merchant_id
    pending = client.get(f"/api/v1/merchants/{mid}/refunds", params={"status": "requested"}, headers=shop.owner).json()
    assert [c["id"] for c in pending] == [big["id"]]
    r = client.post(f"/api/v1/merchants/{mid}/refunds/{big['id']}/reject", json={"reason": "照片看不出问题"}, headers=shop.owner)
    assert r.json()["status"] == "rejected"
    assert problem_code(client.post(f"/api/v1/merchants/{mid}/refunds/{big['id']}/approve", headers=shop.owner)) == "refund.already_decided"
    again = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": line["id"], "amount": 6800}], "reason": "补拍了照片"}, headers=buyer).json()
    r = client.post(f"/api/v1/merchants/{mid}/refunds/{again['id']}/approve", json={"note": "同意"}, headers=shop.owner)
    assert r.json()["status"] == "refunded"
    got = client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()
    assert got["refunded"] == 6800 and got["status"] == "received"


def test_refund_never_exceeds_paid(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = _received(client, db, shop, buyer, [(shop.skus["berry"], 1)])
    line = o["lines"][0]
    url = f"/api/v1/orders/{o['id']}/refunds"
    r = client.post(url, json={"lines": [{"line_id": line["id"], "amount": 6801}], "reason": "全退"}, headers=buyer)
    assert r.status_code == 409 and problem_code(r) == "refund.exceeds_paid" and r.json()["refundable"] == 6800
    assert client.post(url, json={"lines": [{"line_id": line["id"], "amount": 5000}], "reason": "部分"}, headers=buyer).status_code == 201
    r = client.post(url, json={"lines": [{"line_id": line["id"], "amount": 1801}], "reason": "再退"}, headers=buyer)
    assert problem_code(r) == "refund.exceeds_paid" and r.json()["refundable"] == 1800
    for body, code in [
        ({"lines": [{"line_id": line["id"], "amount": 0}], "reason": "x"}, "refund.amount_invalid"),
        ({"lines": [{"line_id": 999999, "amount": 10}], "reason": "x"}, "refund.line_unknown"),
        ({"lines": [{"line_id": line["id"], "amount": 10}], "reason": "  "}, "refund.reason_required"),
    ]:
        assert problem_code(client.post(url, json=body, headers=buyer)) == code
    assert client.post(url, json={"lines": [{"line_id": line["id"], "amount": 10}], "reason": "x"}, headers=login(client, "13700000002")).status_code == 404


def test_full_refund_before_fulfilment_cancels_and_restocks(client, db, merchant):
    shop = make_shop(client, merchant, stock=5)
    buyer = login(client, "13700000001")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 2)])
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": 13600}], "reason": "不想要了"}, headers=buyer).json()
    client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{case['id']}/approve", headers=shop.owner)
    got = client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()
    assert got["status"] == "cancelled" and got["cancel_reason"] == "refunded"
    stock = {k["id"]: k["stock"] for p in client.get(f"/api/v1/merchants/{shop.merchant_id}/products", headers=shop.owner).json() for k in p["skus"]}
    assert stock[shop.skus["berry"]] == 5


def test_refund_of_unpaid_order_refused(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = client.post("/api/v1/orders", json={"merchant_id": shop.merchant_id, "items": [{"sku_id": shop.skus["berry"], "qty": 1}], "pickup_point_id": shop.point_id}, headers=buyer).json()
    r = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": 100}], "reason": "x"}, headers=buyer)
    assert problem_code(r) == "refund.not_paid"


def test_open_case_delays_completion(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = _received(client, db, shop, buyer, [(shop.skus["berry"], 1)])
    clock.advance(hours=49)
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": 100}], "reason": "少了一颗"}, headers=buyer).json()
    assert jobs.run_due(db, clock.advance(days=8))["orders.complete"] == 0
    owner = login(client, merchant.owner_phone)  # a week later: log in again
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{case['id']}/reject", json={"reason": "数量无误"}, headers=owner)
    assert r.status_code == 200
    assert jobs.run_due(db, clock())["orders.complete"] == 1
