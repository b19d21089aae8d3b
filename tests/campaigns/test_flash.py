"""Flash sales (秒杀): a fixed number of units from a start time, a limit per member, never
oversold; unpaid orders give their unit back after 15 minutes.

With Redis the Lua gate refuses buyers before the database is touched, and a plain flash
order is queued (202 with a ticket) and placed by the drainer, the database's compare-and-
set still the final guard (tests/campaigns/test_flash_queue.py); without Redis the database
decides alone. The rushes are real concurrent HTTP requests against a live server.
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, insert, select

from linli import events, jobs
from linli.campaigns.flash_sale import gate as flash
from linli.campaigns.flash_sale import queue as flash_queue
from linli.campaigns.models import CampaignOrderLine, Offer
from linli.identity.models import Member
from linli.orders.models import Order
from linli.security import issue_token
from tests.campaigns.helpers import add_offer, create_campaign
from tests.conftest import login, problem_code
from tests.e2e.conftest import LiveServer
from tests.orders.helpers import make_shop, order, pay

PG = pytest.mark.parametrize("backend", ["postgresql"])  # the rushes prove the guards on PostgreSQL


def flash_sale(client, merchant, clock, *, quota: int, limit: int | None = None, stock: int = 100_000, starts_in=timedelta(0)):
    shop = make_shop(client, merchant, stock=stock)
    c = create_campaign(client, shop, "flash_sale", clock.current, starts_in=starts_in, hours=2, title="整点秒杀·草莓")
    offer = add_offer(client, shop, c["id"], sku_id=shop.skus["berry"], price=990, quota=quota, limit_per_member=limit)
    return shop, c, offer


def members(db, settings, clock, n: int) -> list[dict[str, str]]:
    """``n`` members inserted at once, each with a signed token (2,000 OTP logins would be slow)."""
    phones = [f"136{i:08d}" for i in range(1, n + 1)]
    now = clock.current
    with db.transaction() as s:
        s.execute(insert(Member), [{"phone": p, "nickname": f"邻居{p[-4:]}", "created_at": now, "updated_at": now} for p in phones])
        ids = dict(s.execute(select(Member.phone, Member.id).where(Member.phone.in_(phones))).all())
    return [{"Authorization": f"Bearer {issue_token(settings.secret_key, ids[p], 3600, now=now, phone=p)}"} for p in phones]


def rush(app, buyers: list[dict], body: dict, workers: int = 64) -> list[tuple[int, str | None]]:
    """Every buyer posts ``body`` once, ``workers`` requests in flight at a time."""
    server = LiveServer(app).start()
    try:
        # Idle connections are dropped well before the server's 5 s keep-alive ends them.
        limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers, keepalive_expiry=1)
        with httpx.Client(base_url=server.url, timeout=120, limits=limits) as http:

            def one(h):
                r = http.post("/api/v1/orders", json=body, headers=h)
                return r.status_code, (r.json().get("code") if r.status_code >= 400 else None)

            with ThreadPoolExecutor(workers) as pool:
                return list(pool.map(one, buyers))
    finally:
        server.stop()


def body_for(shop, c, qty: int = 1) -> dict:
    return {"merchant_id": shop.merchant_id, "items": [{"sku_id": shop.skus["berry"], "qty": qty}], "pickup_point_id": shop.point_id, "campaign_id": c["id"]}


def db_state(db, offer_id: int) -> tuple[int, int]:
    """(the offer's sold count, units in live orders of it)."""
    with db.transaction() as s:
        sold = s.scalar(select(Offer.sold).where(Offer.id == offer_id))
        live = s.scalar(
            select(func.coalesce(func.sum(CampaignOrderLine.qty), 0)).join(Order, Order.id == CampaignOrderLine.order_id)
            .where(CampaignOrderLine.offer_id == offer_id, Order.status != "cancelled")
        )
    return sold, live


def left(client, c) -> int:
    return client.get(f"/api/v1/campaigns/{c['id']}").json()["offers"][0]["left"]


def queued(client, db, buyer, shop, c, qty: int = 1, **extra) -> dict:
    """Order through the queue: 202 and a ticket, placed by the drainer; the ticket's answer."""
    r = order(client, buyer, shop, [(shop.skus["berry"], qty)], campaign_id=c["id"], **extra)
    assert r.status_code == 202, r.text
    flash_queue.drain(db, now=client.app.state.ctx.now())
    events.drain(db)
    return client.get(r.headers["location"], headers=buyer).json()


def assert_exactly_100_of_2000(app, client, db, settings, merchant, clock, *, gated: bool) -> None:
    shop, c, offer = flash_sale(client, merchant, clock, quota=100, limit=1)
    buyers = members(db, settings, clock, 2000)
    got = rush(app, buyers, body_for(shop, c))
    accepted = 202 if gated else 201  # through the queue with Redis, placed at once without
    assert sum(1 for st, _ in got if st == accepted) == 100
    assert sorted({(st, code) for st, code in got if st != accepted}) == [(409, "campaign.sold_out")]
    if gated:
        assert db_state(db, offer["id"]) == (0, 0)  # nothing written yet: all of it waits in the queue
        assert flash_queue.waiting(offer["id"]) == 100
        assert flash_queue.drain(db, now=clock.current) == 100 and flash_queue.waiting(offer["id"]) == 0
    events.drain(db)
    assert db_state(db, offer["id"]) == (100, 100)
    assert left(client, c) == 0
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Order).where(Order.campaign_id == c["id"])) == 100
        assert set(s.scalars(select(CampaignOrderLine.gated).where(CampaignOrderLine.offer_id == offer["id"]))) == {gated}
    if gated:
        state = flash.gate_state(offer["id"])
        assert state.sold == 100 and state.left == 0
        assert len(state.members) == 100 and set(state.members.values()) == {1}


