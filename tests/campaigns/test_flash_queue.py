"""The flash-sale queue (秒杀排队下单): with Redis, a plain flash order is answered by the gate
alone (202 and a ticket, or 409) and placed later by the drainer, at most once, with the
database's compare-and-set still the final guard. On both databases."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from redis import RedisError
from sqlalchemy import func, select

from linli import events, jobs
from linli.campaigns.flash_sale import gate as flash
from linli.campaigns.flash_sale import queue as flash_queue
from linli.campaigns.models import CampaignOrderLine
from linli.orders.models import Order
from tests.campaigns.helpers import add_offer
from tests.campaigns.test_flash import _member_id, db_state, flash_sale
from tests.conftest import login, problem_code
from tests.orders.helpers import order, pay

pytestmark = pytest.mark.redis


def orders_of(db, campaign_id: int) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(Order).where(Order.campaign_id == campaign_id))


def test_a_queued_order_is_placed_and_its_ticket_tells_the_buyer(client, db, merchant, clock, gate):
    shop, c, offer = flash_sale(client, merchant, clock, quota=3, limit=1)
    a = login(client, "13700000001")
    accepted_at = clock.current
    r = order(client, a, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 202
    ticket = r.json()["ticket"]
    assert r.json() == {"ticket": ticket, "status": "queued", "order_id": None, "code": None, "detail": None}
    assert r.headers["location"] == f"/api/v1/orders/tickets/{ticket}"
    assert client.get(r.headers["location"], headers=a).json()["status"] == "queued"
    assert orders_of(db, c["id"]) == 0 and flash.gate_state(offer["id"]).left == 2
    # The buyer's second try is refused at the gate, before the first is even placed.
    again = order(client, a, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert again.status_code == 409 and problem_code(again) == "campaign.member_limit"

    clock.advance(seconds=40)  # a long queue: the order is dated when accepted, the time to pay runs from now
    assert flash_queue.drain(db, now=clock.current) == 1
    t = client.get(r.headers["location"], headers=a).json()
    assert t["status"] == "created" and t["code"] is None
    o = client.get(f"/api/v1/orders/{t['order_id']}", headers=a).json()
    assert (o["status"], o["payable"], o["campaign_id"]) == ("pending_payment", 990, c["id"])
    assert o["created_at"].startswith(accepted_at.isoformat()[:19])
    assert o["expires_at"].startswith((clock.current + timedelta(minutes=15)).isoformat()[:19])
    assert pay(client, db, a, o["id"])["status"] == "paid"
    assert db_state(db, offer["id"]) == (1, 1)
    with db.transaction() as s:
        assert s.scalars(select(CampaignOrderLine.gated).where(CampaignOrderLine.order_id == o["id"])).one() is True


def test_a_ticket_is_only_for_its_buyer_and_nonsense_is_a_clean_404(client, db, merchant, clock, gate):
    shop, c, _ = flash_sale(client, merchant, clock, quota=3)
    a, b = login(client, "13700000001"), login(client, "13700000002")
    loc = order(client, a, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"]).headers["location"]
    for who, path in ((b, loc), (a, "/api/v1/orders/tickets/1.0-0"), (a, "/api/v1/orders/tickets/abc"), (a, "/api/v1/orders/tickets/..-")):
        r = client.get(path, headers=who)
        assert r.status_code in (404, 422), (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert client.get(loc).status_code == 401


def test_the_same_idempotency_key_gets_the_same_ticket_and_one_order(client, db, merchant, clock, gate):
    shop, c, offer = flash_sale(client, merchant, clock, quota=5, limit=3)
    a = login(client, "13700000001")
    key = {**a, "Idempotency-Key": "tap-1"}
    first = order(client, key, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    second = order(client, key, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert first.status_code == second.status_code == 202 and first.json()["ticket"] == second.json()["ticket"]
    assert flash.gate_state(offer["id"]).left == 4
    flash_queue.drain(db, now=clock.current)
    assert orders_of(db, c["id"]) == 1


def test_a_drainer_that_dies_is_replaced_and_no_order_is_placed_twice(client, db, merchant, clock, gate, monkeypatch):
    shop, c, offer = flash_sale(client, merchant, clock, quota=5, limit=1)
    buyers = [login(client, f"1370000000{i}") for i in range(3)]
    locs = [order(client, h, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"]).headers["location"] for h in buyers]
    # One drainer reads everything and dies before placing anything…
    stream = flash_queue._keys(offer["id"])[2]
    flash_queue._ensure_group(stream)
    assert len(gate.xreadgroup(flash_queue.GROUP, "dead", {stream: ">"}, count=10)[0][1]) == 3
    assert flash_queue.drain(db, now=clock.current) == 0  # another one leaves entries that are still fresh alone
    # …another dies after committing the orders, before answering their tickets.
    def dies(batch, answers):
        raise RedisError("connection lost")

    monkeypatch.setattr(flash_queue, "_answer", dies)
    with pytest.raises(RedisError):
        flash_queue.drain(db, "dies", claim_idle_ms=0, now=clock.current)
    assert orders_of(db, c["id"]) == 3
    monkeypatch.undo()
    # The next drainer takes over what was left pending: three orders, not six.
    assert flash_queue.drain(db, "heir", claim_idle_ms=0, now=clock.current) == 3
    assert orders_of(db, c["id"]) == 3 and flash_queue.waiting(offer["id"]) == 0
    answers = [client.get(loc, headers=h).json() for loc, h in zip(locs, buyers, strict=True)]
    assert [t["status"] for t in answers] == ["created"] * 3 and len({t["order_id"] for t in answers}) == 3
    assert flash.gate_state(offer["id"]).sold == db_state(db, offer["id"])[1] == 3


def test_the_drainer_loop_places_orders_as_they_arrive(client, db, merchant, clock, gate):
    shop, c, _ = flash_sale(client, merchant, clock, quota=5)
    a = login(client, "13700000001")
    drainer = flash_queue.Drainer(db, block_ms=100)
    drainer.start()
    try:
        loc = order(client, a, shop, [(shop.skus["berry"], 2)], campaign_id=c["id"]).headers["location"]
        deadline = time.monotonic() + 10
        while client.get(loc, headers=a).json()["status"] == "queued" and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        drainer.stop()
    assert client.get(loc, headers=a).json()["status"] == "created"


def test_before_the_start_and_after_the_end_the_gate_refuses_without_queueing(client, db, merchant, clock, gate):
    shop, c, offer = flash_sale(client, merchant, clock, quota=5, starts_in=timedelta(minutes=5))
    a = login(client, "13700000001")
    r = order(client, a, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.not_started"
    clock.advance(hours=3)
    r = order(client, a, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.ended"
    assert flash_queue.waiting(offer["id"]) == 0 and orders_of(db, c["id"]) == 0


def test_orders_the_queue_does_not_take_are_placed_at_once_through_the_gate(client, db, merchant, clock, gate):
    """A cart with another item in it is not a plain flash order: it is placed at once, the
    gate still taking its unit first."""
    shop, c, offer = flash_sale(client, merchant, clock, quota=5, limit=1)
    add_offer(client, shop, c["id"], sku_id=shop.skus["apple"], price=1990, quota=5)
    a = login(client, "13700000001")
    r = order(client, a, shop, [(shop.skus["berry"], 1), (shop.skus["apple"], 1)], campaign_id=c["id"])
    assert r.status_code == 201, r.text
    assert flash.gate_state(offer["id"]).members == {_member_id(client, a): 1}
    r = order(client, a, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.member_limit"


def test_reconcile_leaves_an_offer_with_orders_still_queued_alone(client, db, merchant, clock, gate, monkeypatch):
    shop, c, offer = flash_sale(client, merchant, clock, quota=5)
    a = login(client, "13700000001")
    assert order(client, a, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"]).status_code == 202
    monkeypatch.setattr(flash, "QUIET_SECONDS", 0)
    # The database has sold nothing yet; resetting the gate now would hand the unit out twice.
    assert flash.reconcile(db, [offer["id"]]) == 0 and flash.gate_state(offer["id"]).left == 4
    results = jobs.run_due(db, clock.current)  # places the queued order first, then reconciles
    assert results["campaigns.flash_queue"] == 1
    events.drain(db)
    assert db_state(db, offer["id"]) == (1, 1) and flash.gate_state(offer["id"]).left == 4


def test_in_one_batch_a_refused_order_rolls_back_alone(client, db, merchant, clock, gate):
    """The shop's own stock (2) runs out inside a batch of three: two orders are placed, the
    third is refused and its unit goes back to the gate; the others are untouched."""
    shop, c, offer = flash_sale(client, merchant, clock, quota=5, stock=2)
    buyers = [login(client, f"1370000000{i}") for i in range(3)]
    locs = [order(client, h, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"]).headers["location"] for h in buyers]
    assert flash_queue.drain_once(db, "one", now=clock.current) == 3
    answers = [client.get(loc, headers=h).json() for loc, h in zip(locs, buyers, strict=True)]
    assert [(t["status"], t["code"]) for t in answers] == [("created", None), ("created", None), ("refused", "stock.sold_out")]
    assert orders_of(db, c["id"]) == 2 and db_state(db, offer["id"]) == (2, 2)
    assert flash.gate_state(offer["id"]).left == 3


def test_an_entry_that_cannot_be_placed_does_not_hold_back_its_batch(client, db, merchant, clock, gate, monkeypatch):
    """Not a refusal but a failure (a bug, a lost connection) while placing one order: the
    batch is placed again one by one, the others go through, and that one stays queued."""
    shop, c, offer = flash_sale(client, merchant, clock, quota=5, limit=1)
    buyers = [login(client, f"1370000000{i}") for i in range(3)]
    locs = [order(client, h, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"]).headers["location"] for h in buyers]
    poison = _member_id(client, buyers[1])
    real = flash_queue.orders.create_order

    def fails_for_one(s, member_id, *a, **k):
        if member_id == poison:
            raise RuntimeError("boom")
        return real(s, member_id, *a, **k)

    monkeypatch.setattr(flash_queue.orders, "create_order", fails_for_one)
    assert flash_queue.drain_once(db, "one", now=clock.current) == 3
    assert [client.get(loc, headers=h).json()["status"] for loc, h in zip(locs, buyers, strict=True)] == ["created", "queued", "created"]
    assert orders_of(db, c["id"]) == 2 and flash_queue.waiting(offer["id"]) == 1
    monkeypatch.undo()
    assert flash_queue.drain(db, "heir", claim_idle_ms=0, now=clock.current) == 1
    assert orders_of(db, c["id"]) == 3 and flash.gate_state(offer["id"]).left == 2
