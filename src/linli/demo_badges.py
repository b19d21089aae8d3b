"""Demo badges and the starter kit, on what ``demo_incentives`` seeds: 菜场老王's shop tunes its
badges for a small shop — 社区推荐官 at 3 granted referrals within 90 days, 带货铜牌 from ¥300 of
referred sales — so the nightly check, applying the new thresholds, gives the demo's main
sharer (three friends' first orders granted, five received: ¥362 of referred sales) 社区推荐官
and 带货铜牌 next to the 首单达人 the events gave; it sets the recommender group and the starter
kit (seed 003: a guide, the materials and a 10 元 no-threshold coupon). The main sharer's own
kit came when they became a sharer, before the shop set a coupon (guide and materials only);
豆豆妈, whom the shop appoints a sharer now, receives the coupon with hers. All through the
same services as real requests and the real events."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from linli import events
from linli.db import Database
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.incentives import badge_backfill, badges
from linli.incentives.models import BadgeSettings
from linli.referral import service as referral
from linli.rewards import coupons

STARTER_COUPON = "新晋分享官10元无门槛券"
GROUP = {"group_name": "老王家社区推荐官群", "group_link": "https://work.weixin.qq.com/gm/linli-demo-recommenders", "group_text": "点击入群，或加店长企业微信，备注“推荐官”"}


NEW_SHARER = "13700000004"  # 豆豆妈, a demo neighbour (demo.py) who is not a sharer yet


def seed_badges(db: Database, merchant_id: int, owner_phone: str, now: datetime) -> bool:
    with db.transaction() as s:
        if s.scalars(select(BadgeSettings.merchant_id).where(BadgeSettings.merchant_id == merchant_id)).first():
            return False  # seeded already
        owner_m = identity.get_or_create_member(s, owner_phone, now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        t = coupons.create_template(s, owner, merchant_id, coupons.TemplateIn(STARTER_COUPON, "fixed", total=1000, amount=1000, valid_days=30, claimable=False), now)
        badges.configure(s, owner, merchant_id, {"recommender_referrals": 3, "gmv_bronze": 30_000, **GROUP, "starter_template_id": t.id}, now)
    badge_backfill.backfill(db, merchant_id, now)  # what the nightly check does with the new thresholds
    with db.transaction() as s:
        neighbour = identity.get_or_create_member(s, NEW_SHARER, now)
        if referral.sharer_status(s, merchant_id, neighbour.id) == "none":
            referral.appoint(s, owner, merchant_id, NEW_SHARER, now)  # 分享官 now: the starter kit comes with sharer.activated
    events.drain(db)
    return True
