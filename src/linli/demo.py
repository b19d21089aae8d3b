"""Demo data: the merchant 优邻优选 with staff, three communities with pickup points and
leaders, and a few dozen members. Idempotent: seeding twice adds nothing."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli.community import service as community
from linli.community.models import Community
from linli.db import Database
from linli.identity import service as identity
from linli.identity.models import Merchant
from linli.identity.service import Principal

MERCHANT = "优邻优选"
ADMIN_PHONE = "13800000000"
OWNER_PHONE = "13800000001"
STAFF = [("13800000002", "operator"), ("13800000003", "finance"), ("13800000004", "service")]
COMMUNITIES = [
    # name, city, lat, lng, pickup point, address, leader phone, leader nickname
    ("云顶华府", "杭州", 30.274085, 120.155070, "云顶华府东门驿站", "云顶华府东门 3 号商铺", "13900000001", "小李"),
    ("翠苑一区", "杭州", 30.290501, 120.129213, "翠苑便民服务点", "翠苑一区 12 幢架空层", "13900000002", "王姐"),
    ("星河湾", "杭州", 30.245872, 120.210645, "星河湾南门快递柜旁", "星河湾南门物业中心", "13900000003", "陈老师"),
]
MEMBER_COUNT = 36
NICKNAMES = ["阿珍", "老周", "小美", "豆豆妈", "张阿姨", "健身小王", "程序员老刘", "甜甜", "大山", "莉莉", "宝妈小陈", "退休王老师"]


@dataclass
class DemoInfo:
    merchant_id: int
    admin_phone: str = ADMIN_PHONE
    owner_phone: str = OWNER_PHONE
    staff: list[tuple[str, str]] = field(default_factory=lambda: list(STAFF))
    leaders: list[tuple[str, str, str]] = field(default_factory=list)  # phone, nickname, community
    member_phones: list[str] = field(default_factory=list)
    created: bool = False


def _admin(s: Session, now: datetime) -> Principal:
    m = identity.get_or_create_member(s, ADMIN_PHONE, now, nickname="平台管理员")
    return Principal(m.id, m.phone, True)


def seed(db: Database, now: datetime) -> DemoInfo:
    with db.transaction() as s:
        existing = s.scalars(select(Merchant).where(Merchant.name == MERCHANT)).first()
        if existing is not None:
            info = DemoInfo(merchant_id=existing.id)
            _describe(s, info)
            return info
        admin = _admin(s, now)
        merchant, _owner = identity.create_merchant(s, admin, MERCHANT, OWNER_PHONE, now)
        identity.update_profile(s, _owner.id, now, nickname="店长林")
        owner = Principal(_owner.id, _owner.phone, False)
        for phone, role in STAFF:
            identity.add_staff(s, owner, merchant.id, phone, role, now)
        rng = random.Random(20261122)
        communities = []
        for name, city, lat, lng, point, address, leader_phone, leader_nick in COMMUNITIES:
            c = community.create_community(s, owner, merchant.id, name, city, lat, lng, now)
            community.add_pickup_point(s, owner, merchant.id, c.id, point, address, lat + 0.0008, lng + 0.0006, now)
            leader = identity.get_or_create_member(s, leader_phone, now, nickname=leader_nick)
            community.set_leader(s, owner, merchant.id, c.id, leader.id)
            community.set_home_community(s, leader.id, c.id, now)
            communities.append(c)
        for i in range(MEMBER_COUNT):
            phone = f"137{i + 1:08d}"
            m = identity.get_or_create_member(s, phone, now, nickname=f"{NICKNAMES[i % len(NICKNAMES)]}{i // len(NICKNAMES) or ''}")
            if i % 5 != 4:
                identity.update_profile(s, m.id, now, birthday=date(1960 + rng.randrange(45), rng.randrange(1, 13), rng.randrange(1, 29)))
            community.set_home_community(s, m.id, communities[i % len(communities)].id, now)
        info = DemoInfo(merchant_id=merchant.id, created=True)
        _describe(s, info)
    from linli.demo_campaigns import seed_campaigns
    from linli.demo_distribution import seed_distribution
    from linli.demo_history import seed_history
    from linli.demo_incentives import seed_incentives
    from linli.demo_orders import seed_orders
    from linli.demo_rewards import seed_rewards
    from linli.demo_risk import seed_risk
    from linli.demo_stored_value import seed_stored_value

    seed_orders(db, info.merchant_id, OWNER_PHONE, now)
    # A month of orders for the dashboard, in its own community with its own people; before the
    # programmes and coupons exist, so none of them counts its neighbours.
    seed_history(db, info.merchant_id, OWNER_PHONE, now)
    seed_distribution(db, info.merchant_id, OWNER_PHONE, now)
    seed_campaigns(db, info.merchant_id, OWNER_PHONE, now)
    seed_stored_value(db, info.merchant_id, OWNER_PHONE, now)
    seed_incentives(db, info.merchant_id, OWNER_PHONE, now)  # before the new-member coupon is set: the friends joined before it
    seed_risk(db, info.merchant_id, OWNER_PHONE, now)  # the risk stories' accounts too (a coupon would change the rewards story's counts)
    seed_rewards(db, info.merchant_id, OWNER_PHONE, now)
    return info


def _describe(s: Session, info: DemoInfo) -> None:
    for c in s.scalars(select(Community).where(Community.merchant_id == info.merchant_id).order_by(Community.id)):
        if c.leader_member_id:
            leader = identity.get_member(s, c.leader_member_id)
            info.leaders.append((leader.phone, leader.nickname, c.name))
    info.member_phones = [f"137{i + 1:08d}" for i in range(3)]
