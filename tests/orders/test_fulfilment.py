from linli import jobs
from tests.conftest import login, problem_code
from tests.orders.helpers import buy, make_shop


def test_leader_verifies_pickup_code(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    # Goods arrive at the point: the leader marks arrival, the order is ready.
    r = client.post(f"/api/v1/pickup-points/{shop.point_id}/arrived", headers=shop.leader)
    assert r.status_code == 200 and r.json()["orders"] == [o["id"]]
    waiting = client.get(f"/api/v1/pickup-points/{shop.point_id}/orders", headers=shop.leader).json()
    assert [w["id"] for w in waiting] == [o["id"]] and waiting[0]["pickup_code"] is None
    r = client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    assert r.status_code == 200, r.text
    got = client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()
    assert got["status"] == "received" and got["received_at"]
    # A used code does not work again.
    r = client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    assert problem_code(r) == "pickup.not_open"


def test_leader_scans_code_at_point(client, db, merchant):
    shop = make_shop(client, merchant)
    o = buy(client, db, login(client, "13700000001"), shop, [(shop.skus["berry"], 1)])
    r = client.post(f"/api/v1/pickup-points/{shop.point_id}/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    assert r.status_code == 200 and r.json()["id"] == o["id"] and r.json()["status"] == "received"
    assert problem_code(client.post(f"/api/v1/pickup-points/{shop.point_id}/verify", json={"code": "12345x"}, headers=shop.leader)) == "pickup.code_unknown"


def test_only_the_points_leader_or_staff_may_verify(client, db, merchant):
    shop = make_shop(client, merchant)
    o = buy(client, db, login(client, "13700000001"), shop, [(shop.skus["berry"], 1)])
    # Another community's leader, and a plain member, are refused.
    other = client.post(f"/api/v1/merchants/{shop.merchant_id}/communities", json={"name": "翠苑一区", "city": "杭州", "lat": 30.29, "lng": 120.13}, headers=shop.owner).json()
    client.post(f"/api/v1/merchants/{shop.merchant_id}/communities/{other['id']}/pickup-points", json={"name": "翠苑点", "address": "12 幢", "lat": 30.29, "lng": 120.13}, headers=shop.owner)
    other_leader = login(client, "13900000002")
    lid = client.get("/api/v1/me", headers=other_leader).json()["id"]
    client.put(f"/api/v1/merchants/{shop.merchant_id}/communities/{other['id']}/leader", json={"member_id": lid}, headers=shop.owner)
    for who in (other_leader, login(client, "13700000002")):
        r = client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=who)
        assert r.status_code == 403 and problem_code(r) == "pickup.not_your_point"
    assert client.get(f"/api/v1/orders/{o['id']}", headers=login(client, "13700000001")).json()["status"] == "paid"
    # Shop staff may.
    assert client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.owner).status_code == 200


def test_wrong_codes_are_limited(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    wrong = "000000" if o["pickup_code"] != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        r = client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": wrong}, headers=shop.leader)
        assert problem_code(r) == "pickup.code_invalid" and r.json()["attempts_left"] == left
    r = client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    assert problem_code(r) == "pickup.locked"
    assert client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.owner).status_code == 200


def test_delivery_updates_and_auto_confirm(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    addr = {"name": "王女士", "phone": "13700000001", "text": "云顶华府 5 幢 1201", "lat": 30.2790, "lng": 120.1580}
    o = buy(client, db, buyer, shop, [(shop.skus["apple"], 2)], pickup_point_id=None, address=addr)
    mid, h = shop.merchant_id, shop.owner
    assert client.post(f"/api/v1/merchants/{mid}/orders/{o['id']}/fulfil", headers=h).json()["status"] == "fulfilling"
    r = client.post(f"/api/v1/merchants/{mid}/orders/{o['id']}/delivery", json={"action": "dispatched", "note": "骑手小王已取货"}, headers=h)
    assert r.json()["status"] == "delivering"
    client.post(f"/api/v1/merchants/{mid}/orders/{o['id']}/delivery", json={"action": "update", "note": "预计 10 分钟送达"}, headers=h)
    got = client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()
    assert got["delivery_note"] == "预计 10 分钟送达"
    assert jobs.run_due(db, clock.advance(days=6))["orders.auto_confirm"] == 0
    assert jobs.run_due(db, clock.advance(days=1, minutes=1))["orders.auto_confirm"] == 1
    got = client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()
    assert got["status"] == "received" and got["timeline"][-1]["action"] == "auto_confirmed"
    assert jobs.run_due(db, clock.advance(days=7, minutes=1))["orders.complete"] == 1
    assert client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()["status"] == "completed"


def test_buyer_confirms_receipt(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    r = client.post(f"/api/v1/orders/{o['id']}/confirm-receipt", headers=buyer)
    assert r.status_code == 409 and problem_code(r) == "order.not_receivable"
    client.post(f"/api/v1/merchants/{shop.merchant_id}/orders/{o['id']}/ready", headers=shop.owner)
    assert client.post(f"/api/v1/orders/{o['id']}/confirm-receipt", headers=buyer).json()["status"] == "received"


def test_merchant_order_list_filters(client, db, merchant):
    shop = make_shop(client, merchant)
    a = buy(client, db, login(client, "13700000001"), shop, [(shop.skus["berry"], 1)])
    client.post("/api/v1/orders", json={"merchant_id": shop.merchant_id, "items": [{"sku_id": shop.skus["apple"], "qty": 1}], "pickup_point_id": shop.point_id}, headers=login(client, "13700000002"))
    base = f"/api/v1/merchants/{shop.merchant_id}/orders"
    assert len(client.get(base, headers=shop.owner).json()) == 2
    assert [o["id"] for o in client.get(base, params={"status": "paid"}, headers=shop.owner).json()] == [a["id"]]
    assert len(client.get(base, params={"pickup_point_id": shop.point_id, "community_id": shop.community_id}, headers=shop.owner).json()) == 2
    assert client.get(base, params={"from": "2030-01-01T00:00:00Z"}, headers=shop.owner).json() == []
    # A member is not staff: 404.
    assert client.get(base, headers=login(client, "13700000001")).status_code == 404


def test_pickup_qr_code_scans_back_to_the_order(client, db, merchant):
    import io

    import zxingcpp
    from PIL import Image

    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    r = client.get(f"/api/v1/orders/{o['id']}/pickup-qr.png", headers=buyer)
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(r.content)))
    assert [d.text for d in decoded] == [f"linli:pickup:{o['id']}:{o['pickup_code']}"]
    # The leader's scanner sends exactly that text.
    r = client.post(f"/api/v1/pickup-points/{shop.point_id}/verify", json={"code": decoded[0].text}, headers=shop.leader)
    assert r.status_code == 200 and r.json()["status"] == "received"
    assert client.get(f"/api/v1/orders/{o['id']}/pickup-qr.png", headers=buyer).status_code == 409
    assert client.get(f"/api/v1/orders/{o['id']}/pickup-qr.png", headers=shop.leader).status_code == 404
