"""Buying, paying, picking up and running the order desk in headless Chromium.

The live server is the test app, built with ``dispatcher=False`` (tests/conftest.py), so
nothing delivers the outbox behind the test's back: the payment callback arrives when the
test calls ``events.drain(db)`` — at the moment the order page is showing "支付确认中…" and
polling. That makes both states visible and the test deterministic (no sleeps, no race
with a background thread), while the page itself is exactly what the embedded dispatcher
would drive in production.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import pytest
from PIL import Image
from sqlalchemy import select

from linli import events, media
from linli.catalog import service as catalog
from linli.community import service as community
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.orders.models import Order, RefundCase
from linli.payments import service as payments
from tests.conftest import ADMIN
from tests.e2e.conftest import DESK, PHONE, fits_the_phone, shot, watch

pytestmark = pytest.mark.browser

OWNER = "13800000001"
LEADER = "13900000001"
BUYER = "13900002222"


@dataclass
class Shop:
    merchant_id: int
    community_id: int
    point_id: int
    berry: int  # the 1盒 SKU of 黄金奶油草莓
    apple: int


def _shop(db, clock) -> Shop:
    admin = Principal(0, ADMIN, True)
    now = clock()
    with db.transaction() as s:
        merchant, _ = identity.create_merchant(s, admin, "优邻优选", OWNER, now)
        home = community.create_community(s, admin, merchant.id, "云顶华府", "杭州", 30.274085, 120.155070, now)
        point = community.add_pickup_point(s, admin, merchant.id, home.id, "东门驿站", "云顶华府东门 3 号", 30.2748, 120.1556, now)
        leader = identity.get_or_create_member(s, LEADER, now, nickname="李团长")
        community.set_leader(s, admin, merchant.id, home.id, leader.id)
        _, berries = catalog.create_product(s, admin, merchant.id, "黄金奶油草莓", "水果", [catalog.SkuInput("1盒", 6800, 100), catalog.SkuInput("2盒装", 12800, 40)], now, description="丹东 99 草莓，当天现摘，坏果包赔。")
        _, apples = catalog.create_product(s, admin, merchant.id, "阿克苏冰糖心苹果", "水果", [catalog.SkuInput("5斤装", 2990, 8)], now)
        buyer = identity.get_or_create_member(s, BUYER, now, nickname="王阿姨")
        community.set_home_community(s, buyer.id, home.id, now)
        return Shop(merchant.id, home.id, point.id, berries[0].id, apples[0].id)


def _paid_order(db, clock, shop: Shop, qty: int = 2) -> Order:
    """A paid pickup order of the buyer's, made through the services a page would call."""
    with db.transaction() as s:
        buyer = identity.get_or_create_member(s, BUYER, clock())
        o = orders.create_order(s, buyer.id, orders.NewOrder(shop.merchant_id, [(shop.berry, qty)], pickup_point_id=shop.point_id), clock())
        p = orders.start_payment(s, buyer.id, o.id, clock())
        payments.sandbox_complete(s, buyer.id, p.id, clock())
    events.drain(db)
    with db.transaction() as s:
        return s.get(Order, o.id)


def _log_in(page, base: str, path: str, phone: str) -> None:
    page.goto(base + path)
    page.locator("input[name=phone]").fill(phone)
    page.locator("form[action$='/login/code'] button[type=submit]").click()
    code = page.get_by_test_id("debug-code").inner_text().strip()
    assert len(code) == 6 and code.isdigit()  # the test environment shows the code on the page
    page.locator("input[name=code]").fill(code)
    page.locator("form[action$='/login'] button[type=submit]").click()



