"""The live room's sharer corner in headless Chromium on a 390-px phone (seed 003: 直播间下方
常驻"一键成为分享官"的按钮，并展示实时的佣金收益榜).

A visitor opens the live page: the board already lists 阿芳, whose link brought two orders;
they log in from the sharer card and come back to the live page, tap once, and see their
share link; a neighbour then buys through that link and the board, never reloaded, lists
them first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from linli import events
from linli.campaigns import rules
from linli.campaigns import service as campaigns
from linli.catalog import service as catalog
from linli.community import service as community
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.payments import service as payments
from linli.referral import service as referral
from tests.conftest import ADMIN
from tests.e2e.conftest import PHONE, fits_the_phone, shot, watch
from tests.e2e.test_campaign_browser import _log_in

pytestmark = pytest.mark.browser

OWNER = "13800000001"
VISITOR = "13700000001"


@dataclass
class Room:
    merchant_id: int
    campaign_id: int
    point_id: int
    sku_id: int


def _room(db, clock) -> Room:
    admin = Principal(0, ADMIN, True)
    now = clock()
    with db.transaction() as s:
        merchant, owner_member = identity.create_merchant(s, admin, "优邻优选", OWNER, now)
        owner = Principal(owner_member.id, OWNER, False)
        referral.configure(s, merchant.id, bind_mode="first_touch", protection_days=30, sharer_mode="everyone", spend_threshold=0)
        home = community.create_community(s, admin, merchant.id, "云顶华府", "杭州", 30.274085, 120.155070, now)
        point = community.add_pickup_point(s, admin, merchant.id, home.id, "东门驿站", "云顶华府东门 3 号", 30.2748, 120.1556, now)
        _, berries = catalog.create_product(s, admin, merchant.id, "黄金奶油草莓", "水果", [catalog.SkuInput("1盒", 6800, 500)], now)
        spec = rules.CampaignSpec(kind="live", title="黄金奶油草莓直播", starts_at=now - timedelta(minutes=10), ends_at=now + timedelta(hours=2))
        c = campaigns.create_campaign(s, owner, merchant.id, spec, now=now)
        campaigns.add_offer(s, owner, merchant.id, c.id, campaigns.OfferSpec(berries[0].id, 5800, quota=100, label="直播价"), now)
        fang = identity.get_or_create_member(s, "13700000041", now, nickname="阿芳")
        referral.apply(s, fang.id, merchant.id, now)
        room = Room(merchant.id, c.id, point.id, berries[0].id)
    code = _code_of(db, fang.id, room, clock)
    _buy(db, room, "13700000051", code, 2, clock)
    _buy(db, room, "13700000052", code, 1, clock)
    return room


def _code_of(db, member_id: int, room: Room, clock) -> str:
    with db.transaction() as s:
        return referral.my_code(s, member_id, room.merchant_id, clock()).code


def _buy(db, room: Room, phone: str, code: str, qty: int, clock) -> None:
    now = clock()
    with db.transaction() as s:
        m = identity.get_or_create_member(s, phone, now)
        campaigns.enter(s, m.id, room.campaign_id, code, now)
        o = orders.create_order(s, m.id, orders.NewOrder(room.merchant_id, [(room.sku_id, qty)], pickup_point_id=room.point_id, campaign_id=room.campaign_id), now)
        p = orders.start_payment(s, m.id, o.id, now)
        payments.sandbox_complete(s, m.id, p.id, now)
    events.drain(db)


def _entry(locator) -> str:
    return " ".join(locator.inner_text().split())


def test_one_tap_on_a_phone_makes_a_sharer_with_a_share_link_and_the_board_lists_them(browser, live_server, db, clock, backend, console_errors):
    room = _room(db, clock)
    base = live_server.url
    ctx = browser.new_context(**PHONE)
    page = ctx.new_page()
    watch(page, console_errors)
    try:
        page.goto(f"{base}/m/campaigns/{room.campaign_id}")
        entries = page.get_by_test_id("board-entry")
        expect(entries).to_have_count(1)
        assert _entry(entries.first) == "1 阿芳 137****0041 ¥174.00 2 单"
        fits_the_phone(page)
        page.get_by_test_id("become-sharer-login").click()
        page.wait_for_url("**/m/login**")
        _log_in(page, VISITOR)
        page.wait_for_url(f"**/m/campaigns/{room.campaign_id}")  # back in the live room

        button = page.get_by_test_id("become-sharer")
        assert button.inner_text() == "一键成为分享官"
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-live-sharer-button-{backend}.png")
        button.click()
        page.wait_for_url(f"**/m/campaigns/{room.campaign_id}?sharer=active#sharer")
        assert page.get_by_test_id("sharer-notice").inner_text() == "你已成为分享官，快把下面的链接分享给邻居吧。"
        link = page.get_by_test_id("share-link").input_value()
        with db.transaction() as s:
            me = identity.get_or_create_member(s, VISITOR, clock())
        code = _code_of(db, me.id, room, clock)
        assert link == f"{base}/m/campaigns/{room.campaign_id}?code={code}"
        assert page.get_by_test_id("become-sharer").count() == 0
        assert page.get_by_test_id("board-me").inner_text().startswith("暂未上榜")
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-live-sharer-link-{backend}.png")

        # A neighbour buys four boxes through the new link: the board, never reloaded, lists them first.
        clock.advance(minutes=1)
        _buy(db, room, "13700000061", code, 4, clock)
        expect(entries).to_have_count(2, timeout=15_000)  # re-read every 5 s
        assert [_entry(entries.nth(i)) for i in range(2)] == ["1 邻居0001 137****0001 ¥232.00 1 单", "2 阿芳 137****0041 ¥174.00 2 单"]
        assert "我的排名：第 1 名" in page.get_by_test_id("board-me").inner_text()
        assert page.get_by_test_id("board-me-commission").inner_text() == "预估佣金 ¥46.40"
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-live-sharer-board-{backend}.png")
    finally:
        ctx.close()
    assert console_errors == []
