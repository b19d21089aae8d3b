"""The risk desk in headless Chromium: a sharer's commission is held by a device-cluster case
(set up through the API); the sharer centre shows it 审核中; the owner logs in, opens the
desk, opens the case, releases it with a reason and sees it closed; the sharer centre then
shows the amount available again and nothing under review."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import DESK, PHONE, shot, watch
from tests.e2e.test_browser import _log_in
from tests.risk.test_desk_pages import cluster_case

pytestmark = pytest.mark.browser

SHARER = "13700000001"  # cluster_case's sharer


def test_staff_open_a_case_release_it_and_the_sharers_balance_moves(browser, live_server, client, db, merchant, clock, backend, console_errors):
    shop, _, case = cluster_case(client, db, merchant, clock)
    base, mid = live_server.url, merchant.id
    centre = f"/m/share/{mid}"

    sharer_ctx = browser.new_context(**PHONE)
    sharer = sharer_ctx.new_page()
    watch(sharer, console_errors)
    desk_ctx = browser.new_context(**DESK)
    staff = desk_ctx.new_page()
    watch(staff, console_errors)
    try:
        _log_in(sharer, base, centre, SHARER)
        sharer.get_by_test_id("held").wait_for()
        hero = sharer.get_by_test_id("share-hero")
        assert "审核中" in hero.inner_text() and sharer.get_by_test_id("held").inner_text() == "¥13.60"
        assert sharer.get_by_test_id("available").inner_text() == "¥0.00"

        _log_in(staff, base, f"/console/merchants/{mid}", merchant.owner_phone)
        staff.wait_for_url(f"**/console/merchants/{mid}")
        staff.locator("#risk").get_by_role("link", name="案件").click()
        staff.wait_for_url("**/risk/cases")
        row = staff.get_by_test_id("case-row").filter(has_text="137****0001")
        assert row.get_by_test_id("case-level").inner_text() == "冻结" and row.get_by_test_id("case-held").inner_text() == "¥13.60"
        shot(staff, f"/tmp/linli-risk-desk-{backend}.png")
        row.get_by_test_id("case-link").click()
        staff.wait_for_url(f"**/risk/cases/{case['id']}")
        assert "3 个账号共用 设备 #" in staff.get_by_test_id("decision-evidence").inner_text()
        staff.get_by_role("radio", name="放行").check()
        staff.get_by_label("处理原因（必填）").fill("一家三口共用一台平板，已电话核实")
        shot(staff, f"/tmp/linli-risk-case-{backend}.png")
        staff.get_by_role("button", name="提交处理").click()
        staff.wait_for_url("**?decided=1")
        assert "已放行：¥13.60 重新可供分享官提现。" in staff.locator(".msg-ok").inner_text()
        assert staff.get_by_test_id("case-status").inner_text() == "已结束" and staff.get_by_test_id("decide-form").count() == 0
        assert staff.get_by_test_id("case-reason").inner_text() == "一家三口共用一台平板，已电话核实"
        shot(staff, f"/tmp/linli-risk-case-closed-{backend}.png")

        sharer.reload()
        assert sharer.get_by_test_id("available").inner_text() == "¥13.60"
        assert sharer.get_by_test_id("held").count() == 0 and "审核中" not in sharer.get_by_test_id("share-hero").inner_text()
    finally:
        desk_ctx.close()
        sharer_ctx.close()
    assert console_errors == []
