"""Demo: the strawberry live session's sharer board (seed 003: 直播间展示实时的佣金收益榜).

The demo's sharers (阿芳, 豆豆妈 and 健身小王, appointed in ``demo_distribution``) shared
the session's link with their personal codes; neighbours came into the room through it
and bought at the 直播价. 阿芳 leads; 豆豆妈 and 健身小王 brought the same amount and share
second place (豆豆妈 got there first). Made through the same services as real requests.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from linli import events
from linli.campaigns import service as campaigns
from linli.community import service as community
from linli.db import Database
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.payments import service as payments
from linli.referral import service as referral

LEADER = "13900000001"  # 小李 of 云顶华府
# (sharer, [(neighbour, nickname, boxes)]) in the order the neighbours bought
SHARES = [
    ("13700000041", [("13700000091", "草莓控阿兰", 2), ("13700000092", "楼下小何", 2)]),
    ("13700000042", [("13700000093", "宝妈小许", 2)]),
    ("13700000043", [("13700000094", "跑步的老陈", 1), ("13700000095", "瑜伽小林", 1)]),
]


def seed_live_sharers(db: Database, merchant_id: int, owner_phone: str, campaign_id: int, now: datetime) -> None:
    with db.transaction() as s:
        owner_m = identity.get_or_create_member(s, owner_phone, now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        home = community.home_community(s, identity.get_or_create_member(s, LEADER, now).id, merchant_id)
        point = community.list_pickup_points(s, home.id)[0].id
        open_offer = next(o for o in campaigns.offers_of(s, campaign_id) if o.leader_id is None and o.community_id is None)
        plan = []
        for sharer_phone, buyers in SHARES:
            sharer = identity.get_or_create_member(s, sharer_phone, now)
            if referral.sharer_status(s, merchant_id, sharer.id) != "active":
                referral.appoint(s, owner, merchant_id, sharer_phone, now)
            code = referral.my_code(s, sharer.id, merchant_id, now).code
            for phone, nickname, qty in buyers:
                m = identity.get_or_create_member(s, phone, now, nickname=nickname)
                community.set_home_community(s, m.id, home.id, now - timedelta(days=3))
                plan.append((m.id, code, qty))
    for i, (member_id, code, qty) in enumerate(plan):
        at = now - timedelta(minutes=20) + timedelta(minutes=2 * i)
        with db.transaction() as s:
            campaigns.enter(s, member_id, campaign_id, code, at)
            o = orders.create_order(s, member_id, orders.NewOrder(merchant_id, [(open_offer.sku_id, qty)], pickup_point_id=point, campaign_id=campaign_id), at)
            p = orders.start_payment(s, member_id, o.id, at)
            payments.sandbox_complete(s, member_id, p.id, at)
        events.drain(db)
