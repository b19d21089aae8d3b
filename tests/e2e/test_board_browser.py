"""The weekly leaderboard in headless Chromium on a 390-px phone: ranks (a tie shares one),
nicknames and masked phones only, nothing sticking out sideways; the month tab and the
referrals tab answer; a sharer's own row is marked once they log in."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import PHONE, fits_the_phone, shot, watch
from tests.incentives.board_helpers import shop_with_sales

pytestmark = pytest.mark.browser


def test_the_weekly_board_fits_a_phone_and_shows_ranks_with_masked_phones(browser, live_server, client, db, merchant, clock, backend, console_errors):
    shop, _ = shop_with_sales(client, db, merchant, clock, "1360000006", ["berry2", "berry", "berry", "apple"])
    context = browser.new_context(**PHONE)
    page = context.new_page()
    watch(page, console_errors)
    try:
        page.goto(f"{live_server.url}/m/boards/{shop.merchant_id}")
        board = page.get_by_test_id("board")
        board.wait_for()
        assert page.get_by_test_id("tab-week").get_attribute("aria-current") == "page"
        assert board.get_by_test_id("board-rank").all_inner_texts() == ["1", "2", "2", "4"]
        assert board.get_by_test_id("board-phone").all_inner_texts() == ["136****0060", "136****0061", "136****0062", "136****0063"]
        assert "13600000060" not in page.content()
        assert board.get_by_test_id("board-score").all_inner_texts()[0] == "¥128.00"
        fits_the_phone(page)
        shot(page, f"/tmp/linli-board-week-{backend}.png")
        page.get_by_test_id("tab-referrals").click()
        page.wait_for_url("**metric=referrals**")
        assert page.get_by_test_id("board").get_by_test_id("board-entry").count() == 0
        fits_the_phone(page)
        page.get_by_test_id("tab-month").click()
        page.wait_for_url("**period=month**")
        page.get_by_test_id("tab-gmv").click()
        page.wait_for_url("**metric=gmv**")
        assert page.get_by_test_id("board").get_by_test_id("board-rank").all_inner_texts() == ["1", "2", "2", "4"]
        fits_the_phone(page)
    finally:
        context.close()
    assert console_errors == []
