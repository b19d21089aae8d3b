"""Demo products and orders in every state, made through the same services a user's
requests go through (so the demo is also a smoke test of the money path)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from linli import events, jobs
from linli.catalog import service as catalog
from linli.catalog.models import Product
from linli.community import service as community
from linli.db import Database
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.payments import service as payments

PRODUCTS = [
    # name, category, description, [(sku, price fen, stock)], limit per member
    ("黄金奶油草莓", "水果", "丹东 99 草莓，当天现摘，坏果包赔。", [("1盒 (约500g)", 8800, 300), ("2盒装", 16800, 120)], 5),
    ("阿克苏冰糖心苹果", "水果", "新疆阿克苏，脆甜多汁。", [("5斤装", 2990, 500), ("10斤装", 5590, 200)], None),
    ("散养土鸡蛋", "生鲜", "林下散养，30 枚装。", [("30枚", 3980, 200)], 3),
    ("手工鲜肉小馄饨", "速食", "每天现包，冷冻保存。", [("40只", 2580, 150)], None),
    ("有机小油菜", "蔬菜", "基地直采，当日配送。", [("500g", 690, 400)], None),
]


def seed_orders(db: Database, merchant_id: int, owner_phone: str, now: datetime) -> int:
    """Products and a handful of orders in every state. Idempotent (by product names)."""
    with db.transaction() as s:
        if s.scalars(select(Product.id).where(Product.merchant_id == merchant_id)).first():
            return 0
        owner_m = identity.get_or_create_member(s, owner_phone, now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        sku_ids = []
        for name, cat, desc, skus, limit in PRODUCTS:
            _, rows = catalog.create_product(s, owner, merchant_id, name, cat, [catalog.SkuInput(n, p, st) for n, p, st in skus], now, description=desc, limit_per_member=limit)
            sku_ids.append([k.id for k in rows])
        points = {c.id: community.list_pickup_points(s, c.id)[0].id for c in community.list_communities(s, owner, merchant_id)}
    berry, apple, eggs, wonton, greens = (ids[0] for ids in sku_ids)
    point_ids = list(points.values())

    buyers: dict[int, int] = {}

    def place(phone: str, items, at: datetime, point: int | None = None, address: orders.Address | None = None) -> int:
        with db.transaction() as s:
            m = identity.get_or_create_member(s, phone, at)
            req = orders.NewOrder(merchant_id, items, pickup_point_id=None if address else (point or point_ids[0]), address=address)
            o = orders.create_order(s, m.id, req, at)
            buyers[o.id] = m.id
            return o.id

    def pay(order_id: int, at: datetime) -> None:
        with db.transaction() as s:
            p = orders.start_payment(s, buyers[order_id], order_id, at)
            payments.sandbox_complete(s, buyers[order_id], p.id, at)
        events.drain(db)

    def _member(_s, order_id: int) -> int:
        return buyers[order_id]

    def staff(s) -> Principal:
        m = identity.get_or_create_member(s, owner_phone, now)
        return Principal(m.id, m.phone, False)

    day = timedelta(days=1)
    # completed: bought ten days ago, picked up nine days ago
    o1 = place("13700000001", [(berry, 2)], now - 10 * day)
    pay(o1, now - 10 * day)
    with db.transaction() as s:
        orders.mark_ready(s, staff(s), merchant_id, o1, now - 9 * day)
        orders.confirm_receipt(s, _member(s, o1), o1, now - 9 * day)
    jobs.run_due(db, now)
    # received yesterday, with a quick refund for a bruised box (坏果包赔)
    o2 = place("13700000002", [(berry, 1), (apple, 1)], now - 2 * day, point_ids[1 % len(point_ids)])
    pay(o2, now - 2 * day)
    with db.transaction() as s:
        orders.mark_ready(s, staff(s), merchant_id, o2, now - day)
        orders.confirm_receipt(s, _member(s, o2), o2, now - day)
        line = orders.member_order(s, _member(s, o2), o2).lines[0]
        orders.request_refund(s, _member(s, o2), o2, [(line.id, 1500)], "两颗草莓压坏了", [], now - day + timedelta(hours=2))
    events.drain(db)
    # a refund waiting for staff review
    o3 = place("13700000003", [(eggs, 1)], now - 3 * day, point_ids[2 % len(point_ids)])
    pay(o3, now - 3 * day)
    with db.transaction() as s:
        orders.mark_ready(s, staff(s), merchant_id, o3, now - 2 * day)
        orders.confirm_receipt(s, _member(s, o3), o3, now - 2 * day)
        line = orders.member_order(s, _member(s, o3), o3).lines[0]
        orders.request_refund(s, _member(s, o3), o3, [(line.id, 3980)], "整盒有三个蛋是碎的", [], now - day)
    # ready for pickup (shows a pickup code), fulfilling, paid
    o4 = place("13700000004", [(berry, 1), (greens, 2)], now - day)
    pay(o4, now - day)
    with db.transaction() as s:
        orders.point_arrived(s, staff(s), point_ids[0], now - timedelta(hours=3))
    o5 = place("13700000005", [(wonton, 2)], now - timedelta(hours=5), point_ids[1 % len(point_ids)])
    pay(o5, now - timedelta(hours=5))
    with db.transaction() as s:
        orders.start_fulfilment(s, staff(s), merchant_id, o5, now - timedelta(hours=4))
    o6 = place("13700000006", [(apple, 2)], now - timedelta(hours=1), point_ids[2 % len(point_ids)])
    pay(o6, now - timedelta(hours=1))
    # out for delivery
    with db.transaction() as s:
        c = community.list_communities(s, staff(s), merchant_id)[0]
    addr = orders.Address("王女士", "13700000007", f"{c.name} 5 幢 1201", c.lat + 0.003, c.lng + 0.002)
    o7 = place("13700000007", [(berry, 1)], now - timedelta(hours=2), address=addr)
    pay(o7, now - timedelta(hours=2))
    with db.transaction() as s:
        orders.delivery_update(s, staff(s), merchant_id, o7, "dispatched", "骑手小王已取货", now - timedelta(minutes=30))
    # waiting for payment, and one cancelled because it was never paid
    place("13700000008", [(eggs, 1)], now - timedelta(minutes=3))
    place("13700000009", [(berry, 1)], now - timedelta(hours=6))
    jobs.run_due(db, now)
    return 9

