"""Threshold close when buyers have refund requests under review, or a rebate covers an
order's whole price: nobody loses a rebate, nobody gets goods for nothing, and a rebate
never cancels a paid order."""

from __future__ import annotations

from datetime import timedelta

from linli import jobs
from tests.campaigns.helpers import add_offer, campaign_shop, create_campaign, resident
from tests.orders.helpers import order, pay


def _buy(client, db, shop, c, h, sku, price):
    r = order(client, h, shop, [(sku, 1)], campaign_id=c["id"], pickup_point_id=shop.point_id)
    assert r.status_code == 201, r.text
    assert r.json()["payable"] == price
    p = pay(client, db, h, r.json()["id"])
    assert p["status"] == "grouping"
    return p




def test_a_rebate_covering_the_whole_order_keeps_the_order_going(client, db, merchant, clock):
    shop = campaign_shop(client, merchant).shop
    c = create_campaign(client, shop, "threshold", clock.current, tiers=[[2, 1500]], miss_policy="proceed")
    add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=6000)
    add_offer(client, shop, c["id"], sku_id=shop.skus["apple"], price=1000)
    a = resident(client, "13700000401", shop.community_id)
    b = resident(client, "13700000402", shop.community_id)
    oa = _buy(client, db, shop, c, a, shop.skus["apple"], 1000)
    _buy(client, db, shop, c, b, shop.skus["berry"], 6000)
    clock.advance(hours=3)
    jobs.run_due(db, clock.current)
    got = client.get(f"/api/v1/orders/{oa['id']}", headers=a).json()
    assert got["status"] != "cancelled", "community reached the tier, yet the cheap order was cancelled (goods not delivered)"

    assert got["refunded"] == 1000


def test_a_rebate_waits_for_a_pending_refund_decision(client, db, merchant, clock):
    shop = campaign_shop(client, merchant).shop
    c = create_campaign(client, shop, "threshold", clock.current, tiers=[[2, 1500]], miss_policy="proceed")
    add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=6000)
    a = resident(client, "13700000411", shop.community_id)
    b = resident(client, "13700000412", shop.community_id)
    oa = _buy(client, db, shop, c, a, shop.skus["berry"], 6000)
    _buy(client, db, shop, c, b, shop.skus["berry"], 6000)
    line = oa["lines"][0]
    case = client.post(f"/api/v1/orders/{oa['id']}/refunds", json={"lines": [{"line_id": line["id"], "amount": 6000}], "reason": "不想要了"}, headers=a)
    assert case.status_code == 201, case.text
    assert case.json()["status"] == "requested"
    clock.advance(hours=3)
    jobs.run_due(db, clock.current)
    mid = shop.merchant_id
    r = client.post(f"/api/v1/merchants/{mid}/refunds/{case.json()['id']}/reject", json={"reason": "已发货"}, headers=shop.owner)
    assert r.status_code == 200, r.text
    jobs.run_due(db, clock.current + timedelta(minutes=5))
    jobs.run_due(db, clock.current + timedelta(days=1))
    got = client.get(f"/api/v1/orders/{oa['id']}", headers=a).json()
    assert got["refunded"] == 1500, "community reached the tier but this buyer never gets the 1500 back"

    campaign = client.get(f"/api/v1/campaigns/{c['id']}").json()
    assert campaign["status"] == "closed"


def test_a_missed_minimum_under_cancel_refunds_everything_despite_a_pending_request(client, db, merchant, clock):
    shop = campaign_shop(client, merchant).shop
    c = create_campaign(client, shop, "threshold", clock.current, tiers=[[3, 1500]], miss_policy="cancel")
    add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=6000)
    a = resident(client, "13700000421", shop.community_id)
    oa = _buy(client, db, shop, c, a, shop.skus["berry"], 6000)
    line = oa["lines"][0]
    case = client.post(f"/api/v1/orders/{oa['id']}/refunds", json={"lines": [{"line_id": line["id"], "amount": 100}], "reason": "有一颗坏了"}, headers=a)
    assert case.status_code == 201, case.text
    clock.advance(hours=3)
    jobs.run_due(db, clock.current)
    got = client.get(f"/api/v1/orders/{oa['id']}", headers=a).json()
    assert got["status"] == "cancelled", f"minimum missed under 'cancel', but the order is {got['status']} with {got['refunded']} refunded"


    assert got["refunded"] == 6000
