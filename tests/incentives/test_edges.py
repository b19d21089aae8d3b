"""Edges of the referral flow: events handled out of order (a refund before the receipt, a
receipt handled after the completion), a programme ended while a referral waits, a friend who
was already a customer before joining, and who sees what (a member only their own
referrals, another shop's staff no programme)."""

from __future__ import annotations

from linli import events
from tests.conftest import login
from tests.incentives.helpers import _complete, _receive, _refund, counts, first_order, friend, referrals, setup
from tests.incentives.test_concurrency import _hold, _run_together
from tests.orders.helpers import buy


def test_a_refund_before_the_receipt_is_counted_when_the_order_is_received(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    f = friend(client, db, p, 1)
    o = buy(client, db, f, p.shop, [(p.shop.skus["berry"], 1)])
    _refund(client, db, p.shop, f, o, 0, 4000)  # paid 6,800, 2,800 left before it is received
    _receive(client, db, p.shop, o)
    assert referrals(db) == []


def test_a_receipt_handled_after_the_completion_still_grants(client, db, merchant, clock, monkeypatch):
    p = setup(client, merchant, clock)
    held = _hold(monkeypatch, "order.received")
    first_order(client, db, p, friend(client, db, p, 1))
    _complete(db, clock)  # completed before incentives saw the receipt
    assert referrals(db) == []
    _run_together(db, "order.received", held)
    assert [s for _, s, _ in referrals(db)] == ["granted"]
    assert counts(db)["reward_coupons"] == 2


def test_a_programme_ended_while_a_referral_waits_still_grants_it(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    first_order(client, db, p, friend(client, db, p, 1))
    assert client.post(f"/api/v1/merchants/{p.shop.merchant_id}/referral-programmes/{p.id}/end", headers=p.shop.owner).status_code == 200
    first_order(client, db, p, friend(client, db, p, 2))  # received after the end: nothing
    _complete(db, clock)
    assert [s for _, s, _ in referrals(db)] == ["granted"]


def test_a_customer_who_bought_before_joining_through_a_link_brings_no_reward(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    old = login(client, "13500009999")
    first_order(client, db, p, old)  # their first received order, before any binding
    assert client.post(f"/api/v1/merchants/{p.shop.merchant_id}/bindings", json={"invite_code": p.code}, headers=old).status_code in (200, 201)
    events.drain(db)
    first_order(client, db, p, old)
    _complete(db, clock)
    assert referrals(db) == []


def test_members_see_only_their_own_referrals_and_other_shops_staff_see_no_programme(client, db, merchant, clock, admin):
    p = setup(client, merchant, clock)
    first_order(client, db, p, friend(client, db, p, 1))
    stranger = login(client, "13600000077")
    mine = client.get("/api/v1/me/referrals", params={"merchant_id": p.shop.merchant_id}, headers=stranger).json()
    assert mine["referrals"] == [] and [g["name"] for g in mine["programmes"]] == ["邻里鸡蛋计划"]
    other = client.post("/api/v1/merchants", json={"name": "别家小店", "owner_phone": "13800000077"}, headers=admin).json()
    other_owner = login(client, "13800000077")
    assert client.get(f"/api/v1/merchants/{p.shop.merchant_id}/referral-programmes", headers=other_owner).status_code == 404
    assert client.get(f"/api/v1/merchants/{other['id']}/referral-programmes", headers=other_owner).json() == []
    assert client.post(f"/api/v1/merchants/{p.shop.merchant_id}/referral-programmes/{p.id}/end", headers=other_owner).status_code == 404
