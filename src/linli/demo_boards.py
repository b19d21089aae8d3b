"""Demo leaderboards: four demo neighbours share the shop and the neighbours they bring have
orders of 有机小油菜 received this week — 大山 first (two neighbours, three bags), 张阿姨 second
(two bags), 程序员老刘 and 甜甜 sharing third with a bag each (程序员老刘 got there first) — and,
when last week's honour (周度分享之星) was not frozen yet by the demo's earlier due jobs, last
week too, then frozen as that closed week stands. Made through the same services and order
events as real requests, after what ``demo_incentives`` seeds."""

from __future__ import annotations

from datetime import datetime, timedelta

from linli import events
from linli.catalog import service as catalog
from linli.community import service as community
from linli.db import Database
from linli.errors import NotFound
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.incentives import honours
from linli.incentives.board_rules import Period, period_start, previous_start
from linli.incentives.models import HonourClose
from linli.orders import service as orders
from linli.payments import service as payments
from linli.referral import service as referral

SHARERS = ["13700000005", "13700000007", "13700000008", "13700000009"]  # demo neighbours (demo.py), nicknames no one else has
FIRST_FRIEND = 13700000301  # the neighbours they bring: 13700000301…


def seed_boards(db: Database, merchant_id: int, owner_phone: str, now: datetime) -> bool:
    week = period_start(Period.week, now)
    last = previous_start(Period.week, now)
    with db.transaction() as s:
        try:
            identity.member_by_phone(s, str(FIRST_FRIEND))
            return False  # seeded already
        except NotFound:
            pass
        owner_m = identity.get_or_create_member(s, owner_phone, now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        greens = next(p for p in catalog.list_products(s, owner, merchant_id) if p.name == "有机小油菜")
        # 6.90 元 a bag: every order stays below the eggs programme's 20 元 minimum, so these
        # neighbours bring sales only (no referral rewards: demo_incentives' counts stay).
        bag = catalog.skus_of(s, [greens.id])[greens.id][0].id
        sharers = []
        for phone in SHARERS:
            m = identity.get_or_create_member(s, phone, last)
            home = community.home_community(s, m.id, merchant_id)
            sharers.append((m.id, referral.my_code(s, m.id, merchant_id, last).code, community.list_pickup_points(s, home.id)[0].id, home.id))
    friends = iter(range(FIRST_FRIEND, FIRST_FRIEND + 100))

    def brought(sharer: int, qty: int, at: datetime) -> None:
        _, code, point, home_id = sharers[sharer]
        with db.transaction() as s:
            m = identity.get_or_create_member(s, str(next(friends)), at - timedelta(minutes=30))
            community.set_home_community(s, m.id, home_id, at - timedelta(minutes=30))
            referral.bind(s, m.id, code, at - timedelta(minutes=30), invitee_is_new=True)
        events.drain(db)
        with db.transaction() as s:
            o = orders.create_order(s, m.id, orders.NewOrder(merchant_id, [(bag, qty)], pickup_point_id=point), at - timedelta(minutes=20))
            p = orders.start_payment(s, m.id, o.id, at - timedelta(minutes=20))
            payments.sandbox_complete(s, m.id, p.id, at - timedelta(minutes=20))
        events.drain(db)
        with db.transaction() as s:
            orders.mark_ready(s, owner, merchant_id, o.id, at - timedelta(minutes=10))
            orders.confirm_receipt(s, m.id, o.id, at)
        events.drain(db)

    with db.transaction() as s:
        frozen = s.get(HonourClose, (merchant_id, Period.week.value, last)) is not None
    if not frozen:  # last week, Tuesday to Thursday (once frozen, a late sale would not be in its honour)
        for i, (sharer, qty) in enumerate([(1, 1), (0, 2), (3, 1)]):
            brought(sharer, qty, last + timedelta(days=1 + i, hours=11))
    step = max((now - week) / 6, timedelta(seconds=1))  # this week so far, however little of it has passed
    for i, (sharer, qty) in enumerate([(3, 2), (0, 2), (1, 1), (2, 1), (3, 1)], start=1):
        brought(sharer, qty, min(week + i * step, now))
    with db.transaction() as s:
        honours.freeze(s, merchant_id, Period.week, last, now)  # last week has closed: its honour, frozen
    honours.freeze_due(db, now)  # and any other closed period with a board
    return True
