"""Demo coupons, made through the same services as real requests: the new-member coupon of
seed 004 (新人9.9元尝鲜券), a 满50减10, a 水果8.5折 capped at 20元, some claimed by the
demo's neighbours and one used on a paid order (so the wallet shows a used coupon and the
console a used count); the new-member coupon set as the shop's (a neighbour who joins later
gets it), three member levels (普通会员/银卡/金卡), computed for the demo's members by the
nightly job from the growth of their received orders — whose points the order events
already earned (``seed_orders`` drains them)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from linli import events
from linli.catalog import service as catalog
from linli.community import service as community
from linli.db import Database
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.payments import service as payments
from linli.rewards import coupons, grants, levels
from linli.rewards.models import CouponTemplate

NEW_MEMBER = "新人9.9元尝鲜券"
TEMPLATES = [
    coupons.TemplateIn(NEW_MEMBER, "fixed", total=1000, per_member=1, amount=990, valid_days=7),
    coupons.TemplateIn("满50减10", "threshold", total=500, per_member=2, amount=1000, threshold=5000, valid_days=30),
    coupons.TemplateIn("水果8.5折", "percent", total=200, per_member=1, percent_bp=1500, cap=2000, categories=("水果",), valid_days=14),
]
LEVELS = [  # growth in fen: what received orders paid over 365 days
    levels.LevelIn("普通会员", 0),
    levels.LevelIn("银卡", 20_000, discount_bp=200),
    levels.LevelIn("金卡", 100_000, discount_bp=500, free_delivery=True),
]
CLAIMERS = ["13700000001", "13700000002", "13700000003", "13700000004", "13700000005"]  # demo neighbours (demo.py)


def seed_rewards(db: Database, merchant_id: int, owner_phone: str, now: datetime) -> bool:
    day = timedelta(days=1)
    with db.transaction() as s:
        if s.scalars(select(CouponTemplate.id).where(CouponTemplate.merchant_id == merchant_id, CouponTemplate.name == NEW_MEMBER)).first():
            return False  # seeded already
        owner_m = identity.get_or_create_member(s, owner_phone, now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        made = {t.name: coupons.create_template(s, owner, merchant_id, t, now - 3 * day) for t in TEMPLATES}
        claimers = [identity.get_or_create_member(s, phone, now) for phone in CLAIMERS]
        for i, m in enumerate(claimers):
            coupons.claim(s, m.id, made["满50减10"].id, now - 2 * day + i * timedelta(hours=1))
            if i % 2 == 0:
                coupons.claim(s, m.id, made[NEW_MEMBER].id, now - 2 * day)
            if i < 2:
                coupons.claim(s, m.id, made["水果8.5折"].id, now - day)
        buyer = claimers[0]
        berry = next(p for p in catalog.list_products(s, owner, merchant_id) if p.name == "黄金奶油草莓")
        sku = catalog.skus_of(s, [berry.id])[berry.id][0].id
        home = community.home_community(s, buyer.id, merchant_id)
        point = community.list_pickup_points(s, home.id)[0].id
        held = next(c for c, t in coupons.my_coupons(s, buyer.id, merchant_id, now) if t.name == "满50减10")
        at = now - day
        o = orders.create_order(s, buyer.id, orders.NewOrder(merchant_id, [(sku, 1)], pickup_point_id=point, coupon_id=held.id), at)
        p = orders.start_payment(s, buyer.id, o.id, at)
        payments.sandbox_complete(s, buyer.id, p.id, at)
        grants.set_new_member_coupon(s, owner, merchant_id, made[NEW_MEMBER].id)
        levels.set_levels(s, owner, merchant_id, LEVELS, now)
    events.drain(db)
    levels.run_nightly(db, now)  # every member with growth gets their level now, not at the next tick
    return True
