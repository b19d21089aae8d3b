"""A flash sale in headless Chromium with the Redis gate on: a neighbour taps buy on a phone,
the unit is held at once and the page waits while the order is placed, then moves on to
the order by itself, ready to pay.

The live server runs no background loops (tests/conftest.py): the test drains the queue.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from linli.campaigns import rules
from linli.campaigns import service as campaigns
from linli.campaigns.flash_sale import gate as flash
from linli.campaigns.flash_sale import queue as flash_queue
from linli.catalog import service as catalog
from linli.community import service as community
from linli.identity import service as identity
from linli.identity.service import Principal
from tests.conftest import ADMIN
from tests.e2e.conftest import PHONE, fits_the_phone, shot, watch
from tests.e2e.test_campaign_browser import _log_in, buy_for_pickup

pytestmark = [pytest.mark.browser, pytest.mark.redis]

NEIGHBOUR = "13700000001"


def _flash_sale(db, clock) -> tuple[int, int]:
    admin = Principal(0, ADMIN, True)
    now = clock()
    with db.transaction() as s:
        merchant, owner_member = identity.create_merchant(s, admin, "优邻优选", "13800000001", now)
        owner = Principal(owner_member.id, "13800000001", False)
        home = community.create_community(s, admin, merchant.id, "云顶华府", "杭州", 30.274085, 120.155070, now)
        community.add_pickup_point(s, admin, merchant.id, home.id, "东门驿站", "云顶华府东门 3 号", 30.2748, 120.1556, now)
        _, berries = catalog.create_product(s, admin, merchant.id, "黄金奶油草莓", "水果", [catalog.SkuInput("1盒", 6800, 500)], now)
        spec = rules.CampaignSpec(kind="flash_sale", title="整点秒杀·草莓", starts_at=now, ends_at=now + timedelta(hours=1))
        c = campaigns.create_campaign(s, owner, merchant.id, spec, now=now)
        o = campaigns.add_offer(s, owner, merchant.id, c.id, campaigns.OfferSpec(berries[0].id, 990, quota=5, limit_per_member=1), now)
        return c.id, o.id


def test_a_neighbour_buys_in_a_flash_sale_and_the_queued_page_moves_on_to_the_order(browser, live_server, db, clock, backend, gate, console_errors):
    campaign_id, offer_id = _flash_sale(db, clock)
    base = live_server.url
    ctx = browser.new_context(**PHONE)
    page = ctx.new_page()
    watch(page, console_errors)
    try:
        page.goto(f"{base}/m/campaigns/{campaign_id}")
        page.get_by_test_id("campaign-login").click()
        page.wait_for_url("**/m/login**")
        _log_in(page, NEIGHBOUR)
        page.wait_for_url(f"**/m/campaigns/{campaign_id}")
        buy_for_pickup(page, "¥9.90")

        # The unit is held at the gate; the order waits in the queue.
        page.wait_for_url("**/m/orders/queued/*")
        expect(page.get_by_test_id("queued-status")).to_have_text("已为你锁定名额，订单正在生成，页面稍后会自动跳转。")
        assert flash.gate_state(offer_id).left == 4 and flash_queue.waiting(offer_id) == 1
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-flash-queued-{backend}.png")

        assert flash_queue.drain(db, now=clock.current) == 1  # the drainer places it; the page, polling, moves on
        page.wait_for_url(re.compile(r".*/m/orders/\d+$"), timeout=15_000)
        expect(page.get_by_role("button", name="立即支付")).to_be_visible()
        shot(page, f"/tmp/linli-mobile-flash-order-{backend}.png")
    finally:
        ctx.close()
    assert console_errors == []
