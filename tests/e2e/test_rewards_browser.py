"""Rewards in headless Chromium: a neighbour claims 满50减10 on the shop page, checks out with
it preselected (the discount shown), pays in the sandbox and finds it used in the wallet; an
operator creates a template in the console (a bad amount first shows its field's error); a
member tops up stored value with a plan, pays on the sandbox sheet and is back in the wallet
with the new balance; a member who earned points checks out with a coupon and points and
sees both spent in the wallet."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from linli import events, jobs
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.orders.models import Order
from linli.rewards import coupons, stored_value
from linli.rewards.models import CouponTemplate, Topup
from tests.conftest import ADMIN
from tests.e2e.conftest import DESK, PHONE, fits_the_phone, shot, watch
from tests.e2e.test_order_browser import BUYER, OWNER, _log_in, _paid_order, _shop

pytestmark = pytest.mark.browser


def test_member_claims_a_coupon_and_checks_out_with_it_then_sees_it_used(browser, live_server, db, clock, backend, console_errors):
    shop = _shop(db, clock)
    with db.transaction() as s:
        t = coupons.create_template(s, Principal(0, ADMIN, True), shop.merchant_id, coupons.TemplateIn("满50减10", "threshold", total=100, amount=1000, threshold=5000, valid_days=30), clock())
        tid = t.id
    context = browser.new_context(**PHONE)
    page = context.new_page()
    watch(page, console_errors)
    base = live_server.url
    try:
        _log_in(page, base, f"/m/login?next=/m/shop/{shop.merchant_id}", BUYER)
        page.wait_for_url(f"**/m/shop/{shop.merchant_id}")
        block = page.get_by_test_id("claim-block")
        assert "满50减10" in block.inner_text()
        fits_the_phone(page)
        block.get_by_role("button", name="领取").click()
        page.get_by_test_id("claimed").wait_for()  # the block came back (HTMX) with the coupon claimed
        assert "领取成功" in page.get_by_test_id("claim-block").inner_text()
        shot(page, f"/tmp/linli-mobile-shop-coupons-{backend}.png")

        page.get_by_test_id("product-card").filter(has_text="黄金奶油草莓").click()
        page.wait_for_url("**/m/products/*")
        page.get_by_role("radio", name="1盒").check()
        page.get_by_role("button", name="立即购买").click()
        page.wait_for_url("**/m/checkout?*")
        assert page.get_by_test_id("coupon-choice").first.is_checked()  # the best coupon, preselected
        assert page.get_by_test_id("checkout-off").inner_text().replace("\n", " ").split() == ["优惠券：满50减10", "-¥10.00"]
        assert page.get_by_test_id("checkout-total").inner_text() == "¥58.00"
        # Choosing no coupon previews the full price; choosing it again, the discount.
        page.get_by_role("radio", name="不使用优惠券").check()
        expect(page.get_by_test_id("checkout-total")).to_have_text("¥68.00")  # the preview (HTMX) swapped in
        page.get_by_test_id("coupon-choice").first.check()
        expect(page.get_by_test_id("checkout-total")).to_have_text("¥58.00")
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-checkout-coupon-{backend}.png")
        page.get_by_role("button", name="提交订单并支付").click()

        page.wait_for_url("**/m/pay/*")
        assert page.get_by_test_id("pay-amount").inner_text().replace(" ", "") == "¥58.00"
        page.get_by_role("button", name="确认支付").click()
        page.wait_for_url("**/m/orders/*?confirming=1")
        events.drain(db)  # the gateway's callback: the order is paid, the coupon used
        page.get_by_test_id("pickup-code").wait_for()

        page.goto(f"{base}/m/wallet/{shop.merchant_id}")
        assert page.get_by_test_id("coupons-used-count").inner_text() == "1"
        assert page.get_by_test_id("coupons-unused-count").inner_text() == "0"
        assert "满50减10" in page.get_by_test_id("coupons-used").inner_text()
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-wallet-{backend}.png")
    finally:
        context.close()
    assert console_errors == []
    with db.transaction() as s:
        o = s.scalars(select(Order)).one()
        assert (o.status, o.coupon, o.total_paid) == ("paid", 1000, 5800)
        assert s.get(CouponTemplate, tid).issued == 1


def test_member_checks_out_with_a_coupon_and_points_and_the_wallet_changes(browser, live_server, db, clock, backend, console_errors):
    """Points earned the real way (an order paid, received, its after-sales window closed),
    then spent with a coupon at checkout: 68 元 − 10 元 coupon − 100 points (1 元) = 57 元."""
    shop = _shop(db, clock)
    earned = _paid_order(db, clock, shop, qty=2)  # 136.00 元 paid: 136 points
    with db.transaction() as s:
        buyer = identity.get_or_create_member(s, BUYER, clock())
        owner = identity.get_or_create_member(s, OWNER, clock())
        orders.mark_ready(s, Principal(owner.id, OWNER, False), shop.merchant_id, earned.id, clock())
        orders.confirm_receipt(s, buyer.id, earned.id, clock())
    events.drain(db)
    jobs.run_due(db, clock.advance(days=7, minutes=1))  # the after-sales window closes: available
    events.drain(db)
    with db.transaction() as s:
        t = coupons.create_template(s, Principal(0, ADMIN, True), shop.merchant_id, coupons.TemplateIn("满50减10", "threshold", total=100, amount=1000, threshold=5000, valid_days=30), clock())
        coupons.claim(s, buyer.id, t.id, clock())
    context = browser.new_context(**PHONE)
    page = context.new_page()
    watch(page, console_errors)
    base = live_server.url
    try:
        _log_in(page, base, f"/m/login?next=/m/wallet/{shop.merchant_id}", BUYER)
        page.wait_for_url(f"**/m/wallet/{shop.merchant_id}")
        assert page.get_by_test_id("points-available").inner_text().strip() == "136"
        page.goto(f"{base}/m/checkout?sku={shop.berry}&qty=1")
        assert page.get_by_test_id("coupon-choice").first.is_checked()
        expect(page.get_by_test_id("checkout-total")).to_have_text("¥58.00")
        page.get_by_test_id("points-input").fill("100")
        page.get_by_test_id("points-input").press("Tab")  # change: the preview (HTMX) re-prices
        expect(page.get_by_test_id("checkout-total")).to_have_text("¥57.00")
        fits_the_phone(page)
        page.get_by_role("button", name="提交订单并支付").click()
        page.wait_for_url("**/m/pay/*")
        assert page.get_by_test_id("pay-amount").inner_text().replace(" ", "") == "¥57.00"
        page.get_by_role("button", name="确认支付").click()
        page.wait_for_url("**/m/orders/*?confirming=1")
        events.drain(db)
        page.get_by_test_id("pickup-code").wait_for()
        page.goto(f"{base}/m/wallet/{shop.merchant_id}")
        assert page.get_by_test_id("points-available").inner_text().strip() == "36"
        assert page.get_by_test_id("coupons-used-count").inner_text() == "1"
        shot(page, f"/tmp/linli-mobile-wallet-points-{backend}.png")
    finally:
        context.close()
    assert console_errors == []
    with db.transaction() as s:
        o = s.scalars(select(Order).where(Order.id != earned.id)).one()
        assert (o.status, o.coupon, o.points_fen, o.payable) == ("paid", 1000, 100, 5700)


def test_operator_creates_a_coupon_template_in_the_console(browser, live_server, db, clock, backend, console_errors):
    shop = _shop(db, clock)
    context = browser.new_context(**DESK)
    page = context.new_page()
    watch(page, console_errors)
    base = live_server.url
    try:
        _log_in(page, base, f"/console/merchants/{shop.merchant_id}/coupons", OWNER)
        page.wait_for_url(f"**/console/merchants/{shop.merchant_id}/coupons")
        form = page.locator("#new-template")
        form.get_by_label("名称").fill("水果8.5折")
        form.get_by_label("类型").select_option("percent")
        form.get_by_label("减免比例（%）").fill("15.5.5")
        form.get_by_label("最多减（元，可不填）").fill("20")
        form.get_by_label("指定分类").check()
        form.get_by_label("水果").check()
        form.get_by_role("button", name="创建优惠券").click()
        page.get_by_test_id("field-error").wait_for()
        assert page.get_by_test_id("field-error").inner_text() == "折扣比例在 0.01 到 99.99 之间。"
        form = page.locator("#new-template")
        assert form.get_by_label("名称").input_value() == "水果8.5折"  # what was typed stays
        form.get_by_label("减免比例（%）").fill("15")
        form.get_by_role("button", name="创建优惠券").click()
        row = page.get_by_test_id("template-row")
        row.wait_for()
        assert row.get_by_test_id("template-terms").inner_text() == "8.5折 最高减20元"
        assert "限水果" in row.inner_text() and row.get_by_test_id("template-issued").inner_text() == "0"
        page.screenshot(path=f"/tmp/linli-console-coupons-{backend}.png", full_page=True)
    finally:
        context.close()
    assert console_errors == ["Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"]
    with db.transaction() as s:
        t = s.scalars(select(CouponTemplate)).one()
        assert (t.kind, t.percent_bp, t.cap, t.categories, t.valid_days) == ("percent", 1500, 2000, ["水果"], 30)


def test_member_tops_up_through_the_sandbox_and_comes_back_to_the_wallet(browser, live_server, db, clock, backend, console_errors):
    shop = _shop(db, clock)
    with db.transaction() as s:
        stored_value.set_plans(s, Principal(0, ADMIN, True), shop.merchant_id, [(10_000, 1000), (30_000, 5000)])
    context = browser.new_context(**PHONE)
    page = context.new_page()
    watch(page, console_errors)
    base = live_server.url
    mid = shop.merchant_id
    try:
        _log_in(page, base, f"/m/login?next=/m/wallet/{mid}", BUYER)
        page.wait_for_url(f"**/m/wallet/{mid}")
        assert page.get_by_test_id("stored-value-total").inner_text() == "¥0.00"
        page.get_by_role("link", name="充值", exact=True).click()
        page.wait_for_url(f"**/m/wallet/{mid}/topup")
        page.get_by_test_id("topup-plan").filter(has_text="充¥300.00").locator("input").check()
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-topup-{backend}.png")
        page.get_by_role("button", name="充值并支付").click()
        page.wait_for_url("**/m/pay/**")  # ?next=/m/wallet/…
        assert page.get_by_test_id("pay-amount").inner_text().replace(" ", "") == "¥300.00"
        page.get_by_role("button", name="确认支付").click()
        page.wait_for_url(f"**/m/wallet/{mid}/topups/*")
        assert page.get_by_test_id("topup-status").get_attribute("data-status") == "pending"
        events.drain(db)  # the gateway's callback: the top-up is credited; the page, polling, goes on to the wallet
        page.wait_for_url(f"**/m/wallet/{mid}?topped_up=*")
        assert page.get_by_test_id("stored-value-principal").inner_text() == "¥300.00"
        assert page.get_by_test_id("stored-value-bonus").inner_text() == "¥50.00"
        assert "充值成功" in page.get_by_test_id("wallet-notice").inner_text()
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-wallet-topped-up-{backend}.png")
    finally:
        context.close()
    assert console_errors == []
    with db.transaction() as s:
        t = s.scalars(select(Topup)).one()
        assert (t.status, t.pay, t.bonus) == ("paid", 30_000, 5000)
