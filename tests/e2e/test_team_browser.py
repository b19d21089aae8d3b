"""A group-buy team in headless Chromium: a member opens a two-person team at the team
price and pays in the sandbox; the team page shows them and a link to copy; a neighbour
opens that link (not logged in yet), joins, logs in, pays, and both see the team formed.

The live server runs with ``dispatcher=False`` (tests/conftest.py): the payment callbacks
and the team's reaction to them are delivered when the test calls ``events.drain(db)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import select

from linli import events
from linli.campaigns import rules as campaign_rules
from linli.campaigns import service as campaigns
from linli.campaigns.models import Team
from linli.catalog import service as catalog
from linli.community import service as community
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders.models import Order
from tests.conftest import ADMIN
from tests.e2e.conftest import PHONE, fits_the_phone, shot, watch

pytestmark = pytest.mark.browser

OWNER = "13800000001"
OPENER = "13900002222"
FRIEND = "13900003333"


@dataclass
class Shop:
    merchant_id: int
    berry: int
    campaign_id: int


def _shop(db, clock) -> Shop:
    admin = Principal(0, ADMIN, True)
    now = clock()
    with db.transaction() as s:
        merchant, owner = identity.create_merchant(s, admin, "优邻优选", OWNER, now)
        home = community.create_community(s, admin, merchant.id, "云顶华府", "杭州", 30.274085, 120.155070, now)
        community.add_pickup_point(s, admin, merchant.id, home.id, "东门驿站", "云顶华府东门 3 号", 30.2748, 120.1556, now)
        _, berries = catalog.create_product(s, admin, merchant.id, "黄金奶油草莓", "水果", [catalog.SkuInput("1盒", 6800, 100)], now)
        spec = campaign_rules.CampaignSpec(kind="group_buy", title="草莓两人拼", starts_at=now, ends_at=now + timedelta(days=2), team_size=2, team_hours=24)
        staff = Principal(owner.id, OWNER, False)  # the owner sets the campaign up in the console
        c = campaigns.create_campaign(s, staff, merchant.id, spec, now=now)
        campaigns.add_offer(s, staff, merchant.id, c.id, campaigns.OfferSpec(berries[0].id, 4990), now)
        for phone, nick in ((OPENER, "王阿姨"), (FRIEND, "陈姐")):
            m = identity.get_or_create_member(s, phone, now, nickname=nick)
            community.set_home_community(s, m.id, home.id, now)
        return Shop(merchant.id, berries[0].id, c.id)


def _enter_code(page, phone: str) -> None:
    page.locator("input[name=phone]").fill(phone)
    page.locator("form[action$='/login/code'] button[type=submit]").click()
    code = page.get_by_test_id("debug-code").inner_text().strip()
    page.locator("input[name=code]").fill(code)
    page.locator("form[action$='/login'] button[type=submit]").click()


def _checkout_and_pay(page, db, status: str) -> None:
    """On the checkout page: the team price, submit, confirm in the sandbox sheet; the
    callback arrives while the order page polls."""
    page.wait_for_url("**/m/checkout?*")
    assert page.get_by_test_id("checkout-total").inner_text() == "¥49.90"
    assert page.get_by_role("radio", name="东门驿站").is_checked()
    page.get_by_role("button", name="提交订单并支付").click()
    page.wait_for_url("**/m/pay/*")
    assert page.get_by_test_id("pay-amount").inner_text().replace(" ", "") == "¥49.90"
    page.get_by_role("button", name="确认支付").click()
    page.wait_for_url("**/m/orders/*?confirming=1")
    page.get_by_test_id("confirming").wait_for()
    events.drain(db)
    page.get_by_test_id("order-status").filter(has_text=status).wait_for()


def test_member_opens_a_team_a_neighbour_joins_through_the_link_and_the_team_forms(browser, live_server, db, clock, backend, console_errors):
    shop = _shop(db, clock)
    base = live_server.url
    opener_ctx = browser.new_context(**PHONE)
    opener_ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    friend_ctx = browser.new_context(**PHONE)
    try:
        # The campaign page sends a member to checkout with the campaign: that opens a team.
        page = opener_ctx.new_page()
        watch(page, console_errors)
        page.goto(base + "/m/login?next=" + quote(f"/m/checkout?sku={shop.berry}&qty=1&campaign={shop.campaign_id}", safe=""))
        _enter_code(page, OPENER)
        _checkout_and_pay(page, db, "等待成团")  # paid, waiting for the team
        clock.advance(minutes=5)
        page.get_by_test_id("order-team").click()

        page.wait_for_url("**/m/teams/*")
        tid = int(page.url.rsplit("/", 1)[1])
        assert page.get_by_test_id("team-status").inner_text() == "拼团中"
        assert page.get_by_test_id("team-needed").inner_text() == "还差 1 人成团"
        assert page.get_by_test_id("team-price").inner_text() == "¥49.90"
        members = page.get_by_test_id("team-member")
        assert members.count() == 1 and "王**" in members.first.inner_text() and "团长" in members.first.inner_text()
        assert page.get_by_test_id("countdown").inner_text().startswith("23:5")  # of 24 hours, ticking
        assert page.get_by_test_id("join-team").count() == 0  # already in it
        link = page.get_by_test_id("team-link").input_value()
        assert link == f"{base}/m/teams/{tid}"
        page.get_by_role("button", name="复制").click()
        page.get_by_role("button", name="已复制").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == link
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-team-forming-{backend}.png")

        # A neighbour opens the shared link in another phone, not logged in yet.
        friend = friend_ctx.new_page()
        watch(friend, console_errors)
        friend.goto(link)
        assert friend.get_by_test_id("team-member").count() == 1
        assert "王阿姨" not in friend.content() and OPENER not in friend.content()  # masked
        join = friend.get_by_test_id("join-team")
        assert join.inner_text() == "参与拼团 · ¥49.90"
        join.click()
        friend.wait_for_url("**/m/login?next=**")  # joining needs a login first
        _enter_code(friend, FRIEND)
        _checkout_and_pay(friend, db, "已付款")  # the second seat paid: the team formed
        friend.get_by_test_id("order-team").click()
        friend.wait_for_url(f"**/m/teams/{tid}")
        assert friend.get_by_test_id("team-status").inner_text() == "拼团成功"
        names = [m.inner_text() for m in friend.get_by_test_id("team-member").all()]
        assert len(names) == 2 and "王**" in names[0] and "陈**" in names[1]
        assert "你已在团中" in friend.get_by_test_id("you-are-in").inner_text()
        assert friend.get_by_test_id("join-team").count() == 0 and friend.get_by_test_id("countdown").count() == 0
        fits_the_phone(friend)
        shot(friend, f"/tmp/linli-mobile-team-formed-{backend}.png")

        page.reload()
        assert page.get_by_test_id("team-status").inner_text() == "拼团成功"
        assert page.get_by_test_id("team-member").count() == 2
    finally:
        opener_ctx.close()
        friend_ctx.close()
    assert console_errors == []
    with db.transaction() as s:
        team = s.get(Team, tid)
        assert team.status == "succeeded" and team.paid_count == 2
        assert [o.status for o in s.scalars(select(Order).where(Order.team_id == tid).order_by(Order.id))] == ["paid", "paid"]