@PG
def test_2000_buyers_100_units_exactly_100_orders_database_alone(app, client, db, settings, merchant, clock, no_gate):
    assert_exactly_100_of_2000(app, client, db, settings, merchant, clock, gated=False)


@PG
@pytest.mark.redis
def test_2000_buyers_100_units_exactly_100_orders_through_the_redis_gate(app, client, db, settings, merchant, clock, gate):
    assert_exactly_100_of_2000(app, client, db, settings, merchant, clock, gated=True)


def test_database_alone_on_both_backends(app, client, db, settings, merchant, clock, no_gate):
    """Not before the start; the limit per member; 300 concurrent buyers of 30 units get 30."""
    shop, c, offer = flash_sale(client, merchant, clock, quota=30, limit=2, starts_in=timedelta(minutes=5))
    early = login(client, "13700000001")
    r = order(client, early, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.not_started"
    clock.advance(minutes=5)
    assert order(client, early, shop, [(shop.skus["berry"], 2)], campaign_id=c["id"]).json()["payable"] == 1980
    r = order(client, early, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.member_limit"
    got = rush(app, members(db, settings, clock, 300), body_for(shop, c), workers=32)
    assert [st for st, _ in got].count(201) == 28
    assert {code for st, code in got if st != 201} == {"campaign.sold_out"}
    assert db_state(db, offer["id"]) == (30, 30) and left(client, c) == 0


@PG
@pytest.mark.redis
def test_one_member_racing_themselves_gets_only_their_limit(app, client, db, settings, merchant, clock, gate):
    shop, c, offer = flash_sale(client, merchant, clock, quota=50, limit=2)
    me = members(db, settings, clock, 1)[0]
    got = rush(app, [me] * 40, body_for(shop, c), workers=40)
    assert [st for st, _ in got].count(202) == 2
    assert {code for st, code in got if st != 202} == {"campaign.member_limit"}
    state = flash.gate_state(offer["id"])
    assert state.left == 48 and list(state.members.values()) == [2]
    assert flash_queue.drain(db, now=clock.current) == 2
    assert db_state(db, offer["id"]) == (2, 2)


@PG
@pytest.mark.redis
def test_unpaid_order_expires_and_its_unit_returns_to_the_gate_and_the_database(client, db, merchant, clock, gate):
    shop, c, offer = flash_sale(client, merchant, clock, quota=2, limit=1)
    a, b, late = (login(client, f"1370000000{i}") for i in (1, 2, 3))
    oa = {"id": queued(client, db, a, shop, c)["order_id"]}
    ob = {"id": queued(client, db, b, shop, c)["order_id"]}
    r = order(client, late, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.sold_out"
    assert flash.gate_state(offer["id"]).left == 0
    assert pay(client, db, a, oa["id"])["status"] == "paid"
    # B never pays: 16 minutes later the expiry job cancels the order; the unit comes back.
    clock.advance(minutes=16)
    jobs.run_due(db, clock.current)
    assert client.get(f"/api/v1/orders/{ob['id']}", headers=b).json()["status"] == "cancelled"
    state = flash.gate_state(offer["id"])
    assert (state.left, state.sold, state.members.get(_member_id(client, b))) == (1, 1, None)
    assert db_state(db, offer["id"]) == (1, 1) and left(client, c) == 1
    # The late buyer gets it; B, whose order lapsed, may try again but it is gone now.
    assert queued(client, db, late, shop, c)["status"] == "created"
    r = order(client, b, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.sold_out"
    events.drain(db)
    assert flash.gate_state(offer["id"]).sold == db_state(db, offer["id"])[1] == 2


def _member_id(client, h) -> int:
    return client.get("/api/v1/me", headers=h).json()["id"]


@PG
@pytest.mark.redis
def test_member_limit_is_refused_at_the_gate_and_a_cancel_frees_it(client, db, merchant, clock, gate):
    shop, c, offer = flash_sale(client, merchant, clock, quota=10, limit=2)
    me = login(client, "13700000001")
    r = order(client, me, shop, [(shop.skus["berry"], 3)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.member_limit"
    first = {"id": queued(client, db, me, shop, c, qty=2)["order_id"]}
    r = order(client, me, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.member_limit"
    assert flash.gate_state(offer["id"]).members == {_member_id(client, me): 2}
    assert client.post(f"/api/v1/orders/{first['id']}/cancel", headers=me).status_code == 200
    assert flash.gate_state(offer["id"]).left == 10
    assert queued(client, db, me, shop, c)["status"] == "created"
    assert flash.gate_state(offer["id"]).members == {_member_id(client, me): 1}


@PG
@pytest.mark.redis
def test_an_order_refused_after_the_gate_gives_its_unit_back(client, db, merchant, clock, gate):
    """The gate lets a buyer through but the shop's own stock runs out first: placing the
    order fails, the ticket says why, and the unit goes back to the gate for later."""
    shop, c, offer = flash_sale(client, merchant, clock, quota=5, stock=2)
    for i in range(2):
        assert queued(client, db, login(client, f"1370000000{i}"), shop, c)["status"] == "created"
    t = queued(client, db, login(client, "13700000009"), shop, c)
    assert (t["status"], t["code"], t["order_id"]) == ("refused", "stock.sold_out", None)
    assert flash.gate_state(offer["id"]).left == 3 and db_state(db, offer["id"]) == (2, 2)


@PG
@pytest.mark.redis
def test_redis_losing_its_keys_never_oversells_and_reconcile_puts_them_right(client, db, merchant, clock, gate, monkeypatch):
    shop, c, offer = flash_sale(client, merchant, clock, quota=3, limit=1)
    buyers = [login(client, f"1370000000{i}") for i in range(5)]
    for h in buyers[:2]:
        assert queued(client, db, h, shop, c)["status"] == "created"
    # Redis restarts empty: the gate starts again from the database (3 − 2 = 1 left, once
    # intake's copy of the offer is renewed) and the database's own member limit still
    # refuses a second unit to a buyer when the order is placed.
    gate.delete(*gate.scan_iter(match=flash.configuration()[1] + "*"))
    flash_queue._profiles.clear()
    t = queued(client, db, buyers[0], shop, c)
    assert (t["status"], t["code"]) == ("refused", "campaign.member_limit")
    assert flash.gate_state(offer["id"]).left == 1  # the refused order gave its unit back
    assert queued(client, db, buyers[2], shop, c)["status"] == "created"
    r = order(client, buyers[3], shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
    assert r.status_code == 409 and problem_code(r) == "campaign.sold_out"
    assert db_state(db, offer["id"]) == (3, 3)
    # The gate forgot who bought before the restart; a process dying mid-order left it a unit short.
    gate.hset(flash.configuration()[1] + f"{{{offer['id']}}}", "left", -1)
    # The due job leaves a sale that is moving alone…
    assert jobs.run_due(db, clock.current)["campaigns.flash_reconcile"] == 0
    # …and once it is quiet, resets it from the database.
    monkeypatch.setattr(flash, "QUIET_SECONDS", 0)
    assert jobs.run_due(db, clock.current)["campaigns.flash_reconcile"] == 1
    state = flash.gate_state(offer["id"])
    assert (state.left, state.sold) == (0, 3)
    assert state.members == {_member_id(client, h): 1 for h in buyers[:3]}


def test_when_redis_does_not_answer_the_database_decides_alone(client, db, merchant, clock):
    """A gate that cannot be reached does not stop the sale (nor slow every order down by
    its connection retries): orders go through the database's compare-and-set, which
    still refuses the member's second unit and the unit after the last."""
    import socket

    import redis

    with socket.socket() as sock:  # a port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    before = flash.configuration()
    flash.configure(redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5), prefix=f"linli:test:flash:{uuid.uuid4().hex}:")
    try:
        shop, c, offer = flash_sale(client, merchant, clock, quota=2, limit=1)
        a, b, late = (login(client, f"1370000000{i}") for i in (1, 2, 3))
        assert order(client, a, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"]).status_code == 201
        assert flash.paused()  # the gate that failed is not asked again for the next orders
        r = order(client, a, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
        assert r.status_code == 409 and problem_code(r) == "campaign.member_limit"
        assert order(client, b, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"]).status_code == 201
        r = order(client, late, shop, [(shop.skus["berry"], 1)], campaign_id=c["id"])
        assert r.status_code == 409 and problem_code(r) == "campaign.sold_out"
    finally:
        flash.configure(*before)
    assert db_state(db, offer["id"]) == (2, 2)
    with db.transaction() as s:
        assert set(s.scalars(select(CampaignOrderLine.gated).where(CampaignOrderLine.offer_id == offer["id"]))) == {False}
