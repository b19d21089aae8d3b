"""Community thresholds (社区成团, seed 003): live progress per community, the tier difference
paid back at close, the miss policy, and commission following the rebates."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from linli import events, jobs
from linli.campaigns import closing
from linli.events import OutboxEvent
from tests.campaigns.helpers import add_offer, campaign_shop, create_campaign, resident
from tests.conftest import login
from tests.orders.concurrency import together
from tests.orders.helpers import order, pay

PRICE = 6000
TIERS = [[3, 500], [5, 1500]]


def _third_community(client, shop) -> tuple[int, int]:
    h, mid = shop.owner, shop.merchant_id
    c = client.post(f"/api/v1/merchants/{mid}/communities", json={"name": "金沙湾", "city": "杭州", "lat": 30.3001, "lng": 120.1801}, headers=h).json()
    p = client.post(f"/api/v1/merchants/{mid}/communities/{c['id']}/pickup-points", json={"name": "南门便利店", "address": "南门 8 号", "lat": 30.3002, "lng": 120.1802}, headers=h).json()
    return c["id"], p["id"]


def _threshold(client, shop, clock, miss_policy: str) -> dict:
    c = create_campaign(client, shop, "threshold", clock.current, title="小区满5单每单减15元", tiers=TIERS, miss_policy=miss_policy)
    add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=PRICE)
    return c


def _buy(client, db, shop, c, buyer, point_id) -> dict:
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"], pickup_point_id=point_id)
    assert r.status_code == 201, r.text
    assert r.json()["payable"] == PRICE
    paid = pay(client, db, buyer, r.json()["id"])
    assert paid["status"] == "grouping"  # waits for the close
    return paid


def _progress(client, c, h) -> dict:
    return client.get(f"/api/v1/campaigns/{c['id']}", headers=h).json()["progress"]


def _orders(client, pairs) -> list[dict]:
    return [client.get(f"/api/v1/orders/{o['id']}", headers=h).json() for h, o in pairs]


def _closed_events(db, campaign_id) -> list[dict]:
    with db.transaction() as s:
        rows = s.scalars(select(OutboxEvent).where(OutboxEvent.name == "campaign.closed"))
        return [e.payload for e in rows if e.payload["campaign_id"] == campaign_id]


def _sharer(client, shop, phone: str) -> tuple[dict, str]:
    h = login(client, phone)
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/sharers", json={"phone": phone}, headers=shop.owner).status_code in (200, 201)
    code = client.get("/api/v1/me/invite", params={"merchant_id": shop.merchant_id}, headers=h).json()["code"]
    return h, code


def _bind(client, shop, buyer, code):
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/bindings", json={"invite_code": code}, headers=buyer).status_code == 200


def _earn(client, h, mid) -> dict:
    return client.get("/api/v1/me/earnings", params={"merchant_id": mid}, headers=h).json()


def test_tiers_reached_per_community_are_paid_back_at_close_once(client, db, merchant, clock):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    c_id, c_point = _third_community(client, shop)
    c = _threshold(client, shop, clock, "proceed")
    sharer, code = _sharer(client, shop, "13600000009")
    a = [resident(client, f"1370000030{i}", shop.community_id) for i in range(5)]
    b = [resident(client, f"1370000031{i}", cs.other_community_id) for i in range(3)]
    lone = resident(client, "13700000320", c_id)
    _bind(client, shop, a[0], code)

    # Progress is live and per community: "本小区已有N位邻居下单".
    assert _progress(client, c, a[0]) == {"community_id": shop.community_id, "orders": 0, "tier": None, "next_tier": [3, 500], "orders_to_next": 3, "tiers": TIERS}
    a_orders = [(h, _buy(client, db, shop, c, h, shop.point_id)) for h in a[:4]]
    p = _progress(client, c, a[4])
    assert (p["orders"], p["tier"], p["next_tier"], p["orders_to_next"]) == (4, [3, 500], [5, 1500], 1)
    a_orders.append((a[4], _buy(client, db, shop, c, a[4], shop.point_id)))
    b_orders = [(h, _buy(client, db, shop, c, h, cs.other_point_id)) for h in b]
    c_orders = [(lone, _buy(client, db, shop, c, lone, c_point))]
    p = _progress(client, c, a[0])
    assert (p["orders"], p["tier"], p["next_tier"], p["orders_to_next"]) == (5, [5, 1500], None, 0)
    p = _progress(client, c, b[0])
    assert (p["orders"], p["tier"], p["next_tier"], p["orders_to_next"]) == (3, [3, 500], [5, 1500], 2)
    p = _progress(client, c, lone)
    assert (p["orders"], p["tier"], p["next_tier"], p["orders_to_next"]) == (1, None, [3, 500], 2)
    # Before the close nothing is paid back; commission accrued on the full price.
    assert all(o["refunded"] == 0 for o in _orders(client, a_orders + b_orders + c_orders))
    leader_before = _earn(client, shop.leader, shop.merchant_id)
    assert leader_before["frozen"] == 5 * (PRICE * 1500 // 10000)
    assert [r["amount"] for r in _earn(client, sharer, shop.merchant_id)["records"]] == [PRICE * 2000 // 10000]

    # Not yet at the end: nothing closes.
    jobs.run_due(db, clock.current + timedelta(hours=2))
    assert all(o["status"] == "grouping" for o in _orders(client, a_orders))

    clock.advance(hours=3)
    jobs.run_due(db, clock.current)
    after_a, after_b, after_c = _orders(client, a_orders), _orders(client, b_orders), _orders(client, c_orders)
    assert [(o["status"], o["refunded"]) for o in after_a] == [("paid", 1500)] * 5
    assert [(o["status"], o["refunded"]) for o in after_b] == [("paid", 500)] * 3
    assert [(o["status"], o["refunded"]) for o in after_c] == [("paid", 0)]  # proceed at the base price
    assert after_a[0]["refund_cases"][0]["amount"] == 1500

    # Commission follows the refund rule: floor(rate × (paid − refunded)).
    leader = _earn(client, shop.leader, shop.merchant_id)
    assert leader["frozen"] == 5 * ((PRICE - 1500) * 1500 // 10000)
    assert [r["amount"] for r in _earn(client, sharer, shop.merchant_id)["records"]] == [(PRICE - 1500) * 2000 // 10000]

    # Running again (or after a crash) pays nothing twice.
    jobs.run_due(db, clock.current)
    jobs.run_due(db, clock.current + timedelta(days=1))
    again = _orders(client, a_orders + b_orders + c_orders)
    assert sum(o["refunded"] for o in again) == 5 * 1500 + 3 * 500
    assert all(len(o["refund_cases"]) <= 1 for o in again)
    assert _earn(client, shop.leader, shop.merchant_id)["frozen"] == leader["frozen"]

    closed = _closed_events(db, c["id"])
    assert len(closed) == 1
    ev = closed[0]
    assert (ev["orders"], ev["rebated"], ev["cancelled"], ev["proceeded"], ev["refunded"]) == (9, 8, 0, 1, 5 * 1500 + 3 * 500)
    by_community = {x["community_id"]: (x["orders"], x["tier"], x["outcome"]) for x in ev["communities"]}
    assert by_community == {shop.community_id: (5, [5, 1500], "rebate"), cs.other_community_id: (3, [3, 500], "rebate"), c_id: (1, None, "none")}
    listed = client.get(f"/api/v1/merchants/{shop.merchant_id}/campaigns", params={"kind": "threshold"}, headers=shop.owner).json()
    assert [(x["id"], x["status"]) for x in listed] == [(c["id"], "closed")]
    # The tally stays what the close decided.
    view = client.get(f"/api/v1/campaigns/{c['id']}", headers=a[0]).json()
    assert view["phase"] == "ended" and view["progress"]["orders"] == 5 and view["progress"]["tier"] == [5, 1500]


def test_missed_minimum_under_cancel_refunds_everything_and_commission_to_zero(client, db, merchant, clock):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    c_id, c_point = _third_community(client, shop)
    leader2 = login(client, "13900000002")
    leader2_id = client.get("/api/v1/me", headers=leader2).json()["id"]
    assert client.put(f"/api/v1/merchants/{shop.merchant_id}/communities/{c_id}/leader", json={"member_id": leader2_id}, headers=shop.owner).status_code == 200
    c = _threshold(client, shop, clock, "cancel")
    sharer, code = _sharer(client, shop, "13600000019")
    a = [resident(client, f"1370000040{i}", shop.community_id) for i in range(3)]
    lone = resident(client, "13700000420", c_id)
    _bind(client, shop, lone, code)
    a_orders = [(h, _buy(client, db, shop, c, h, shop.point_id)) for h in a]
    c_orders = [(lone, _buy(client, db, shop, c, lone, c_point))]
    assert _earn(client, leader2, shop.merchant_id)["frozen"] == PRICE * 1500 // 10000
    assert _earn(client, sharer, shop.merchant_id)["frozen"] == PRICE * 2000 // 10000
    offer_sold = client.get(f"/api/v1/campaigns/{c['id']}").json()["offers"][0]["sold"]
    assert offer_sold == 4

    clock.advance(hours=3)
    jobs.run_due(db, clock.current)
    jobs.run_due(db, clock.current)
    assert [(o["status"], o["refunded"]) for o in _orders(client, a_orders)] == [("paid", 500)] * 3
    [missed] = _orders(client, c_orders)
    assert (missed["status"], missed["refunded"], missed["cancel_reason"]) == ("cancelled", PRICE, "refunded")
    assert len(missed["refund_cases"]) == 1
    # The cancelled order earns nothing, for its community's leader nor its sharer.
    for h in (leader2, sharer):
        e = _earn(client, h, shop.merchant_id)
        assert e["frozen"] == 0 and all(r["amount"] == 0 for r in e["records"])
    # Its unit went back to the offer.
    assert client.get(f"/api/v1/campaigns/{c['id']}").json()["offers"][0]["sold"] == 3
    [ev] = _closed_events(db, c["id"])
    assert (ev["rebated"], ev["cancelled"], ev["proceeded"], ev["refunded"]) == (3, 1, 0, 3 * 500 + PRICE)
    # The final tally still shows the order the close decided on.
    p = _progress(client, c, lone)
    assert (p["orders"], p["tier"]) == (1, None)


def test_an_order_paid_just_after_the_end_counts_and_the_close_waits_for_it(client, db, merchant, clock):
    """Orders placed before the end keep their 15-minute payment window: the threshold
    stays ``closing`` until they are paid or expired, then settles with them counted."""
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    c = _threshold(client, shop, clock, "proceed")
    a = [resident(client, f"1370000050{i}", shop.community_id) for i in range(3)]
    paid = [(h, _buy(client, db, shop, c, h, shop.point_id)) for h in a[:2]]
    clock.advance(hours=2, minutes=55)
    r = order(client, a[2], shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 201, r.text
    late_id = r.json()["id"]
    clock.advance(minutes=5)  # the end
    assert problem_code_of(order(client, resident(client, "13700000509", shop.community_id), shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])) == "campaign.ended"
    jobs.run_due(db, clock.current)
    listed = client.get(f"/api/v1/merchants/{shop.merchant_id}/campaigns", headers=shop.owner).json()
    assert listed[0]["status"] == "closing"
    assert all(o["status"] == "grouping" and o["refunded"] == 0 for o in _orders(client, paid))
    clock.advance(minutes=2)
    late = pay(client, db, a[2], late_id)
    assert late["status"] == "grouping"
    jobs.run_due(db, clock.current)
    everyone = _orders(client, paid + [(a[2], late)])
    assert [(o["status"], o["refunded"]) for o in everyone] == [("paid", 500)] * 3
    assert client.get(f"/api/v1/merchants/{shop.merchant_id}/campaigns", headers=shop.owner).json()[0]["status"] == "closed"
    events.drain(db)


def test_concurrent_closers_refund_each_order_once(client, db, merchant, clock):
    """Several schedulers closing at the same instant (and one that stopped half-way):
    every order gets its rebate exactly once and one ``campaign.closed`` is emitted."""
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    c = _threshold(client, shop, clock, "proceed")
    a = [resident(client, f"1370000060{i}", shop.community_id) for i in range(4)]
    bought = [(h, _buy(client, db, shop, c, h, shop.point_id)) for h in a]
    clock.advance(hours=3)
    # A first run that crashed after settling one order.
    with db.transaction() as s:
        assert closing.stop_orders(s, c["id"], clock.current)
    with db.transaction() as s:
        assert closing.settle_order(s, c["id"], bought[0][1]["id"], shop.community_id, 4, clock.current)
    together(4, lambda i: closing.close_due(db, clock.current))
    events.drain(db)
    after = _orders(client, bought)
    assert [(o["status"], o["refunded"], len(o["refund_cases"])) for o in after] == [("paid", 500, 1)] * 4
    assert len(_closed_events(db, c["id"])) == 1


def problem_code_of(r) -> str:
    assert r.status_code == 409, r.text
    return r.json()["code"]
