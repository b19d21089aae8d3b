"""Demo campaigns, made through the same services as real requests:

- the strawberry live session of seed 002 — 68元/盒 for the first 100 of 云顶华府 who came
  through 小李's code, 78元 for everyone else in the room — with entries and orders;
- a 3-person apple team (拼团) with two of three seats paid, and one that already filled;
- a community threshold (满10单每单减5元, 满25单每单减15元) with 云顶华府 part-way;
- a flash sale starting tonight and a pre-sale (今晚订、明早达);
- the live session's sharer board: neighbours who came in through the demo sharers'
  links (``demo_live``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from linli import events
from linli.campaigns import rules
from linli.campaigns import service as campaigns
from linli.campaigns.models import Campaign
from linli.catalog import service as catalog
from linli.community import service as community
from linli.db import Database
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.payments import service as payments
from linli.referral import service as referral

LEADER = "13900000001"  # 小李 of 云顶华府
LIVE_TITLE = "春日尝鲜·黄金奶油草莓直播"


def seed_campaigns(db: Database, merchant_id: int, owner_phone: str, now: datetime) -> bool:
    hour = timedelta(hours=1)
    with db.transaction() as s:
        if s.scalars(select(Campaign.id).where(Campaign.merchant_id == merchant_id, Campaign.title == LIVE_TITLE)).first():
            return False  # seeded already
        owner_m = identity.get_or_create_member(s, owner_phone, now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        leader = identity.get_or_create_member(s, LEADER, now)
        home = community.home_community(s, leader.id, merchant_id)
        point = community.list_pickup_points(s, home.id)[0].id
        products = {p.name: p for p in catalog.list_products(s, owner, merchant_id)}
        skus = catalog.skus_of(s, [p.id for p in products.values()])
        berry = skus[products["黄金奶油草莓"].id][0].id
        apple = skus[products["阿克苏冰糖心苹果"].id][0].id
        eggs = skus[products["散养土鸡蛋"].id][0].id
        wonton = skus[products["手工鲜肉小馄饨"].id][0].id
        greens = skus[products["有机小油菜"].id][0].id

        def make(kind: str, title: str, starts: datetime, ends: datetime, **kw) -> Campaign:
            extra = {k: kw.pop(k) for k in ("description", "kit_copy", "promised_note") if k in kw}
            return campaigns.create_campaign(s, owner, merchant_id, rules.CampaignSpec(kind, title, starts, ends, **kw), now=now, **extra)

        live = make("live", LIVE_TITLE, now - hour / 2, now + 2 * hour,
                    description="品牌创始人和小李在草莓大棚现场采摘、试吃。",
                    kit_copy="今晚8点，云顶华府专场直播！黄金奶油草莓社区专享价68元/盒，仅限通过我的邀请进入直播间的邻居，前100份。")
        campaigns.add_offer(s, owner, merchant_id, live.id, campaigns.OfferSpec(berry, 6800, quota=100, limit_per_member=2, community_id=home.id, leader_id=leader.id, label="云顶华府专享"), now)
        campaigns.add_offer(s, owner, merchant_id, live.id, campaigns.OfferSpec(berry, 7800, label="直播价"), now)
        team = make("group_buy", "3人团·阿克苏冰糖心苹果", now - 2 * hour, now + 72 * hour, team_size=3, team_hours=24, team_variant="standard")
        campaigns.add_offer(s, owner, merchant_id, team.id, campaigns.OfferSpec(apple, 1990, limit_per_member=2), now)
        threshold = make("threshold", "本小区满25单每人再减15元·土鸡蛋", now - 24 * hour, now + 48 * hour, tiers=[(10, 500), (25, 1500)], miss_policy="proceed")
        campaigns.add_offer(s, owner, merchant_id, threshold.id, campaigns.OfferSpec(eggs, 3980), now)
        flash = make("flash_sale", "今晚8点·小馄饨秒杀", now + 6 * hour, now + 8 * hour)
        campaigns.add_offer(s, owner, merchant_id, flash.id, campaigns.OfferSpec(wonton, 990, quota=50, limit_per_member=1, label="秒杀价"), now)
        presale = make("presale", "今晚订、明早达·有机小油菜", now - hour, now + 10 * hour, promised_date=(now + 34 * hour).date(), promised_note="明早 9 点前到自提点")
        campaigns.add_offer(s, owner, merchant_id, presale.id, campaigns.OfferSpec(greens, 590, label="预售价"), now)
        code = referral.campaign_code(s, leader.id, merchant_id, live.id, now).code
        neighbours = [identity.get_or_create_member(s, f"1370000{n:04d}", now) for n in range(60, 90)]
        for m in neighbours:
            community.set_home_community(s, m.id, home.id, now - 24 * hour)
        # The eight who come through 小李's code are his group's neighbours of two months: a
        # live room of brand-new accounts, eight orders in minutes, is what risk's velocity
        # rule reviews (more than 5 an hour from new members through one sharer).
        since = now - 60 * 24 * hour
        personal = referral.my_code(s, leader.id, merchant_id, since).code
        for m in neighbours[:8]:
            referral.bind(s, m.id, personal, since)
        ids = [m.id for m in neighbours]
        live_id, team_id, threshold_id = live.id, team.id, threshold.id

    def buy(member_id: int, sku: int, qty: int, at: datetime, **kw) -> int:
        with db.transaction() as s:
            o = orders.create_order(s, member_id, orders.NewOrder(merchant_id, [(sku, qty)], pickup_point_id=point, **kw), at)
            p = orders.start_payment(s, member_id, o.id, at)
            payments.sandbox_complete(s, member_id, p.id, at)
            team = o.team_id
        events.drain(db)
        return team

    # Live room: eight neighbours came through 小李's code and bought; two came on their own.
    for i, member_id in enumerate(ids[:10]):
        with db.transaction() as s:
            campaigns.enter(s, member_id, live_id, code if i < 8 else None, now - hour / 4)
        buy(member_id, berry, 1 + i % 2, now - hour / 5, campaign_id=live_id)
    # Teams: one filled (3 of 3 paid), one waiting for its last neighbour.
    full = buy(ids[10], apple, 1, now - hour, campaign_id=team_id)
    for member_id in ids[11:13]:
        buy(member_id, apple, 1, now - hour, team_id=full)
    forming = buy(ids[13], apple, 1, now - hour / 2, campaign_id=team_id)
    buy(ids[14], apple, 1, now - hour / 3, team_id=forming)
    # Threshold: twelve orders in 云顶华府 — past the first tier, 13 short of the second.
    for member_id in ids[15:27]:
        buy(member_id, eggs, 1, now - 3 * hour, campaign_id=threshold_id)
    from linli.demo_live import seed_live_sharers

    seed_live_sharers(db, merchant_id, owner_phone, live_id, now)
    return True