def test_member_buys_strawberries_for_pickup_and_pays_in_the_sandbox(browser, live_server, db, clock, backend, console_errors, tmp_path):
    shop = _shop(db, clock)
    photo = tmp_path / "bruised.jpg"
    Image.new("RGB", (400, 300), (190, 30, 50)).save(photo, format="JPEG")
    context = browser.new_context(**PHONE)
    page = context.new_page()
    watch(page, console_errors)
    base = live_server.url
    try:
        _log_in(page, base, "/m/login?next=/m/shop", BUYER)  # as from a shared shop link
        page.wait_for_url(f"**/m/shop/{shop.merchant_id}")  # /m/shop: the home community's shop
        card = page.get_by_test_id("product-card").filter(has_text="黄金奶油草莓")
        assert "¥68.00" in card.inner_text()
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-shop-{backend}.png")
        card.click()

        page.wait_for_url("**/m/products/*")
        page.get_by_role("radio", name="1盒").check()
        page.get_by_label("数量").fill("2")
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-product-{backend}.png")
        page.get_by_role("button", name="立即购买").click()

        page.wait_for_url("**/m/checkout?*")
        assert page.get_by_test_id("checkout-total").inner_text() == "¥136.00"
        assert page.get_by_role("radio", name="东门驿站").is_checked()
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-checkout-{backend}.png")
        page.get_by_role("button", name="提交订单并支付").click()

        page.wait_for_url("**/m/pay/*")
        assert page.get_by_test_id("pay-amount").inner_text().replace(" ", "") == "¥136.00"
        assert page.get_by_test_id("pay-merchant").inner_text() == "优邻优选"
        page.screenshot(path=f"/tmp/linli-mobile-pay-{backend}.png")
        page.get_by_role("button", name="确认支付").click()

        page.wait_for_url("**/m/orders/*?confirming=1")
        page.get_by_test_id("confirming").wait_for()
        assert page.get_by_test_id("order-status").inner_text() == "待付款"
        shot(page, f"/tmp/linli-mobile-confirming-{backend}.png")
        events.drain(db)  # the gateway's signed callback arrives; the page is polling

        code = page.get_by_test_id("pickup-code")
        code.wait_for()  # HTMX swapped the paid order in, without a reload
        assert page.get_by_test_id("order-status").inner_text() == "已付款"
        assert page.get_by_test_id("confirming").count() == 0
        digits = code.inner_text().strip()
        assert len(digits) == 6 and digits.isdigit()
        qr = page.get_by_test_id("pickup-qr")
        qr.scroll_into_view_if_needed()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=qr.element_handle())
        png = page.request.get(base + qr.get_attribute("src"))  # the cookie session, as the page's <img> used
        assert png.ok and png.headers["content-type"] == "image/png"
        oid = int(page.url.split("/m/orders/")[1].split("?")[0])
        assert _decode_qr(png.body()) == f"linli:pickup:{oid}:{digits}"
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-order-{backend}.png")

        # Two berries were bruised: ask for 12.50 back with a photo.
        page.get_by_text("申请退款").click()
        refund = page.locator("details.refund-box form")
        refund.get_by_label("金额（元）").fill("12.345")
        refund.get_by_label("原因").fill("有两颗草莓压坏了")
        refund.get_by_role("button", name="提交申请").click()
        page.get_by_text("请按元填写金额，最多两位小数，例如 12.50。").wait_for()
        page.locator("#line-" + str(_line_id(db, oid))).screenshot(path=f"/tmp/linli-mobile-refund-form-{backend}.png")
        refund = page.locator("details.refund-box form")
        refund.get_by_label("金额（元）").fill("12.5")
        refund.get_by_label("照片").set_input_files(str(photo))
        refund.get_by_role("button", name="提交申请").click()
        page.wait_for_url(f"**/m/orders/{oid}#refunds")
        case = page.get_by_test_id("refund-case")
        assert "¥12.50" in case.inner_text() and "审核中" in case.inner_text()
        assert case.locator("img").count() == 1
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-refund-{backend}.png")
        page.get_by_role("link", name="我的订单").last.click()
        page.wait_for_url("**/m/orders")
        assert "黄金奶油草莓 · 1盒 ×2" in page.get_by_test_id("order-card").inner_text()
        shot(page, f"/tmp/linli-mobile-orders-{backend}.png")
    finally:
        context.close()
    # The one error is the browser logging the refused refund form's 422 answer.
    assert console_errors == ["Failed to load resource: the server responded with a status of 422 (Unprocessable Entity)"]
    with db.transaction() as s:
        o = s.get(Order, oid)
        assert o.status == "paid" and o.pickup_code == digits and o.total_paid == 13600 and o.pickup_point_id == shop.point_id
        case = s.scalars(select(RefundCase).where(RefundCase.order_id == oid)).one()
        assert case.amount == 1250 and case.status == "requested" and len(case.photos) == 1


