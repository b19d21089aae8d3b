"""Invitation rewards in headless Chromium on a phone: a friend invited by the sharer has
their first order received; the sharer opens the sharer centre, logs in and sees the
referral pending (待发放, the friend's phone masked); once the order's after-sales window
closes, a reload shows it granted (已发放) with the milestone progress."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, fits_the_phone, shot, watch
from tests.incentives.helpers import INVITER, _complete, first_order, friend, setup

pytestmark = pytest.mark.browser


def test_a_sharer_sees_a_pending_then_a_granted_referral(browser, live_server, client, db, merchant, clock, backend, console_errors):
    p = setup(client, merchant, clock)
    first_order(client, db, p, friend(client, db, p, 8))
    context = browser.new_context(**PHONE)
    page = context.new_page()
    watch(page, console_errors)
    try:
        page.goto(f"{live_server.url}/m/share/{p.shop.merchant_id}")
        page.locator("input[name=phone]").fill(INVITER)
        page.locator("form[action$='/login/code'] button[type=submit]").click()
        page.locator("input[name=code]").fill(page.get_by_test_id("debug-code").inner_text().strip())
        page.locator("form[action$='/login'] button[type=submit]").click()
        section = page.get_by_test_id("invite-rewards")
        section.wait_for()
        row = section.get_by_test_id("referral")
        assert row.get_by_test_id("referral-status").inner_text() == "待发放"
        assert "135****0008" in row.inner_text() and "13500000008" not in page.content()
        assert "邻里鸡蛋计划" in section.inner_text()
        fits_the_phone(page)
        shot(page, f"/tmp/linli-referral-pending-{backend}.png")
        _complete(db, clock)
        page.reload()
        row = page.get_by_test_id("invite-rewards").get_by_test_id("referral")
        assert row.get_by_test_id("referral-status").inner_text() == "已发放"
        assert "1 / 3" in page.get_by_test_id("milestone-progress").inner_text()
        shot(page, f"/tmp/linli-referral-granted-{backend}.png")
    finally:
        context.close()
    assert console_errors == []
