"""Demo distribution: a chain of sharers under the leader 小李, commission in every state
(frozen, available, withdrawn, cancelled) and a paid-out withdrawal — made through the
same services as real requests."""

from __future__ import annotations

from datetime import datetime, timedelta

from linli import events, jobs
from linli.catalog import service as catalog
from linli.commission import withdrawals
from linli.community import service as community
from linli.db import Database
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.payments import service as payments
from linli.referral import service as referral

LEADER = "13900000001"  # 小李 of 云顶华府
CHAIN = [("13700000041", "阿芳"), ("13700000042", "豆豆妈"), ("13700000043", "健身小王")]


def seed_distribution(db: Database, merchant_id: int, owner_phone: str, now: datetime) -> bool:
    day = timedelta(days=1)
    with db.transaction() as s:
        first = identity.get_or_create_member(s, CHAIN[0][0], now - 20 * day, nickname=CHAIN[0][1])
        if referral.inviter_of(s, merchant_id, first.id) is not None:
            return False  # seeded already
        owner_m = identity.get_or_create_member(s, owner_phone, now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        leader = identity.get_or_create_member(s, LEADER, now)
        home = community.home_community(s, leader.id, merchant_id)
        point = community.list_pickup_points(s, home.id)[0].id
        berry = catalog.list_products(s, owner, merchant_id)[-1]
        berry_sku = catalog.skus_of(s, [berry.id])[berry.id][0].id
        upline = leader
        ids = []
        for phone, nick in CHAIN:
            m = identity.get_or_create_member(s, phone, now - 20 * day, nickname=nick)
            community.set_home_community(s, m.id, home.id, now - 20 * day)
            referral.bind(s, m.id, referral.my_code(s, upline.id, merchant_id, now - 20 * day).code, now - 20 * day)
            referral.appoint(s, owner, merchant_id, phone, now - 20 * day)
            ids.append(m.id)
            upline = m
        buyer = identity.get_or_create_member(s, "13700000044", now - 20 * day, nickname="新邻居小周")
        community.set_home_community(s, buyer.id, home.id, now - 20 * day)
        code_c = referral.my_code(s, ids[-1], merchant_id, now).code
    events.drain(db)

    def buy(qty: int, at: datetime) -> int:
        with db.transaction() as s:
            o = orders.create_order(s, buyer.id, orders.NewOrder(merchant_id, [(berry_sku, qty)], pickup_point_id=point, invite_code=code_c), at)
            p = orders.start_payment(s, buyer.id, o.id, at)
            payments.sandbox_complete(s, buyer.id, p.id, at)
        events.drain(db)
        return o.id

    def receive(order_id: int, at: datetime) -> None:
        with db.transaction() as s:
            orders.mark_ready(s, owner, merchant_id, order_id, at)
            orders.confirm_receipt(s, buyer.id, order_id, at)
        events.drain(db)

    settled = buy(3, now - 12 * day)  # received and settled: available, then partly withdrawn
    receive(settled, now - 11 * day)
    jobs.run_due(db, now - 3 * day)
    refunded = buy(1, now - 5 * day)  # refunded in full before receipt: cancelled
    with db.transaction() as s:
        line = orders.member_order(s, buyer.id, refunded).lines[0]
        case = orders.request_refund(s, buyer.id, refunded, [(line.id, line.paid)], "临时出差，不需要了", [], now - 4 * day)
        orders.approve(s, owner, merchant_id, case.id, now - 4 * day)
    events.drain(db)
    buy(2, now - day)  # paid, not yet received: frozen
    with db.transaction() as s:
        withdrawals.request(s, leader.id, merchant_id, 2000, now - 2 * day)
    events.drain(db)
    return True
