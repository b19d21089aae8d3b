"""Referred sales on SQLite and PostgreSQL: a friend's received order is the inviter's sale at
its net paid; a refund takes it down (and a replay changes nothing); a buyer nobody brought,
or an order not yet received, is no one's sale."""

from __future__ import annotations

from sqlalchemy import select

from linli.incentives.models import ReferredSale
from tests.conftest import login
from tests.incentives.helpers import _receive, _refund, first_order, friend, setup
from tests.orders.helpers import buy
from tests.replay import replay_handlers


def _sales(db) -> list[tuple[int, int, int]]:
    with db.transaction() as s:
        return [(r.sharer_id, r.paid, r.net) for r in s.scalars(select(ReferredSale).order_by(ReferredSale.order_id))]


def test_a_friends_received_order_is_the_inviters_sale_until_refunded(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    f = friend(client, db, p, 1)
    paid_only = buy(client, db, f, p.shop, [(p.shop.skus["berry"], 1)])
    assert _sales(db) == []  # paid, not received: not a sale yet
    o = first_order(client, db, p, f, qty=2)
    assert _sales(db) == [(p.inviter_id, 13600, 13600)]
    _refund(client, db, p.shop, f, o, 0, 6800)
    assert _sales(db) == [(p.inviter_id, 13600, 6800)]
    replay_handlers(db, "incentives")
    assert _sales(db) == [(p.inviter_id, 13600, 6800)]
    assert paid_only["id"] != o["id"]


def test_a_buyer_nobody_brought_is_no_ones_sale(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    stranger = login(client, "13900000077")
    o = buy(client, db, stranger, p.shop, [(p.shop.skus["berry"], 1)])
    _receive(client, db, p.shop, o)
    assert _sales(db) == []