def _line_id(db, order_id: int) -> int:
    with db.transaction() as s:
        return orders.lines_for(s, [order_id])[order_id][0].id


def _decode_qr(png: bytes) -> str:
    import zxingcpp

    found = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert len(found) == 1
    return found[0].text


def test_leader_marks_arrival_and_verifies_the_code_then_the_member_sees_received(browser, live_server, db, clock, backend, console_errors):
    shop = _shop(db, clock)
    o = _paid_order(db, clock, shop)
    base = live_server.url
    leader_ctx = browser.new_context(**PHONE)
    page = leader_ctx.new_page()
    watch(page, console_errors)
    try:
        _log_in(page, base, "/m/leader", LEADER)
        page.wait_for_url("**/m/leader")
        card = page.locator(f"#point-{shop.point_id}")
        assert f"#{o.id}" in card.inner_text() and "王阿姨" in card.inner_text()
        assert card.get_by_test_id("to-arrive").inner_text() == "1"
        card.get_by_role("button", name="到货").click()
        card.get_by_text("1 个订单已可取货。").wait_for()  # HTMX re-rendered the card
        assert card.get_by_test_id("ready").inner_text() == "1"
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-leader-{backend}.png")

        card.get_by_test_id("verify-code").fill("000000" if o.pickup_code != "000000" else "111111")
        card.get_by_role("button", name="核销").click()
        card.get_by_text("此自提点没有使用该取货码的待取订单，请核对数字。").wait_for()

        card.get_by_test_id("verify-code").fill(o.pickup_code)
        card.get_by_role("button", name="核销").click()
        verified = card.get_by_test_id("verified")
        verified.wait_for()
        assert f"核销成功：订单 #{o.id}" in verified.inner_text() and "黄金奶油草莓 · 1盒 × 2" in verified.inner_text()
        assert card.get_by_test_id("ready").inner_text() == "0"
        fits_the_phone(page)
        shot(page, f"/tmp/linli-mobile-leader-verified-{backend}.png")
    finally:
        leader_ctx.close()

    member_ctx = browser.new_context(**PHONE)
    page = member_ctx.new_page()
    watch(page, console_errors)
    try:
        _log_in(page, base, f"/m/orders/{o.id}", BUYER)
        page.wait_for_url(f"**/m/orders/{o.id}")
        assert page.get_by_test_id("order-status").inner_text() == "已收货"
        assert page.get_by_test_id("pickup-code").count() == 0
        assert "已取货（核销）" in page.locator(".timeline").inner_text()
        shot(page, f"/tmp/linli-mobile-received-{backend}.png")
    finally:
        member_ctx.close()
    # The one error is the browser logging the wrong code's 404 answer (shown in the card).
    assert console_errors == ["Failed to load resource: the server responded with a status of 404 (Not Found)"]
    with db.transaction() as s:
        assert s.get(Order, o.id).status == "received"


