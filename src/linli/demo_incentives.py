"""Demo growth incentives: 菜场老王's eggs programme (seed 001: each new neighbour's first
order — the inviter gets a jin of eggs, the friend 10% off its first order; seed 004: 3 friends →
50 元), made through the same services as real requests and driven by the real order events:
three friends' first orders received and past their after-sales window (granted, the
3-friends milestone reached), one received two days ago (pending), one refunded below the
minimum (void), and one who only signed up (nothing: sign-ups earn nothing)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from linli import events, jobs
from linli.catalog import service as catalog
from linli.community import service as community
from linli.db import Database
from linli.demo_badges import seed_badges
from linli.demo_boards import seed_boards
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.incentives import programmes, rules
from linli.incentives.models import ReferralProgramme
from linli.orders import service as orders
from linli.payments import service as payments
from linli.referral import service as referral
from linli.rewards import coupons

PROGRAMME = "老王邀邻居·送一斤鸡蛋"
INVITER = "13700000003"  # a demo neighbour (demo.py), one of the logins the CLI prints
FRIENDS = [("13700000201", "邻居小赵"), ("13700000202", "邻居钱姐"), ("13700000203", "邻居孙叔"), ("13700000204", "邻居李阿姨"), ("13700000205", "邻居周哥"), ("13700000206", "邻居吴妹")]


def seed_incentives(db: Database, merchant_id: int, owner_phone: str, now: datetime) -> bool:
    day = timedelta(days=1)
    start = now - 20 * day
    with db.transaction() as s:
        if s.scalars(select(ReferralProgramme.id).where(ReferralProgramme.merchant_id == merchant_id, ReferralProgramme.name == PROGRAMME)).first():
            return False  # seeded already
        owner_m = identity.get_or_create_member(s, owner_phone, now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        products = {p.name: p for p in catalog.list_products(s, owner, merchant_id)}
        eggs = catalog.skus_of(s, [products["散养土鸡蛋"].id])[products["散养土鸡蛋"].id][0].id
        berry = catalog.skus_of(s, [products["黄金奶油草莓"].id])[products["黄金奶油草莓"].id][0].id
        tenth = coupons.create_template(s, owner, merchant_id, coupons.TemplateIn("新邻居首单9折", "percent", total=5000, per_member=1, percent_bp=1000, cap=3000, valid_days=30, claimable=False), start)
        terms = rules.Terms(
            name=PROGRAMME, trigger=rules.TRIGGER, starts_at=start, ends_at=now + 60 * day, min_paid=2000, window_days=30, monthly_cap=20,
            inviter_reward=rules.Reward(rules.Kind.gift, sku_id=eggs), invitee_reward=rules.Reward(rules.Kind.coupon, template_id=tenth.id),
            milestones=(rules.Milestone(3, rules.Reward(rules.Kind.stored_value_bonus, 5000)),),
        )
        programmes.create(s, owner, merchant_id, terms, start)
        inviter = identity.get_or_create_member(s, INVITER, start)
        code = referral.my_code(s, inviter.id, merchant_id, start).code
        home = community.home_community(s, inviter.id, merchant_id)
        point = community.list_pickup_points(s, home.id)[0].id
        friends = []
        for phone, nick in FRIENDS:
            m = identity.get_or_create_member(s, phone, now - 18 * day, nickname=nick)
            community.set_home_community(s, m.id, home.id, now - 18 * day)
            referral.bind(s, m.id, code, now - 18 * day, invitee_is_new=True)
            friends.append(m.id)
    events.drain(db)

    def first_order(member_id: int, at: datetime, qty: int = 1) -> int:
        with db.transaction() as s:
            o = orders.create_order(s, member_id, orders.NewOrder(merchant_id, [(berry, qty)], pickup_point_id=point), at)
            p = orders.start_payment(s, member_id, o.id, at)
            payments.sandbox_complete(s, member_id, p.id, at)
        events.drain(db)
        with db.transaction() as s:
            orders.mark_ready(s, owner, merchant_id, o.id, at + timedelta(hours=20))
            orders.confirm_receipt(s, member_id, o.id, at + day)
        events.drain(db)
        return o.id

    for i, m in enumerate(friends[:3]):  # received 15 days ago: granted once the window closed, 3 friends reached
        first_order(m, now - 16 * day + i * timedelta(hours=2))
    jobs.run_due(db, now - 7 * day)
    first_order(friends[3], now - 3 * day)  # received two days ago: pending
    refunded = first_order(friends[4], now - 4 * day)  # refunded below the 20 元 minimum: void
    with db.transaction() as s:
        line = orders.member_order(s, friends[4], refunded).lines[0]
        case = orders.request_refund(s, friends[4], refunded, [(line.id, line.paid - 1000)], "草莓放坏了", [], now - 2 * day)
        if case.status == "requested":
            orders.approve(s, owner, merchant_id, case.id, now - 2 * day)
    events.drain(db)
    # friends[5] only signed up: nothing
    seed_boards(db, merchant_id, owner_phone, now)  # leaderboards: this week's with a tie, last week's honour frozen
    seed_badges(db, merchant_id, owner_phone, now)  # the main sharer's badges and the starter kit (demo_badges.py)
    return True
