"""A live session in headless Chromium (seed 002: 小李's strawberries at 58元 for 云顶华府).

The leader takes their campaign link from the leader kit; a neighbour opens it on a phone,
logs in, comes back to the campaign through the code, buys the community offer and pays in
the sandbox; the console's live board, left open on a desktop, refreshes itself and shows
the order under the leader's code.

The live server runs with ``dispatcher=False`` (tests/conftest.py): the payment callback
is delivered when the test calls ``events.drain(db)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from linli import events
from linli.campaigns import rules
from linli.campaigns import service as campaigns
from linli.campaigns.models import CampaignEntry
from linli.catalog import service as catalog
from linli.community import service as community
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders.models import Order
from tests.conftest import ADMIN
from tests.e2e.conftest import DESK, PHONE, fits_the_phone, shot, watch

pytestmark = pytest.mark.browser

OWNER = "13800000001"
LEADER = "13900000001"
NEIGHBOUR = "13700000001"


@dataclass
class Live:
    merchant_id: int
    campaign_id: int
    leader_id: int


def _live(db, clock) -> Live:
    admin = Principal(0, ADMIN, True)
    now = clock()
    with db.transaction() as s:
        merchant, owner_member = identity.create_merchant(s, admin, "优邻优选", OWNER, now)
        owner = Principal(owner_member.id, OWNER, False)
        home = community.create_community(s, admin, merchant.id, "云顶华府", "杭州", 30.274085, 120.155070, now)
        community.add_pickup_point(s, admin, merchant.id, home.id, "东门驿站", "云顶华府东门 3 号", 30.2748, 120.1556, now)
        leader = identity.get_or_create_member(s, LEADER, now, nickname="小李")
        community.set_leader(s, admin, merchant.id, home.id, leader.id)
        _, berries = catalog.create_product(s, admin, merchant.id, "黄金奶油草莓", "水果", [catalog.SkuInput("1盒", 6800, 500)], now)
        neighbour = identity.get_or_create_member(s, NEIGHBOUR, now, nickname="王阿姨")
        community.set_home_community(s, neighbour.id, home.id, now)
        spec = rules.CampaignSpec(kind="live", title="黄金奶油草莓直播", starts_at=now, ends_at=now + timedelta(hours=2))
        c = campaigns.create_campaign(s, owner, merchant.id, spec, kit_copy="今晚8点，草莓大棚直播！", now=now)
        campaigns.add_offer(s, owner, merchant.id, c.id, campaigns.OfferSpec(berries[0].id, 5800, quota=100, limit_per_member=2, community_id=home.id, leader_id=leader.id, label="云顶华府专享"), now)
        return Live(merchant.id, c.id, leader.id)


def _log_in(page, phone: str) -> None:
    page.locator("input[name=phone]").fill(phone)
    page.locator("form[action$='/login/code'] button[type=submit]").click()
    code = page.get_by_test_id("debug-code").inner_text().strip()
    page.locator("input[name=code]").fill(code)
    page.locator("form[action$='/login'] button[type=submit]").click()


def _leaders_link(browser, base: str, live: Live, backend: str, errors: list[str]) -> str:
    ctx = browser.new_context(**PHONE)
    page = ctx.new_page()
    watch(page, errors)
    try:
        page.goto(f"{base}/m/campaigns/{live.campaign_id}/kit")
        page.wait_for_url("**/m/login**")
        _log_in(page, LEADER)
        page.wait_for_url(f"**/m/campaigns/{live.campaign_id}/kit")
        code = page.get_by_test_id("kit-code").inner_text().strip()
        link = page.get_by_test_id("kit-link").input_value()
        assert link == f"{base}/m/campaigns/{live.campaign_id}?code={code}"
        assert page.get_by_test_id("kit-copy").input_value() == f"今晚8点，草莓大棚直播！\n{link}"
        poster = page.get_by_test_id("kit-poster")
        poster.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth === 750", arg=poster.element_handle())
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-campaign-kit-{backend}.png")
        return link
    finally:
        ctx.close()


def buy_for_pickup(page, total: str) -> None:
    """From the campaign page: buy one, check the total, pick it up at 东门驿站, submit."""
    page.get_by_test_id("buy").click()
    page.wait_for_url("**/m/checkout?*")
    assert page.get_by_test_id("checkout-total").inner_text() == total
    page.get_by_role("radio", name="东门驿站").check()
    page.get_by_role("button", name="提交订单并支付").click()


def test_a_neighbour_buys_through_the_leaders_link_and_the_board_counts_it_for_the_leader(browser, live_server, db, clock, backend, console_errors):
    live = _live(db, clock)
    base = live_server.url
    link = _leaders_link(browser, base, live, backend, console_errors)
    code = link.rsplit("=", 1)[1]

    # The owner keeps the live board open on a desktop.
    desk_ctx = browser.new_context(**DESK)
    desk = desk_ctx.new_page()
    watch(desk, console_errors)
    phone_ctx = browser.new_context(**PHONE)
    try:
        desk.goto(f"{base}/console/merchants/{live.merchant_id}/campaigns/{live.campaign_id}")
        _log_in(desk, OWNER)
        desk.wait_for_url(f"**/console/merchants/{live.merchant_id}/campaigns/{live.campaign_id}")
        assert desk.get_by_test_id("board-paid").inner_text() == "0"
        assert desk.get_by_test_id("quota-left").inner_text() == "100"

        # The neighbour opens the leader's link on a phone.
        page = phone_ctx.new_page()
        watch(page, console_errors)
        page.goto(link)
        assert page.get_by_test_id("inviter").inner_text() == "由 小李 邀请"
        assert page.get_by_test_id("offer-price").inner_text() == "¥58.00"
        assert page.get_by_test_id("list-price").inner_text() == "¥68.00"
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-campaign-visitor-{backend}.png")
        page.get_by_test_id("campaign-login").click()
        page.wait_for_url("**/m/login**")
        _log_in(page, NEIGHBOUR)
        page.wait_for_url(f"**/m/campaigns/{live.campaign_id}?code={code}")  # back where the link pointed
        assert page.get_by_test_id("inviter").inner_text() == "由 小李 邀请"
        assert page.get_by_test_id("offer-hint").count() == 0
        assert page.get_by_test_id("countdown").inner_text().count(":") == 2
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-campaign-{backend}.png")
        buy_for_pickup(page, "¥58.00")
        page.wait_for_url("**/m/pay/*")
        assert page.get_by_test_id("pay-amount").inner_text().replace(" ", "") == "¥58.00"
        page.get_by_role("button", name="确认支付").click()
        page.wait_for_url("**/m/orders/*?confirming=1")
        events.drain(db)  # the gateway's signed callback arrives
        page.get_by_test_id("pickup-code").wait_for()
        oid = int(page.url.split("/m/orders/")[1].split("?")[0])

        # The board, never reloaded, refreshes itself and shows the sale under 小李's code.
        expect(desk.get_by_test_id("board-paid")).to_have_text("1", timeout=15_000)  # polled every 5 s
        assert " ".join(desk.get_by_test_id("board-code").inner_text().split()) == f"{code} 小李 1 1 ¥58.00"
        assert desk.get_by_test_id("board-gmv").inner_text() == "¥58.00"
        assert desk.get_by_test_id("quota-left").inner_text() == "99"
        shot(desk, f"/tmp/linli-console-campaign-board-{backend}.png")
    finally:
        desk_ctx.close()
        phone_ctx.close()
    assert console_errors == []
    with db.transaction() as s:
        o = s.get(Order, oid)
        assert (o.status, o.total_paid, o.invite_code, o.campaign_id) == ("paid", 5800, code, live.campaign_id)
        entry = s.scalars(select(CampaignEntry).where(CampaignEntry.campaign_id == live.campaign_id)).one()
        assert (entry.invite_code, entry.code_owner_id) == (code, live.leader_id)
