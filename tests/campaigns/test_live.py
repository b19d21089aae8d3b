"""Live sessions: entries through a leader's code, community offers with quota and
eligibility, attribution of the orders to the code (seed 002: 68元/盒 for the first 100
of 云顶华府 who came through 小李's code)."""

from __future__ import annotations

from datetime import timedelta

from linli import events
from tests.campaigns.helpers import add_offer, campaign_shop, create_campaign, leader_code, resident
from tests.conftest import problem_code
from tests.orders.helpers import order, pay


def _session(client, merchant, clock, quota=3):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    c = create_campaign(client, shop, "live", clock.current)
    offer = add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=6800 - 1000, quota=quota, community_id=shop.community_id, leader_id=shop.leader_id, label="云顶华府专享")
    return cs, c, offer


def test_member_enters_through_leaders_code_buys_at_community_price_and_order_is_attributed(client, db, merchant, clock):
    cs, c, offer = _session(client, merchant, clock)
    shop = cs.shop
    code = leader_code(client, shop, c["id"])
    buyer = resident(client, "13700000001", shop.community_id)
    r = client.post(f"/api/v1/campaigns/{c['id']}/enter", json={"invite_code": code}, headers=buyer)
    assert r.status_code == 200, r.text
    assert r.json()["invite_code"] == code
    # Entering through the leader's link binds the neighbour to the leader (repeat orders count for them).
    assert client.get("/api/v1/me/binding", params={"merchant_id": shop.merchant_id}, headers=buyer).json()["inviter_id"] == shop.leader_id
    view = client.get(f"/api/v1/campaigns/{c['id']}", headers=buyer).json()
    assert view["phase"] == "live" and view["entry_code"] == code
    assert view["offers"][0]["eligible"] is True and view["offers"][0]["left"] == 3 and view["offers"][0]["price"] == 5800
    r = order(client, buyer, shop, [(shop.skus["berry"], 2)], campaign_id=c["id"])
    assert r.status_code == 201, r.text
    o = r.json()
    assert o["payable"] == 11600
    paid = pay(client, db, buyer, o["id"])
    assert paid["status"] == "paid"
    assert client.get(f"/api/v1/campaigns/{c['id']}", headers=buyer).json()["offers"][0]["left"] == 1
    board = client.get(f"/api/v1/merchants/{shop.merchant_id}/campaigns/{c['id']}/board", headers=shop.owner).json()
    assert board["paid_orders"] == 1 and board["gmv"] == 11600 and board["entries"] == 1
    assert board["by_code"] == [{"code": code, "owner_id": shop.leader_id, "nickname": board["by_code"][0]["nickname"], "orders": 1, "gmv": 11600, "entries": 1}]
    # The leader earns the leader's share (15%) through the campaign code and, since the entry
    # bound the neighbour to them and leaders are sharers, level 1 (20%): 35%, within the 50% cap.
    earnings = client.get("/api/v1/me/earnings", params={"merchant_id": shop.merchant_id}, headers=shop.leader).json()
    assert sorted((r["level"], r["amount"]) for r in earnings["records"]) == [(0, 11600 * 1500 // 10000), (1, 11600 * 2000 // 10000)]


def test_other_community_and_missing_code_are_refused_and_nothing_is_taken(client, db, merchant, clock):
    cs, c, offer = _session(client, merchant, clock)
    shop = cs.shop
    code = leader_code(client, shop, c["id"])
    outsider = resident(client, "13700000002", cs.other_community_id)
    client.post(f"/api/v1/campaigns/{c['id']}/enter", json={"invite_code": code}, headers=outsider)
    r = order(client, outsider, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 403 and problem_code(r) == "campaign.community_only"
    no_code = resident(client, "13700000003", shop.community_id)
    client.post(f"/api/v1/campaigns/{c['id']}/enter", json={}, headers=no_code)
    r = order(client, no_code, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 403 and problem_code(r) == "campaign.code_required"
    r = order(client, no_code, shop, [(shop.skus["apple"], 1)], campaign_id=c["id"])
    assert r.status_code == 422 and problem_code(r) == "campaign.sku_not_in_campaign"
    assert client.get(f"/api/v1/campaigns/{c['id']}").json()["offers"][0]["left"] == 3


def test_quota_is_never_oversold_and_unpaid_orders_give_it_back(client, db, merchant, clock):
    cs, c, offer = _session(client, merchant, clock, quota=2)
    shop = cs.shop
    code = leader_code(client, shop, c["id"])
    buyers = [resident(client, f"1370000010{i}", shop.community_id) for i in range(3)]
    ids = []
    for b in buyers[:2]:
        r = order(client, b, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"], invite_code=code)
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = order(client, buyers[2], shop, [(shop.skus["berry"], 1)], campaign_id=c["id"], invite_code=code)
    assert r.status_code == 409 and problem_code(r) == "campaign.sold_out"
    # The first buyer cancels: their unit goes back and the third buyer gets it.
    assert client.post(f"/api/v1/orders/{ids[0]}/cancel", headers=buyers[0]).status_code == 200
    r = order(client, buyers[2], shop, [(shop.skus["berry"], 1)], campaign_id=c["id"], invite_code=code)
    assert r.status_code == 201, r.text
    assert client.get(f"/api/v1/campaigns/{c['id']}").json()["offers"][0]["left"] == 0


def test_member_limit_window_and_bad_campaigns(client, db, merchant, clock):
    cs = campaign_shop(client, merchant)
    shop = cs.shop
    c = create_campaign(client, shop, "live", clock.current, starts_in=timedelta(hours=1))
    add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=6000, limit_per_member=2)
    buyer = resident(client, "13700000201", shop.community_id)
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.not_started"
    clock.advance(hours=1)
    assert order(client, buyer, shop, [(shop.skus["berry"], 2)], campaign_id=c["id"]).status_code == 201
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.member_limit"
    clock.advance(hours=3)
    r = order(client, resident(client, "13700000202", shop.community_id), shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.ended"
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], campaign_id=999999)
    assert r.status_code == 404 and problem_code(r) == "campaign.not_found"
    bad = client.post(f"/api/v1/merchants/{shop.merchant_id}/campaigns/{c['id']}/offers", json={"sku_id": shop.skus["berry"], "price": 9999}, headers=shop.owner)
    assert bad.status_code == 409 and problem_code(bad) == "campaign.closed"
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/campaigns", json={"kind": "group_buy", "title": "拼团", "starts_at": clock.current.isoformat(), "ends_at": (clock.current + timedelta(hours=1)).isoformat(), "team_size": 1}, headers=shop.owner)
    assert r.status_code == 422
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/campaigns", json={"kind": "threshold", "title": "社区成团", "starts_at": clock.current.isoformat(), "ends_at": (clock.current + timedelta(hours=1)).isoformat(), "tiers": [[25, 1500], [10, 500]]}, headers=shop.owner)
    assert r.status_code == 422 and problem_code(r) == "campaign.tiers_not_ascending"
    events.drain(db)
