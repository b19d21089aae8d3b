"""Boards whatever order the facts arrive in: a refund handled before its receipt leaves the
net on the board, and a sale received one week and refunded the next moves only its own week."""

from __future__ import annotations

from sqlalchemy import select

from linli import events
from linli.events import OutboxEvent
from linli.incentives import board_rebuild
from tests.conftest import login
from tests.incentives.board_helpers import Sharer, board, brought, ranks
from tests.incentives.helpers import _refund
from tests.orders.helpers import buy, make_shop


def test_a_refund_handled_before_the_receipt_leaves_the_net_on_the_board(client, db, merchant, clock, boards_on):
    shop = make_shop(client, merchant, stock=2000)
    a = Sharer(client, shop, "13600000071")
    buyer = login(client, "13500009001", invite_code=a.code)
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    events.drain(db)
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/orders/{o['id']}/ready", headers=shop.owner).status_code == 200
    assert client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader).status_code == 200
    r = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": 1000}], "reason": "坏果"}, headers=buyer)
    assert r.status_code == 201, r.text
    if r.json()["status"] == "requested":
        assert client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{r.json()['id']}/approve", headers=shop.owner).status_code == 200
    with db.transaction() as s:
        refunded = s.scalars(select(OutboxEvent.id).where(OutboxEvent.name == "order.refunded", OutboxEvent.done_at.is_(None))).all()
    assert refunded
    for eid in refunded:
        events.process_event(db, eid)
    events.drain(db)
    assert ranks(board(client, shop.merchant_id)) == [(1, a.id, 5800)]
    assert board_rebuild.rebuild(db, clock()) == 0


def test_a_sale_received_one_week_and_refunded_the_next_moves_only_its_own_week(client, db, merchant, clock, boards_on):
    shop = make_shop(client, merchant, stock=2000)
    a = Sharer(client, shop, "13600000072")
    clock.current = clock.current.replace(hour=15, minute=50)  # Sunday 23:50 in Shanghai
    buyer, o = brought(client, db, shop, a, "berry")
    week1 = clock().isoformat()
    clock.advance(minutes=20)  # Monday: a new week
    _refund(client, db, shop, buyer, o, 0, 1000)
    assert ranks(board(client, shop.merchant_id, at=week1)) == [(1, a.id, 5800)]
    assert board(client, shop.merchant_id)["entries"] == []
    assert board_rebuild.rebuild(db, clock()) == 0
