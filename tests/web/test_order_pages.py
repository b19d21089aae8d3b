"""The shop, checkout, payment sheet, order, leader and console order pages through httpx."""

from __future__ import annotations

import io
import re
from pathlib import Path

from PIL import Image
from sqlalchemy import func, select

from linli import events
from linli.catalog.models import Product, Sku
from linli.orders.models import Order, OrderSettings, RefundCase
from tests.conftest import login
from tests.orders.helpers import buy, make_shop, order
from tests.web.conftest import HTML, csrf, errors, page_login

BUYER = "13900002222"


def _png(color=(200, 30, 40)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buf, format="PNG")
    return buf.getvalue()


def _count(db, model, *where) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _order(db, oid: int) -> Order:
    with db.transaction() as s:
        return s.get(Order, oid)


def _home(client, headers, community_id: int) -> None:
    assert client.patch("/api/v1/me", json={"community_id": community_id}, headers=headers).status_code == 200


def _buyer(client, shop) -> dict:
    """The buyer logged in to the pages (cookie) and to the API (header), at home in the
    shop's community."""
    page_login(client, BUYER)
    api = login(client, BUYER)
    _home(client, api, shop.community_id)
    return api


def _checkout_form(client, shop, sku_key="berry", qty=2) -> dict:
    html = client.get(f"/m/checkout?sku={shop.skus[sku_key]}&qty={qty}", headers=HTML).text
    idem = re.search(r'name="idem" value="([0-9a-f]+)"', html).group(1)
    return {"csrf_token": csrf(client), "sku": str(shop.skus[sku_key]), "qty": str(qty), "mode": "pickup", "pickup_point_id": str(shop.point_id), "idem": idem}


# --- shop and product ------------------------------------------------------------------------------


def test_shop_lists_products_with_prices_in_yuan_and_stock_state(client, db, merchant):
    shop = make_shop(client, merchant, stock=5)
    r = client.get(f"/m/shop/{merchant.id}", headers=HTML)  # browsing needs no login
    assert r.status_code == 200
    cards = re.findall(r'data-testid="product-card">(.*?)</a>', r.text, re.S)
    assert len(cards) == 2
    berry = next(c for c in cards if "黄金奶油草莓" in c)
    assert "¥68.00" in berry and "起" in berry  # two SKUs: the lowest price, "from"
    apple = next(c for c in cards if "阿克苏苹果" in c)
    assert "¥29.90" in apple and "起" not in apple and "仅剩 5 件" in apple
    # Sold out when no SKU has stock left.
    assert client.patch(f"/api/v1/merchants/{merchant.id}/skus/{shop.skus['apple']}", json={"add_stock": -5}, headers=merchant.owner).status_code == 200
    apple = next(c for c in re.findall(r'data-testid="product-card">(.*?)</a>', client.get(f"/m/shop/{merchant.id}", headers=HTML).text, re.S) if "阿克苏苹果" in c)
    assert "已售罄" in apple

    product_id = int(re.search(r'href="/m/products/(\d+)" data-testid="product-card">\s*<span class="product-img placeholder" aria-hidden="true">黄', r.text).group(1))
    page = client.get(f"/m/products/{product_id}", headers=HTML).text
    assert 'action="/m/checkout"' in page and "立即购买" in page
    assert f'value="{shop.skus["berry"]}" checked' in page and "¥128.00" in page
    # English on request.
    client.cookies.set("lang", "en")
    assert "Buy now" in client.get(f"/m/products/{product_id}", headers=HTML).text
    assert client.get("/m/shop/99999", headers=HTML).status_code == 404


# --- checkout, payment sheet, order page -----------------------------------------------------------------


