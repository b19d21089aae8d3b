"""The dashboard in headless Chromium: the owner opens the merchant page on this week's
figures, follows it to the dashboard, switches to a chosen range, sees the daily chart drawn
by ECharts from the JSON endpoint (under the CSP: no console error) and the contribution
tables, and downloads the sharers' CSV, which matches the table on the screen row for row."""

from __future__ import annotations

import csv
import io

import pytest

from tests.analytics.test_definitions import _week
from tests.e2e.conftest import DESK, shot, watch
from tests.e2e.test_browser import _log_in

pytestmark = pytest.mark.browser


def test_the_owner_reads_the_dashboard_and_its_csv_matches_the_table(browser, live_server, client, db, merchant, clock, backend, console_errors):
    shop, _ = _week(client, db, merchant, clock)
    base, mid = live_server.url, shop.merchant_id
    ctx = browser.new_context(**DESK, accept_downloads=True)
    page = ctx.new_page()
    watch(page, console_errors)
    try:
        _log_in(page, base, f"/console/merchants/{mid}", merchant.owner_phone)
        page.wait_for_url(f"**/console/merchants/{mid}")
        assert page.get_by_test_id("fig-gmv").first.inner_text() == "¥155.90"  # this week, on the merchant page
        page.get_by_test_id("open-dashboard").click()
        page.wait_for_url("**/analytics")
        page.get_by_label("开始日期").fill("2026-11-22")
        page.get_by_label("结束日期").fill("2026-11-26")
        page.get_by_role("button", name="查看").click()
        page.wait_for_url("**from=2026-11-22**")
        assert page.get_by_test_id("fig-orders").inner_text() == "3" and page.get_by_test_id("fig-k").inner_text() == "1.00"
        # ECharts draws the chart from the overview endpoint (5 days) in place of the server's SVG,
        # whose bars say the same (the page without JavaScript).
        page.locator("[data-testid=echart][data-ready='5'] canvas").wait_for()
        assert page.locator("#svg-chart").is_hidden()
        bars = page.locator("[data-testid=daily-chart] rect.bar")
        assert bars.count() == 5 and bars.nth(0).get_attribute("data-gmv") == "9790" and bars.nth(3).get_attribute("data-gmv") == "6800"
        shot(page, f"/tmp/linli-dashboard-{backend}.png")
        table = [[td.inner_text() for td in row.locator("td").all()] for row in page.get_by_test_id("sharer-row").all()]
        with page.expect_download() as got:
            page.get_by_test_id("export-sharers-csv").click()
        rows = list(csv.reader(io.StringIO(open(got.value.path(), encoding="utf-8-sig").read())))
        assert [[r[1], f"¥{r[2]}", r[3], r[4], r[5]] for r in rows[1:]] == table == [["136****0009", "¥136.00", "2", "2", "0%"]]
        # Without JavaScript the server's SVG is the chart: 97.90 drawn taller than 68.00.
        plain = browser.new_context(**DESK, java_script_enabled=False, storage_state=ctx.storage_state())
        try:
            still = plain.new_page()
            still.goto(page.url)
            assert still.locator("[data-testid=echart]").is_hidden()
            svg_bars = still.locator("[data-testid=daily-chart] rect.bar")
            assert svg_bars.nth(0).bounding_box()["height"] > svg_bars.nth(3).bounding_box()["height"] > 0
        finally:
            plain.close()
    finally:
        ctx.close()
    assert console_errors == []