def test_owner_runs_the_order_desk_in_the_console(browser, live_server, db, clock, backend, console_errors, tmp_path, settings):
    shop = _shop(db, clock)
    o = _paid_order(db, clock, shop, qty=1)
    refunded = _paid_order(db, clock, shop, qty=2)
    with db.transaction() as s:  # a refund request with a photo, as the order page sends it
        buf = io.BytesIO()
        Image.new("RGB", (300, 200), (150, 20, 40)).save(buf, format="PNG")
        photo = media.store_image(buf.getvalue(), settings.media_dir, f"uploads/{refunded.member_id}")
        line = orders.lines_for(s, [refunded.id])[refunded.id][0]
        case = orders.request_refund(s, refunded.member_id, refunded.id, [(line.id, 1250)], "有两颗压坏了", [photo], clock())
    picture = tmp_path / "berry.png"
    Image.new("RGB", (320, 320), (220, 40, 60)).save(picture)
    context = browser.new_context(**DESK)
    page = context.new_page()
    watch(page, console_errors)
    base = live_server.url
    try:
        _log_in(page, base, "/console/", OWNER)
        page.wait_for_url("**/console/")
        page.get_by_role("link", name="优邻优选").click()
        page.wait_for_url(f"**/console/merchants/{shop.merchant_id}")
        page.get_by_role("link", name="全部订单").click()

        page.wait_for_url(f"**/console/merchants/{shop.merchant_id}/orders")
        page.get_by_label("状态").select_option("paid")
        page.get_by_label("小区").select_option(str(shop.community_id))
        page.get_by_role("button", name="筛选").click()
        page.wait_for_url("**/orders?status=paid*")
        rows = page.get_by_test_id("order-row")
        assert rows.count() == 2  # both paid orders, newest first
        assert "黄金奶油草莓 · 1盒 ×2" in rows.nth(0).inner_text() and "黄金奶油草莓 · 1盒 ×1" in rows.nth(1).inner_text()
        shot(page, f"/tmp/linli-console-orders-{backend}.png")
        rows.nth(1).get_by_role("link", name=f"#{o.id}").click()

        page.wait_for_url(f"**/orders/{o.id}")
        page.get_by_role("button", name="开始备货").click()
        page.wait_for_url(f"**/orders/{o.id}")
        assert page.get_by_test_id("order-status").inner_text() == "备货中"
        page.get_by_role("button", name="标记为可取货").click()
        page.wait_for_url(f"**/orders/{o.id}")
        assert page.get_by_test_id("order-status").inner_text() == "待取货"
        assert "商家开始备货" in page.locator(".timeline").inner_text()
        shot(page, f"/tmp/linli-console-order-{backend}.png")

        page.get_by_role("link", name="退款申请").click()
        page.wait_for_url("**/refunds")
        card = page.get_by_test_id(f"case-{case.id}")
        assert "¥12.50" in card.inner_text() and "有两颗压坏了" in card.inner_text()
        page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=card.locator("img").element_handle())
        shot(page, f"/tmp/linli-console-refunds-{backend}.png")
        card.get_by_role("button", name="同意并退款").click()
        page.wait_for_url("**/refunds")
        assert page.get_by_test_id(f"case-{case.id}").count() == 0  # no longer waiting
        page.get_by_role("link", name="已退款").click()
        assert "已退款" in page.get_by_test_id(f"case-{case.id}").inner_text()

        page.get_by_role("link", name="商品", exact=True).click()
        page.wait_for_url("**/products")
        form = page.locator("#new-product")
        form.get_by_label("商品名称").fill("散养土鸡蛋")
        form.get_by_label("分类").fill("生鲜")
        form.get_by_label("规格名称 1").fill("30枚")
        form.get_by_label("价格（元） 1").fill("39.8")
        form.get_by_label("库存 1").fill("200")
        form.get_by_role("button", name="创建商品").click()
        page.wait_for_url("**/products#product-*")
        product = page.locator("article.product-row", has=page.get_by_role("heading", name="散养土鸡蛋"))
        assert "39.80" in product.inner_text()
        product.locator("input[name=picture]").set_input_files(str(picture))
        product.get_by_role("button", name="上传图片").click()
        page.wait_for_url("**/products#product-*")
        product = page.locator("article.product-row", has=page.get_by_role("heading", name="散养土鸡蛋"))
        assert product.locator("img.thumb").count() == 1
        shot(page, f"/tmp/linli-console-products-{backend}.png")
    finally:
        context.close()
    assert console_errors == []
    with db.transaction() as s:
        assert s.get(Order, o.id).status == "ready_for_pickup"
        assert s.get(Order, refunded.id).refunded == 1250
        from linli.catalog.models import Product

        eggs = s.scalars(select(Product).where(Product.name == "散养土鸡蛋")).one()
        assert eggs.image and catalog.skus_of(s, [eggs.id])[eggs.id][0].price == 3980