def test_checkout_pays_in_the_sandbox_sheet_and_the_order_page_waits_for_the_callback(client, db, merchant):
    shop = make_shop(client, merchant)
    _buyer(client, shop)
    r = client.get(f"/m/checkout?sku={shop.skus['berry']}&qty=2", headers=HTML)
    assert r.status_code == 200
    assert 'data-testid="checkout-total">¥136.00<' in r.text and "东门驿站" in r.text
    assert f'name="pickup_point_id" value="{shop.point_id}" checked' in r.text  # the home community's point

    form = _checkout_form(client, shop)
    r = client.post("/m/checkout", data=form, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/m/pay/"), r.text
    sheet_url = r.headers["location"]
    # The same form sent twice (a double tap) places one order.
    again = client.post("/m/checkout", data=form, headers=HTML, follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == sheet_url
    assert _count(db, Order) == 1

    sheet = client.get(sheet_url, headers=HTML).text
    assert 'data-testid="pay-amount"><span class="pay-currency">¥</span>136.00<' in sheet
    assert "优邻优选" in sheet and "确认支付" in sheet
    r = client.post(sheet_url, data={"csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    oid = int(re.search(r"/m/orders/(\d+)\?confirming=1$", r.headers["location"]).group(1))

    # The callback is on its way (the outbox): the page says so and polls.
    page = client.get(r.headers["location"], headers=HTML).text
    assert "支付确认中" in page and 'hx-trigger="every 1s"' in page
    assert f'hx-get="/m/orders/{oid}/live?confirming=1&amp;n=1"' in page
    assert 'data-testid="pickup-code"' not in page
    live = client.get(f"/m/orders/{oid}/live?confirming=1&n=1", headers={**HTML, "HX-Request": "true"})
    assert live.status_code == 200 and "<html" not in live.text and "n=2" in live.text

    events.drain(db)  # the gateway's signed callback arrives
    live = client.get(f"/m/orders/{oid}/live?confirming=1&n=2", headers={**HTML, "HX-Request": "true"}).text
    assert "hx-trigger" not in live and "支付确认中" not in live
    code = re.search(r'data-testid="pickup-code">(\d+)<', live).group(1)
    assert len(code) == 6 and code == _order(db, oid).pickup_code
    assert 'data-testid="order-status">已付款<' in live
    assert f'src="/api/v1/orders/{oid}/pickup-qr.png"' in live
    qr = client.get(f"/api/v1/orders/{oid}/pickup-qr.png")  # the cookie session is enough
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/png" and qr.content[:4] == b"\x89PNG"
    # The sheet of a paid payment sends the buyer to the order.
    r = client.get(sheet_url, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/m/orders/{oid}"

    orders = client.get("/m/orders", headers=HTML).text
    assert f'href="/m/orders/{oid}"' in orders and "黄金奶油草莓 · 1盒 ×2" in orders and "¥136.00" in orders


def test_checkout_without_csrf_is_refused_and_places_no_order(client, db, merchant):
    shop = make_shop(client, merchant)
    _buyer(client, shop)
    form = _checkout_form(client, shop)
    for token in (None, "forged"):
        data = {k: v for k, v in form.items() if k != "csrf_token"}
        if token:
            data["csrf_token"] = token
        r = client.post("/m/checkout", data=data, headers=HTML)
        assert r.status_code == 403 and "表单已失效" in r.text
    assert _count(db, Order) == 0
    with db.transaction() as s:
        assert s.get(Sku, shop.skus["berry"]).stock == 100


def test_checkout_errors_keep_the_form_and_leave_no_order(client, db, merchant):
    shop = make_shop(client, merchant, stock=1)
    _buyer(client, shop)
    form = _checkout_form(client, shop, qty=2)
    r = client.post("/m/checkout", data=form, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["已售罄：库存不足以满足该数量。"]
    form = {**_checkout_form(client, shop, qty=1), "mode": "delivery", "name": "王阿姨", "phone": "13900002222", "text": "1 幢 101", "lat": "31.2", "lng": "121.4"}
    r = client.post("/m/checkout", data=form, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["该地址超出配送范围，请改选自提点。"]
    assert 'value="1 幢 101"' in r.text and 'id="mode-delivery" checked' in r.text
    assert _count(db, Order) == 0
    # Delivery within range works.
    form = {**form, "lat": "30.2745", "lng": "120.1560", "idem": "another-form"}
    r = client.post("/m/checkout", data=form, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/m/pay/")
    assert _count(db, Order, Order.address.is_not(None)) == 1


# --- refunds -----------------------------------------------------------------------------------------------------


def test_refund_form_takes_yuan_exactly_and_refuses_three_decimals(client, db, merchant, settings):
    shop = make_shop(client, merchant)
    api = _buyer(client, shop)
    o = buy(client, db, api, shop, [(shop.skus["berry"], 2)])
    line_id = o["lines"][0]["id"]
    page = client.get(f"/m/orders/{o['id']}", headers=HTML).text
    assert f'action="/m/orders/{o["id"]}/refunds/uploads#line-{line_id}"' in page and 'value="136.00"' in page

    url = f"/m/orders/{o['id']}/refunds/uploads"
    data = {"csrf_token": csrf(client), "line_id": str(line_id), "amount": "12.345", "reason": "两颗压坏了"}
    r = client.post(url, data=data, files={"photos": ("bad.png", _png(), "image/png")}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["请按元填写金额，最多两位小数，例如 12.50。"]
    assert 'value="12.345"' in r.text and "两颗压坏了" in r.text  # the form keeps what was typed
    assert _count(db, RefundCase) == 0
    uploads = Path(settings.media_dir) / "uploads"
    kept = set(uploads.rglob("*.png")) if uploads.exists() else set()

    r = client.post(url, data={**data, "amount": "136.01"}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["超出该商品还可退款的金额。"]
    assert (set(uploads.rglob("*.png")) if uploads.exists() else set()) == kept  # refused: no photo kept

    r = client.post(url, data={**data, "amount": "12.5"}, files=[("photos", ("a.png", _png(), "image/png")), ("photos", ("b.png", _png((0, 90, 0)), "image/png"))], headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/m/orders/{o['id']}#refunds"
    with db.transaction() as s:
        case = s.scalars(select(RefundCase)).one()
        assert case.amount == 1250 and case.status == "requested" and len(case.photos) == 2
        member_id = case.member_id
    for rel in case.photos:
        assert rel.startswith(f"uploads/{member_id}/") and (Path(settings.media_dir) / rel).is_file()
    page = client.get(f"/m/orders/{o['id']}", headers=HTML).text
    assert 'data-testid="refund-case"' in page and "¥12.50" in page and "审核中" in page
    assert f'src="/media/{case.photos[0]}"' in page
    assert 'value="123.50"' in page  # what is left to ask for


def test_a_member_cannot_open_another_members_order(client, db, merchant):
    shop = make_shop(client, merchant)
    other = login(client, "13900003333")
    o = buy(client, db, other, shop, [(shop.skus["berry"], 1)])
    page_login(client, BUYER)
    r = client.get(f"/m/orders/{o['id']}", headers=HTML)
    assert r.status_code == 404 and "页面不存在" not in r.text and errors(r.text) == ["订单不存在。"]
    assert o["pickup_code"] not in r.text
    assert client.get(f"/m/orders/{o['id']}/live", headers=HTML).status_code == 404
    assert client.get(f"/api/v1/orders/{o['id']}/pickup-qr.png").status_code == 404
    token = csrf(client)
    r = client.post(f"/m/orders/{o['id']}/refunds/uploads", data={"csrf_token": token, "line_id": str(o["lines"][0]["id"]), "amount": "1", "reason": "x"}, files={"photos": ("a.png", _png(), "image/png")}, headers=HTML)
    assert r.status_code == 404
    assert client.post(f"/m/orders/{o['id']}/confirm-receipt", data={"csrf_token": token}, headers=HTML).status_code == 404
    assert _count(db, RefundCase) == 0
    # Nor their payment sheet.
    unpaid = order(client, other, shop, [(shop.skus["apple"], 1)]).json()
    pid = client.post(f"/api/v1/orders/{unpaid['id']}/pay", headers=other).json()["payment_id"]
    assert client.get(f"/m/pay/{pid}", headers=HTML).status_code == 404
    assert client.post(f"/m/pay/{pid}", data={"csrf_token": token}, headers=HTML).status_code == 404


def test_member_cancels_an_unpaid_order_and_confirms_receipt_of_a_ready_one(client, db, merchant):
    shop = make_shop(client, merchant)
    api = _buyer(client, shop)
    unpaid = order(client, api, shop, [(shop.skus["apple"], 1)]).json()
    page = client.get(f"/m/orders/{unpaid['id']}", headers=HTML).text
    assert "待付款" in page and "取消订单" in page and "请在 10:15 前支付" in page  # 02:00 UTC + 15 min, shown in Shanghai time
    r = client.post(f"/m/orders/{unpaid['id']}/pay", data={"csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/m/pay/")
    r = client.post(f"/m/orders/{unpaid['id']}/cancel", data={"csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and _order(db, unpaid["id"]).status == "cancelled"
    assert "已取消" in client.get(f"/m/orders/{unpaid['id']}", headers=HTML).text
    r = client.post(f"/m/orders/{unpaid['id']}/cancel", data={"csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["只能取消未付款的订单；已付款的请申请退款。"]

    paid = buy(client, db, api, shop, [(shop.skus["berry"], 1)])
    assert "我已收货" not in client.get(f"/m/orders/{paid['id']}", headers=HTML).text
    assert client.post(f"/api/v1/merchants/{merchant.id}/orders/{paid['id']}/ready", headers=merchant.owner).status_code == 200
    page = client.get(f"/m/orders/{paid['id']}", headers=HTML).text
    assert "待取货" in page and "我已收货" in page
    r = client.post(f"/m/orders/{paid['id']}/confirm-receipt", data={"csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/m/orders/{paid['id']}", headers=HTML).text
    assert 'data-testid="order-status">已收货<' in page and 'data-testid="pickup-code"' not in page
    assert page.index("确认收货") < page.index("支付成功") < page.index("下单")  # newest first


# --- the leader's desk -----------------------------------------------------------------------------------------------


def test_leader_marks_arrival_and_verifies_a_code_with_htmx(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, BUYER)
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 2)])
    page_login(client, "13900000001")  # the community's leader
    page = client.get("/m/leader", headers=HTML).text
    assert "东门驿站" in page and f"#{o['id']}" in page and 'data-testid="to-arrive">1<' in page
    assert o["pickup_code"] not in page

    hx = {**HTML, "HX-Request": "true", "X-CSRF-Token": csrf(client)}
    r = client.post(f"/m/leader/points/{shop.point_id}/arrived", headers=hx)
    assert r.status_code == 200 and r.text.lstrip().startswith(f'<article class="card point-card" id="point-{shop.point_id}"')
    assert "1 个订单已可取货。" in r.text and 'data-testid="ready">1<' in r.text
    assert _order(db, o["id"]).status == "ready_for_pickup"

    wrong = "000000" if o["pickup_code"] != "000000" else "111111"
    r = client.post(f"/m/leader/points/{shop.point_id}/verify", data={"code": wrong}, headers=hx)
    assert r.status_code == 404 and errors(r.text) == ["此自提点没有使用该取货码的待取订单，请核对数字。"]
    r = client.post(f"/m/leader/points/{shop.point_id}/verify", data={"code": f"linli:pickup:{o['id']}:{o['pickup_code']}"}, headers=hx)
    assert r.status_code == 200 and 'data-testid="verified"' in r.text
    assert f"核销成功：订单 #{o['id']}" in r.text and "黄金奶油草莓 · 1盒 × 2" in r.text
    assert _order(db, o["id"]).status == "received"
    # Used codes are gone.
    r = client.post(f"/m/leader/points/{shop.point_id}/verify", data={"code": o["pickup_code"]}, headers=hx)
    assert r.status_code == 404


def test_someone_else_cannot_use_a_leaders_point(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, BUYER)
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    page_login(client, "13900004444")
    assert "你还不是任何小区的团长" in client.get("/m/leader", headers=HTML).text
    token = csrf(client)
    r = client.post(f"/m/leader/points/{shop.point_id}/verify", data={"code": o["pickup_code"], "csrf_token": token}, headers=HTML)
    assert r.status_code == 403 and errors(r.text) == ["只有该自提点的团长或商家员工可以操作。"]
    r = client.post(f"/m/leader/points/{shop.point_id}/arrived", data={"csrf_token": token}, headers=HTML)
    assert r.status_code == 403
    assert _order(db, o["id"]).status == "paid"


# --- console ------------------------------------------------------------------------------------------------------------


def test_console_order_list_filters_by_status_community_point_and_date(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    h = merchant.owner
    c2 = client.post(f"/api/v1/merchants/{merchant.id}/communities", json={"name": "滨江花园", "city": "杭州", "lat": 30.21, "lng": 120.21}, headers=h).json()
    p2 = client.post(f"/api/v1/merchants/{merchant.id}/communities/{c2['id']}/pickup-points", json={"name": "南门超市", "address": "南门", "lat": 30.21, "lng": 120.21}, headers=h).json()
    buyer = login(client, BUYER)
    first = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])  # 2026-11-22, paid, 东门驿站
    clock.advance(days=2)
    second = order(client, buyer, shop, [(shop.skus["apple"], 1)], pickup_point_id=p2["id"]).json()  # 11-24, unpaid, 南门超市

    page_login(client, merchant.owner_phone, "console")
    base = f"/console/merchants/{merchant.id}/orders"

    def ids(query: str) -> list[int]:
        r = client.get(f"{base}?{query}", headers=HTML)
        assert r.status_code == 200, r.text
        return [int(i) for i in re.findall(r'data-testid="order-row">\s*<td><a href="[^"]+">#(\d+)<', r.text)]

    assert ids("") == [second["id"], first["id"]]
    assert ids("status=paid") == [first["id"]]
    assert ids("status=pending_payment") == [second["id"]]
    assert ids(f"community_id={c2['id']}") == [second["id"]]
    assert ids(f"pickup_point_id={shop.point_id}") == [first["id"]]
    assert ids("from=2026-11-23") == [second["id"]]
    assert ids("to=2026-11-22") == [first["id"]]  # the "to" day is included
    assert ids("from=2026-11-22&to=2026-11-22&status=paid") == [first["id"]]
    assert ids("status=cancelled") == []
    page = client.get(f"{base}?status=paid", headers=HTML).text
    assert '<option value="paid" selected>' in page and "139****2222" in page and "13900002222" not in page
    r = client.get(f"{base}?from=yesterday", headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["日期格式如 2026-11-22。"]

    detail = client.get(f"{base}/{first['id']}", headers=HTML).text
    assert "支付成功" in detail and "下单" in detail and "开始备货" in detail and "可取货" in detail
    # The merchant page links to the order desk.
    merchant_page = client.get(f"/console/merchants/{merchant.id}", headers=HTML).text
    assert f'href="{base}"' in merchant_page and f'href="/console/merchants/{merchant.id}/products"' in merchant_page


def test_a_non_staff_member_is_refused_on_console_pages(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, BUYER)
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    page_login(client, BUYER, "console")
    mid = merchant.id
    for path in [f"/console/merchants/{mid}/orders", f"/console/merchants/{mid}/orders/{o['id']}", f"/console/merchants/{mid}/products", f"/console/merchants/{mid}/refunds", f"/console/merchants/{mid}/order-settings"]:
        r = client.get(path, headers=HTML)
        assert r.status_code == 404 and r.headers["content-type"].startswith("text/html"), path
        assert "黄金奶油草莓" not in r.text
    token = csrf(client)
    for path, data in [
        (f"/console/merchants/{mid}/orders/{o['id']}/fulfil", {}),
        (f"/console/merchants/{mid}/order-settings", {"unpaid_minutes": "5", "auto_confirm_days": "1", "after_sales_days": "1", "quick_refund_max": "0", "quick_refund_hours": "1", "delivery_radius_m": "100", "max_qty_per_line": "1"}),
        (f"/console/merchants/{mid}/products", {"name": "x", "category": "y", "sku_name_0": "z", "sku_price_0": "1", "sku_stock_0": "1"}),
    ]:
        r = client.post(path, data={**data, "csrf_token": token}, headers=HTML)
        assert r.status_code == 404, path
    assert _order(db, o["id"]).status == "paid"
    assert _count(db, OrderSettings) == 0 and _count(db, Product) == 2
    # Logged out, the console sends people to its login.
    client.cookies.delete("linli_token")
    r = client.get(f"/console/merchants/{mid}/orders", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/login?next=/console/merchants/{mid}/orders"


def test_staff_move_orders_on_and_review_refunds(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    buyer = login(client, BUYER)
    picked = buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])
    delivered = buy(client, db, buyer, shop, [(shop.skus["apple"], 1)], pickup_point_id=None, address={"name": "王阿姨", "phone": BUYER, "text": "1 幢 101", "lat": 30.2745, "lng": 120.156})
    page_login(client, merchant.owner_phone, "console")
    token = csrf(client)
    base = f"/console/merchants/{merchant.id}/orders"

    def step(oid, path, **data):
        return client.post(f"{base}/{oid}/{path}", data={"csrf_token": token, **data}, headers=HTML, follow_redirects=False)

    assert step(picked["id"], "fulfil").status_code == 303
    assert step(picked["id"], "ready").status_code == 303
    assert _order(db, picked["id"]).status == "ready_for_pickup"
    r = step(picked["id"], "fulfil")
    assert r.status_code == 409 and errors(r.text) == ["订单当前状态不允许此操作。"]

    page = client.get(f"{base}/{delivered['id']}", headers=HTML).text
    assert "开始配送" in page and "可取货" not in page
    assert step(delivered["id"], "delivery", action="dispatched", note="顺丰 10 点前").status_code == 303
    r = step(delivered["id"], "delivery", action="update", note="")
    assert r.status_code == 422 and errors(r.text) == ["请写明配送进展。"]
    assert step(delivered["id"], "delivery", action="update", note="还有 10 分钟").status_code == 303
    assert step(delivered["id"], "delivery", action="delivered").status_code == 303
    assert _order(db, delivered["id"]).status == "received"
    page = client.get(f"{base}/{delivered['id']}", headers=HTML).text
    assert "还有 10 分钟" in page and "已送达" in page and "商家 138****0001" in page

    # Refunds (not yet received: staff review): one approved, one rejected with a reason
    # the buyer sees.
    line_id = picked["lines"][0]["id"]
    cases = [client.post(f"/api/v1/orders/{picked['id']}/refunds", json={"lines": [{"line_id": line_id, "amount": 500}], "reason": "坏了两颗", "photos": []}, headers=buyer).json() for _ in range(2)]
    assert [c["status"] for c in cases] == ["requested", "requested"]
    merchant_page = client.get(f"/console/merchants/{merchant.id}", headers=HTML).text
    assert 'data-testid="refunds-waiting">2<' in merchant_page
    refunds = client.get(f"/console/merchants/{merchant.id}/refunds", headers=HTML).text
    assert refunds.count('class="card case-card"') == 2 and "坏了两颗" in refunds
    r = client.post(f"/console/merchants/{merchant.id}/refunds/{cases[0]['id']}/approve", data={"csrf_token": token, "next": f"{base}/{picked['id']}"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{base}/{picked['id']}"
    r = client.post(f"/console/merchants/{merchant.id}/refunds/{cases[1]['id']}/reject", data={"csrf_token": token, "reason": ""}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["请说明原因（1 到 200 个字符）。"]
    r = client.post(f"/console/merchants/{merchant.id}/refunds/{cases[1]['id']}/reject", data={"csrf_token": token, "reason": "照片看不出问题"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/console/merchants/{merchant.id}/refunds/{cases[1]['id']}/reject", data={"csrf_token": token, "reason": "again"}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["该退款申请已处理。"]
    with db.transaction() as s:
        assert [s.get(RefundCase, c["id"]).status for c in cases] == ["refunded", "rejected"]
    member_page = client.get(f"/m/orders/{picked['id']}", headers={**HTML, "Authorization": buyer["Authorization"]}).text
    assert "照片看不出问题" in member_page and "已拒绝" in member_page and "已退款" in member_page


def test_order_settings_are_saved_within_bounds(client, db, merchant):
    page_login(client, merchant.owner_phone, "console")
    url = f"/console/merchants/{merchant.id}/order-settings"
    page = client.get(url, headers=HTML).text
    assert 'name="quick_refund_max" value="30.00"' in page and 'name="unpaid_minutes" value="15"' in page
    form = {"csrf_token": csrf(client), "unpaid_minutes": "20", "auto_confirm_days": "5", "after_sales_days": "10", "quick_refund_max": "12.5", "quick_refund_hours": "24", "delivery_radius_m": "2000", "max_qty_per_line": "20"}
    r = client.post(url, data={**form, "unpaid_minutes": "2"}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["未付款自动取消前的分钟数：请输入 5 到 1440 之间的数。"]
    r = client.post(url, data={**form, "quick_refund_max": "1.234"}, headers=HTML)
    assert r.status_code == 422 and "0.00 到 10000.00" in errors(r.text)[0]
    assert _count(db, OrderSettings) == 0
    r = client.post(url, data=form, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    with db.transaction() as s:
        row = s.get(OrderSettings, merchant.id)
        assert (row.unpaid_minutes, row.quick_refund_max, row.delivery_radius_m) == (20, 1250, 2000)
    assert 'name="quick_refund_max" value="12.50"' in client.get(url, headers=HTML).text
    # An operator sees them but may not change them.
    client.post(f"/api/v1/merchants/{merchant.id}/staff", json={"phone": "13700000001", "role": "operator"}, headers=merchant.owner)
    client.cookies.clear()
    page_login(client, "13700000001", "console")
    assert "只有店主可以修改这些设置。" in client.get(url, headers=HTML).text
    r = client.post(url, data={**form, "csrf_token": csrf(client), "unpaid_minutes": "30"}, headers=HTML)
    assert r.status_code == 403
    with db.transaction() as s:
        assert s.get(OrderSettings, merchant.id).unpaid_minutes == 20


def test_console_creates_products_in_yuan_with_a_picture_archive_and_stock(client, db, merchant, settings):
    page_login(client, merchant.owner_phone, "console")
    url = f"/console/merchants/{merchant.id}/products"
    token = csrf(client)
    form = {"csrf_token": token, "name": "有机小油菜", "category": "蔬菜", "description": "", "limit_per_member": "",
            "sku_name_0": "500g", "sku_price_0": "6.9", "sku_stock_0": "40", "sku_name_1": "1kg", "sku_price_1": "12.345", "sku_stock_1": "10"}
    r = client.post(url, data=form, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["请按元填写价格，最多两位小数，例如 68 或 12.50。"]
    assert 'value="有机小油菜"' in r.text and _count(db, Product) == 0
    r = client.post(url, data={**form, "sku_price_1": "12.3"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    with db.transaction() as s:
        p = s.scalars(select(Product)).one()
        skus = list(s.scalars(select(Sku).where(Sku.product_id == p.id).order_by(Sku.id)))
        assert [(k.name, k.price, k.stock) for k in skus] == [("500g", 690, 40), ("1kg", 1230, 10)]

    r = client.post(f"{url}/{p.id}/image", data={"csrf_token": token}, files={"picture": ("x.txt", b"not a picture", "text/plain")}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["请上传 JPEG、PNG 或 WebP 图片。"]
    r = client.post(f"{url}/{p.id}/image", data={"csrf_token": token}, files={"picture": ("greens.png", _png((20, 160, 60)), "image/png")}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    with db.transaction() as s:
        image = s.get(Product, p.id).image
    assert image and (Path(settings.media_dir) / image).is_file()
    assert f'src="/media/{image}"' in client.get(f"/m/shop/{merchant.id}", headers=HTML).text

    r = client.post(f"/console/merchants/{merchant.id}/skus/{skus[0].id}/stock", data={"csrf_token": token, "add": "10", "product_id": str(p.id)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/console/merchants/{merchant.id}/skus/{skus[1].id}/stock", data={"csrf_token": token, "add": "-11", "product_id": str(p.id)}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["不能减去超过剩余数量的库存。"]
    assert f'data-testid="stock-{skus[0].id}">50<' in client.get(url, headers=HTML).text

    r = client.post(f"{url}/{p.id}/status", data={"csrf_token": token, "status": "archived"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert "有机小油菜" not in client.get(f"/m/shop/{merchant.id}", headers=HTML).text
    assert client.get(f"/m/products/{p.id}", headers=HTML).status_code == 404
    assert "已下架" in client.get(url, headers=HTML).text


def test_buying_while_logged_out_goes_through_login_and_back(client, db, merchant):
    shop = make_shop(client, merchant)
    target = f"/m/checkout?sku={shop.skus['berry']}&qty=2"
    r = client.get(target, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/m/login?next=/m/checkout%3Fsku%3D{shop.skus['berry']}%26qty%3D2"
    client.get(r.headers["location"], headers=HTML)
    token = csrf(client)
    r = client.post("/m/login/code", data={"phone": BUYER, "csrf_token": token, "next": target}, headers=HTML)
    code = re.search(r'data-testid="debug-code">(\d{6})<', r.text).group(1)
    r = client.post("/m/login", data={"phone": BUYER, "code": code, "csrf_token": token, "next": target}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == target
    page = client.get(target, headers=HTML).text
    # No home community yet: every pickup point of the shop is offered, none chosen for them.
    assert 'data-testid="checkout-total">¥136.00<' in page and "其他小区的自提点" in page
    assert f'name="pickup_point_id" value="{shop.point_id}">' in page
    form = {**_checkout_form(client, shop), "pickup_point_id": ""}
    r = client.post("/m/checkout", data=form, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["请选择自提点，或填写收货地址。"]
    client.cookies.set("lang", "en")
    r = client.post("/m/checkout", data=form, headers=HTML)
    assert errors(r.text) == ["Choose a pickup point, or enter a delivery address."] and "Place order and pay" in r.text
