"""Badges and the starter kit in headless Chromium on a 390-px phone: the sharer who reached
社区推荐官 sees the badge, the progress to the next ones and the privileges (the group, a
campaign code page with the code) in Chinese and in English; the friend who just became a
sharer sees the 新手礼包 and hides it. Nothing sticks out sideways."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.campaigns.helpers import create_campaign
from tests.e2e.conftest import PHONE, fits_the_phone, shot, watch
from tests.e2e.test_browser import _log_in
from tests.incentives.helpers import INVITER, _complete, first_order, friend, setup
from tests.incentives.test_badge_privileges import GROUP
from tests.incentives.test_badges import configure

pytestmark = pytest.mark.browser


def test_a_recommender_and_a_new_sharer_on_the_phone(browser, live_server, client, db, merchant, clock, backend, console_errors):
    p = setup(client, merchant, clock)
    t = client.post(f"/api/v1/merchants/{p.shop.merchant_id}/coupon-templates",
                    json={"name": "新晋分享官10元无门槛券", "kind": "fixed", "amount": 1000, "total": 100, "valid_days": 30, "claimable": False}, headers=p.shop.owner).json()
    configure(client, p, recommender_referrals=1, starter_template_id=t["id"], **GROUP)
    assert client.post(f"/api/v1/merchants/{p.shop.merchant_id}/sharers", json={"phone": INVITER}, headers=p.shop.owner).status_code == 201
    first_order(client, db, p, friend(client, db, p, 1))
    _complete(db, clock)
    live = create_campaign(client, p.shop, "live", clock(), starts_in=timedelta(hours=3), title="周五草莓直播间·云顶华府专场")
    url = f"/m/share/{p.shop.merchant_id}"
    context = browser.new_context(**PHONE)
    page = context.new_page()
    watch(page, console_errors)
    try:
        _log_in(page, live_server.url, url, INVITER)
        section = page.get_by_test_id("badges")
        section.wait_for()
        held = [b.get_attribute("data-badge") for b in section.get_by_test_id("badge-held").all()]
        assert "recommender" in held and "first_sale" in held
        assert "社区推荐官" in section.inner_text() and GROUP["group_name"] in section.inner_text()
        assert "¥68.00 / ¥1000.00" in section.locator("[data-badge=gmv_bronze]").inner_text()
        fits_the_phone(page)
        shot(page, f"/tmp/linli-badges-{backend}.png")
        section.get_by_test_id("campaign-code-link").first.click()
        code = page.get_by_test_id("campaign-code").inner_text().strip()
        assert len(code) >= 6 and f"code={code}" in page.get_by_test_id("campaign-link").input_value()
        assert str(live["id"]) in page.url
        fits_the_phone(page)
        # In English.
        page.goto(f"{live_server.url}/lang/en?next={url}")
        section = page.get_by_test_id("badges")
        assert "Community recommender" in section.inner_text() and "Privileges of the community recommender" in section.inner_text()
        fits_the_phone(page)
    finally:
        context.close()
    context = browser.new_context(**PHONE)
    page = context.new_page()
    watch(page, console_errors)
    try:
        _log_in(page, live_server.url, url, "13500000001")
        kit = page.get_by_test_id("starter-kit")
        kit.wait_for()
        assert "新手礼包" in kit.inner_text() and "新晋分享官10元无门槛券" in kit.inner_text()
        assert kit.get_by_test_id("starter-guide").locator("li").count() == 4
        fits_the_phone(page)
        shot(page, f"/tmp/linli-starter-kit-{backend}.png")
        kit.get_by_test_id("starter-dismiss").click()
        page.get_by_test_id("badges").wait_for()
        assert page.get_by_test_id("starter-kit").count() == 0
    finally:
        context.close()
    assert console_errors == []
