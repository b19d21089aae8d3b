"""Demo risk control (风控), made through the same services and events as real requests, with
the device and IP a request would carry bound where the request would bind them
(``linli.edge``: seeding has no HTTP request, and the producers read the context):

- 阿强 (翠苑一区) signs up a second account, 强哥, on his own phone; 强哥 binds to his code
  (the binding is flagged) and buys: 阿强 earns nothing on it (the order's console page shows
  the refused share) and his case is open at 拦截 (block);
- 刘姐 (星河湾) has available commission from her long-time neighbour 胡阿姨's received and
  settled order; three new accounts bind to her from one phone: a device cluster, her case
  is open at hold and the available commission moved to held (her sharer centre: 审核中);
- 周阿姨 (云顶华府): her husband, daughter and grandson signed up on the family tablet and
  bound to her, the same cluster; the owner released the case as a false positive with a
  reason, so her commission is available again and the desk's closed tab says who and why.

The rule set stays the defaults (version 0). The neighbours who earned the commission were
bound two months ago, so their orders are no new referrals for 菜场老王's programme and no
new members' orders for the velocity rule."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from linli import edge, events, jobs
from linli.catalog import service as catalog
from linli.community import service as community
from linli.db import Database
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.payments import service as payments
from linli.referral import service as referral
from linli.risk import cases

# (phone, nickname, community, device id, IP) — the sharer first, then the accounts of the story
SELF_REFERRAL = [
    ("13700000501", "阿强", "翠苑一区", "demo-aqiang-iphone-0501", "183.157.21.8"),
    ("13700000502", "强哥", "翠苑一区", "demo-aqiang-iphone-0501", "183.157.21.8"),  # his second account, same phone
]
CLUSTER = [
    ("13700000511", "刘姐", "星河湾", "demo-liujie-huawei-0511", "115.197.40.12"),
    ("13700000512", "胡阿姨", "星河湾", "demo-hu-vivo-0512", "115.197.40.77"),  # the honest neighbour
    ("13700000513", "小罗", "星河湾", "demo-shared-oppo-7788", "39.172.8.201"),
    ("13700000514", "小郑", "星河湾", "demo-shared-oppo-7788", "39.172.8.201"),
    ("13700000515", "小冯", "星河湾", "demo-shared-oppo-7788", "39.172.8.201"),
]
RELEASED = [
    ("13700000521", "周阿姨", "云顶华府", "demo-zhou-iphone-0521", "60.191.3.45"),
    ("13700000522", "吴奶奶", "云顶华府", "demo-wu-redmi-0522", "60.191.3.90"),  # the honest neighbour
    ("13700000523", "周叔叔", "云顶华府", "demo-zhou-family-ipad", "60.191.3.45"),  # the family tablet, at home
    ("13700000524", "周晓雯", "云顶华府", "demo-zhou-family-ipad", "60.191.3.45"),
    ("13700000525", "周小宝", "云顶华府", "demo-zhou-family-ipad", "60.191.3.45"),
]
RELEASE_REASON = "一家人共用一台平板：周叔叔、女儿晓雯和外孙小宝都在家里的平板上注册并绑定了周阿姨，已电话核实，不是刷单"
# What `linli demo` prints: (phone, nickname, the story)
STORIES = [
    (SELF_REFERRAL[0][0], "阿强", "自购拦截 self-referral, blocked"),
    (CLUSTER[0][0], "刘姐", "同设备多账号 device cluster, 审核中 on hold"),
    (RELEASED[0][0], "周阿姨", "已放行 released (false positive)"),
]


@contextmanager
def on_device(device_id: str, ip: str) -> Iterator[None]:
    """What the edge middleware binds for a request from this device and IP."""
    token = edge.bind(edge.facts_for(device_id, ip))
    try:
        yield
    finally:
        edge.reset(token)


def seed_risk(db: Database, merchant_id: int, owner_phone: str, now: datetime) -> bool:
    day = timedelta(days=1)
    with db.transaction() as s:
        first = identity.get_or_create_member(s, SELF_REFERRAL[0][0], now - 60 * day, nickname=SELF_REFERRAL[0][1])
        if referral.sharer_status(s, merchant_id, first.id) != "none":
            return False  # seeded already
        owner_m = identity.get_or_create_member(s, owner_phone, now)
        owner = Principal(owner_m.id, owner_m.phone, False)
        products = {p.name: p for p in catalog.list_products(s, owner, merchant_id)}
        skus = catalog.skus_of(s, [p.id for p in products.values()])
        berry, eggs, greens = (skus[products[n].id][0].id for n in ("黄金奶油草莓", "散养土鸡蛋", "有机小油菜"))
        points = {c.name: community.list_pickup_points(s, c.id)[0].id for c in community.list_communities(s, owner, merchant_id)}
        homes = {c.name: c.id for c in community.list_communities(s, owner, merchant_id)}
        members: dict[str, tuple[int, int, str, str]] = {}  # phone → (member id, pickup point, device, ip)
        for phone, nick, home, device, ip in SELF_REFERRAL + CLUSTER + RELEASED:
            m = identity.get_or_create_member(s, phone, now - 60 * day, nickname=nick)
            community.set_home_community(s, m.id, homes[home], now - 60 * day)
            members[phone] = (m.id, points[home], device, ip)
        for phone, *_ in (SELF_REFERRAL[0], CLUSTER[0], RELEASED[0]):
            referral.appoint(s, owner, merchant_id, phone, now - 60 * day)
    events.drain(db)

    def bind(phone: str, sharer_phone: str, at: datetime) -> None:
        member_id, _, device, ip = members[phone]
        with on_device(device, ip), db.transaction() as s:
            code = referral.my_code(s, members[sharer_phone][0], merchant_id, at).code
            referral.bind(s, member_id, code, at, invitee_is_new=True)
        events.drain(db)

    def buy(phone: str, items: list[tuple[int, int]], at: datetime) -> int:
        member_id, point, device, ip = members[phone]
        with on_device(device, ip), db.transaction() as s:
            o = orders.create_order(s, member_id, orders.NewOrder(merchant_id, items, pickup_point_id=point), at)
            p = orders.start_payment(s, member_id, o.id, at)
            payments.sandbox_complete(s, member_id, p.id, at)
        events.drain(db)
        return o.id

    def received(phone: str, order_id: int, at: datetime) -> None:
        with db.transaction() as s:
            orders.mark_ready(s, owner, merchant_id, order_id, at - timedelta(hours=3))
            orders.confirm_receipt(s, members[phone][0], order_id, at)
        events.drain(db)

    # The honest neighbours, bound two months ago, buy through 刘姐 and 周阿姨: received and
    # settled (available) before anything else happens.
    bind(CLUSTER[1][0], CLUSTER[0][0], now - 60 * day)
    bind(RELEASED[1][0], RELEASED[0][0], now - 60 * day)
    received(CLUSTER[1][0], buy(CLUSTER[1][0], [(berry, 2)], now - 12 * day), now - 11 * day)
    received(RELEASED[1][0], buy(RELEASED[1][0], [(eggs, 1), (berry, 1)], now - 12 * day + timedelta(hours=2)), now - 11 * day)
    jobs.run_due(db, now - 3 * day)
    # 阿强 buys on his phone; his second account on the same phone binds to him (flagged)
    # and buys: a self-referral, 阿强 earns nothing on it and his case is at block.
    buy(SELF_REFERRAL[0][0], [(greens, 2)], now - 6 * day)
    bind(SELF_REFERRAL[1][0], SELF_REFERRAL[0][0], now - 5 * day)
    buy(SELF_REFERRAL[1][0], [(berry, 2)], now - 5 * day + timedelta(hours=1))
    # Three new accounts from one phone bind to 刘姐, the family tablet's three to 周阿姨.
    for i, (phone, *_) in enumerate(CLUSTER[2:]):
        bind(phone, CLUSTER[0][0], now - 2 * day + i * timedelta(minutes=40))
    for i, (phone, *_) in enumerate(RELEASED[2:]):
        bind(phone, RELEASED[0][0], now - 3 * day + i * timedelta(hours=5))
    # The owner called 周阿姨 and released her case the next morning: a false positive.
    with db.transaction() as s:
        zhou = members[RELEASED[0][0]][0]
        [case] = [v.case for v in cases.list_cases(s, owner, merchant_id, "open", now) if v.case.member_id == zhou]
        cases.decide(s, owner, merchant_id, case.id, "release", RELEASE_REASON, now - 2 * day + timedelta(hours=1), false_positive=True)
    events.drain(db)
    return True
