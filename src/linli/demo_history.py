"""Demo history: a month of everyday trade in a fourth community, 金色家园 (leader 周大姐), so
the dashboard's charts, repurchase, cohorts and contribution tables mean something.

Two dozen neighbours arrive over the month, most through the links of two sharers (春花 and
阿强, who post their posters every few days; a link is opened once or twice before its
neighbour joins), some by themselves; each day a few of them buy fruit, eggs or greens, pick up the next
day, and now and then get money back for a bad box. Everything goes through the same
services as requests (create, pay through the sandbox, ready, receive, refund), with the
clock of that day, and the events are handled as they would be. Its own community, leader,
sharers and buyers: the other demo stories' people and balances are not touched. Idempotent
(by the community's name)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from linli import events
from linli.catalog import service as catalog
from linli.community import service as community
from linli.db import Database
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.payments import service as payments
from linli.referral import service as referral

COMMUNITY = ("金色家园", "杭州", 30.262311, 120.170882, "金色家园北门便利店", "金色家园北门 1 号", "13900000004", "周大姐")
SHARERS = [("13600002001", "春花"), ("13600002002", "阿强")]
DAYS = 30
NEIGHBOURS = 24


def seed_history(db: Database, merchant_id: int, owner_phone: str, now: datetime) -> int:
    """Returns the orders placed (0 when seeded already)."""
    name, city, lat, lng, point_name, address, leader_phone, leader_nick = COMMUNITY
    start = now - timedelta(days=DAYS)
    with db.transaction() as s:
        owner_m = identity.get_or_create_member(s, owner_phone, now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        if any(c.name == name for c in community.list_communities(s, owner, merchant_id)):
            return 0
        c = community.create_community(s, owner, merchant_id, name, city, lat, lng, start)
        point = community.add_pickup_point(s, owner, merchant_id, c.id, point_name, address, lat + 0.0007, lng + 0.0005, start).id
        leader = identity.get_or_create_member(s, leader_phone, start, nickname=leader_nick)
        community.set_leader(s, owner, merchant_id, c.id, leader.id)
        community.set_home_community(s, leader.id, c.id, start)
        codes = []
        for phone, nick in SHARERS:
            m = identity.get_or_create_member(s, phone, start, nickname=nick)
            community.set_home_community(s, m.id, c.id, start)
            referral.appoint(s, owner, merchant_id, phone, start)
            codes.append(referral.my_code(s, m.id, merchant_id, start))
        # Everyday goods without a per-member limit (a regular buys them again and again).
        skus = [sku.id for p in catalog.list_products(s, owner, merchant_id) if p.limit_per_member is None for sku in catalog.skus_of(s, [p.id])[p.id][:1]]
    rng = random.Random(20261101)
    arrivals = sorted((rng.randrange(DAYS - 2), i) for i in range(NEIGHBOURS))
    buyers: list[int] = []
    placed = 0
    yesterday: list[tuple[int, int, datetime, bool]] = []  # (buyer, order, paid at, a bad box) to pick up today
    for day in range(DAYS):
        base = start + timedelta(days=day, hours=1)  # 09:00 in Shanghai
        with db.transaction() as s:
            for buyer, order_id, at, bad in yesterday:  # yesterday's orders picked up this morning
                orders.mark_ready(s, owner, merchant_id, order_id, base)
                orders.confirm_receipt(s, buyer, order_id, base + timedelta(hours=2))
                if bad:  # part of it back after pickup (坏果包赔)
                    line = orders.member_order(s, buyer, order_id).lines[0]
                    case = orders.request_refund(s, buyer, order_id, [(line.id, max(1, line.paid // 4))], "有一盒压坏了", [], base + timedelta(hours=3))
                    if case.status == "requested":
                        orders.approve(s, owner, merchant_id, case.id, base + timedelta(hours=4))
            for arrived, i in arrivals:
                if arrived == day:
                    m = identity.get_or_create_member(s, f"1371{i + 1:07d}", base, nickname=f"金色邻居{i + 1}")
                    if i % 4 != 3:  # three in four came through a sharer's link, opened once or twice first
                        for _ in range(1 + i % 2):
                            referral.code_visited(s, codes[i % 2], None, base - timedelta(minutes=30))
                        referral.bind(s, m.id, codes[i % 2].code, base)
                    community.set_home_community(s, m.id, c.id, base)
                    buyers.append(m.id)
            if day % 3 == 0:  # the sharers post their poster in the building's group every few days
                for code in codes:
                    referral.code_shared(s, code, None, base - timedelta(hours=1))
        yesterday = []
        for _ in range(min(len(buyers), rng.randrange(1, 3))):
            buyer = rng.choice(buyers)
            at = base + timedelta(hours=rng.randrange(1, 12), minutes=rng.randrange(60))
            with db.transaction() as s:
                o = orders.create_order(s, buyer, orders.NewOrder(merchant_id, [(rng.choice(skus), rng.randrange(1, 3))], pickup_point_id=point), at)
                payments.sandbox_complete(s, buyer, orders.start_payment(s, buyer, o.id, at).id, at)
            placed += 1
            if day < DAYS - 2:  # the last two days' orders are still waiting
                yesterday.append((buyer, o.id, at, rng.random() < 0.12))
        events.drain(db)  # the day's payments confirmed, rollups and commission kept
    return placed
