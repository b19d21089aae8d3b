"""The rewards pages through httpx: claiming coupons on the shop and product pages, the wallet,
the checkout's best coupon, and the console's coupon templates — bad input shows the field's
error (a 4xx page), never a 500, and changes nothing."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from linli.orders.models import Order
from linli.rewards.models import Coupon, CouponTemplate
from tests.conftest import login
from tests.orders.helpers import make_shop, pay
from tests.web.conftest import HTML, csrf, errors, page_login

BUYER = "13900002222"


def _template(client, shop, **body) -> dict:
    base = {"name": "满50减10", "kind": "threshold", "amount": 1000, "threshold": 5000, "total": 100, "per_member": 1, "valid_days": 30}
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/coupon-templates", json={**base, **body}, headers=shop.owner)
    assert r.status_code == 201, r.text
    return r.json()


def _count(db, model, *where) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _claim(client, tid: int, next_url: str = "/m/shop", **extra):
    return client.post(f"/m/coupons/claim/{tid}", data={"csrf_token": csrf(client), "next": next_url, **extra}, headers=HTML, follow_redirects=False)


def _buyer(client, shop) -> dict:
    page_login(client, BUYER)
    api = login(client, BUYER)
    assert client.patch("/api/v1/me", json={"community_id": shop.community_id}, headers=api).status_code == 200
    return api


def test_a_member_claims_coupons_on_the_shop_and_product_pages_and_sees_them_in_the_wallet(client, db, merchant):
    shop = make_shop(client, merchant)
    t50 = _template(client, shop)
    fold = _template(client, shop, name="水果85折", kind="percent", amount=0, threshold=0, percent_bp=1500, cap=2000, scope={"categories": ["水果"]})
    five = _template(client, shop, name="无门槛5元", kind="fixed", amount=500, threshold=0)
    _template(client, shop, name="员工券", kind="fixed", amount=300, threshold=0, claimable=False)

    r = client.get(f"/m/shop/{shop.merchant_id}", headers=HTML)  # a visitor sees the coupons too
    assert r.status_code == 200
    terms = re.findall(r'data-testid="coupon-terms">([^<]*)<', r.text)
    assert terms == ["满50减10", "8.5折 最高减20元", "立减5元"]  # 员工券 is for staff to issue
    _buyer(client, shop)
    r = _claim(client, t50["id"], f"/m/shop/{shop.merchant_id}")
    assert r.status_code == 303 and r.headers["location"] == f"/m/shop/{shop.merchant_id}"
    shop_page = client.get(f"/m/shop/{shop.merchant_id}", headers=HTML).text
    assert shop_page.count('data-testid="claimed"') == 1
    # Claiming again: the per-member limit, said in the page, nothing issued.
    r = _claim(client, t50["id"], f"/m/shop/{shop.merchant_id}")
    assert r.status_code == 409 and errors(r.text) == ["你已领取过此券，已达每人限领数量。"]
    assert _count(db, Coupon) == 1
    # From the block (HTMX): the block comes back with the answer.
    r = client.post(f"/m/coupons/claim/{five['id']}", data={"csrf_token": csrf(client), "next": "/m/shop"}, headers={**HTML, "HX-Request": "true"})
    assert r.status_code == 200 and 'data-testid="claim-block"' in r.text and "已领取" in r.text and "<html" not in r.text

    # The product page (水果) shows the coupons that apply to it.
    with db.transaction() as s:
        from linli.catalog import service as catalog

        pid = catalog.sku_views(s, [shop.skus["apple"]])[shop.skus["apple"]].product_id
    page = client.get(f"/m/products/{pid}", headers=HTML).text
    assert "8.5折 最高减20元" in page and 'data-testid="claim-block"' in page
    assert _claim(client, fold["id"], f"/m/products/{pid}", product_id=str(pid)).status_code == 303

    wallet = client.get(f"/m/wallet/{shop.merchant_id}", headers=HTML)
    assert wallet.status_code == 200
    unused = wallet.text.split('data-testid="coupons-unused"')[1].split("</div>\n  <details")[0]
    assert sorted(re.findall(r'data-testid="coupon-terms">([^<]*)<', unused)) == sorted(["满50减10", "8.5折 最高减20元", "立减5元"])
    assert "限水果" in unused and "全场通用" in unused
    assert re.search(r'data-testid="points-available">0<', wallet.text) and 'data-testid="stored-value-principal">¥0.00<' in wallet.text
    assert client.get("/m/wallet", headers=HTML, follow_redirects=False).headers["location"] == f"/m/wallet/{shop.merchant_id}"
    client.cookies.set("lang", "en")
    wallet = client.get(f"/m/wallet/{shop.merchant_id}", headers=HTML).text
    assert "Spend ¥50, get ¥10 off" in wallet and "15% off, at most ¥20" in wallet and "¥5 off" in wallet


def test_checkout_preselects_the_best_coupon_and_the_order_uses_it(client, db, merchant):
    shop = make_shop(client, merchant)
    t50 = _template(client, shop)
    five = _template(client, shop, name="无门槛5元", kind="fixed", amount=500, threshold=0)
    api = _buyer(client, shop)
    for t in (t50, five):
        assert client.post(f"/api/v1/coupons/{t['id']}/claim", headers=api).status_code == 201
    mine = {c["template_id"]: c["id"] for c in client.get("/api/v1/me/coupons", params={"merchant_id": shop.merchant_id}, headers=api).json()}

    html = client.get(f"/m/checkout?sku={shop.skus['berry']}&qty=1", headers=HTML).text
    assert re.search(rf'value="{mine[t50["id"]]}" checked', html)  # 满50减10 takes more off than 5元
    assert re.search(r'data-testid="checkout-total">¥58.00<', html)
    idem = re.search(r'name="idem" value="([0-9a-f]+)"', html).group(1)
    form = {"csrf_token": csrf(client), "sku": str(shop.skus["berry"]), "qty": "1", "mode": "pickup", "pickup_point_id": str(shop.point_id), "idem": idem, "campaign": "", "team": ""}
    # The preview follows the member's choice.
    preview = client.post("/m/checkout/preview", data={**form, "coupon_id": str(mine[five["id"]])}, headers={**HTML, "HX-Request": "true"}).text
    assert re.search(r'data-testid="checkout-total">¥63.00<', preview) and re.search(rf'value="{mine[five["id"]]}" checked', preview)
    preview = client.post("/m/checkout/preview", data={**form, "coupon_id": "0"}, headers={**HTML, "HX-Request": "true"}).text
    assert re.search(r'data-testid="checkout-total">¥68.00<', preview)

    # Bad input: points that are not a number, points the member does not have — the page says so, no order.
    r = client.post("/m/checkout", data={**form, "coupon_id": str(mine[t50["id"]]), "points": "abc"}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["积分请填写整数。"]
    r = client.post("/m/checkout", data={**form, "coupon_id": str(mine[t50["id"]]), "points": "100"}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["积分不足。"]
    r = client.post("/m/checkout", data={**form, "coupon_id": "99999999"}, headers=HTML)
    assert r.status_code == 404 and errors(r.text) == ["没有这张优惠券。"]
    assert _count(db, Order) == 0 and _count(db, Coupon, Coupon.status != "unused") == 0

    r = client.post("/m/checkout", data={**form, "coupon_id": str(mine[t50["id"]])}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text
    with db.transaction() as s:
        o = s.scalars(select(Order)).one()
        assert (o.subtotal, o.coupon, o.payable) == (6800, 1000, 5800)
    pay(client, db, api, o.id)
    wallet = client.get(f"/m/wallet/{shop.merchant_id}", headers=HTML).text
    assert re.search(r'data-testid="coupons-used-count">1<', wallet) and re.search(r'data-testid="coupons-unused-count">1<', wallet)


def test_operators_create_issue_and_stop_coupon_templates_in_the_console(client, db, merchant):
    shop = make_shop(client, merchant)
    page_login(client, merchant.owner_phone, "console")
    mid = shop.merchant_id
    url = f"/console/merchants/{mid}/coupons"
    assert client.get(url, headers=HTML).status_code == 200
    base = {"csrf_token": csrf(client), "name": "满50减10", "kind": "threshold", "threshold": "50", "amount": "10", "scope": "all", "validity": "days", "valid_days": "30",
            "total": "100", "per_member": "1", "claimable": "1"}
    bad = [
        ({"amount": "ten"}, "amount", "请按元填写金额，最多两位小数，例如 10 或 9.90。"),
        ({"threshold": "5"}, "threshold", "满减门槛必须高于减免金额。"),
        ({"kind": "percent", "percent": "100"}, "percent", "折扣比例在 0.01 到 99.99 之间。"),
        ({"kind": "percent", "percent": "abc"}, "percent", "折扣比例在 0.01 到 99.99 之间。"),
        ({"kind": "gift", "gift_sku_id": ""}, "gift_sku_id", "请选择赠品。"),
        ({"scope": "products"}, "scope", "请至少选择一个分类或商品。"),
        ({"validity": "dates", "valid_to": ""}, "valid_to", "请填写截止日期或领取后的有效天数。"),
        ({"validity": "dates", "valid_to": "2026-13-01"}, "valid_to", "请按 2026-12-31 的格式填写日期。"),
        ({"valid_days": "0"}, "valid_days", "领取后有效天数为 1 到 3650 天。"),
        ({"total": "-1"}, "total", "请输入整数。"),
        ({"name": ""}, "name", "券名为 1 到 40 个字。"),
        ({"kind": "stamp"}, "kind", "请选择券的类型。"),
    ]
    for change, field, message in bad:
        r = client.post(url, data={**base, **change}, headers=HTML)
        assert r.status_code in (400, 422), (change, r.status_code, r.text[:200])
        found = re.findall(r'data-testid="field-error">([^<]*)<', r.text)
        assert found == [message], (change, field, found)
    assert _count(db, CouponTemplate) == 0

    r = client.post(url, data=base, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    with db.transaction() as s:
        tid = s.scalars(select(CouponTemplate.id)).one()
    # Issue to members by mobile number and id; a bad list says so.
    buyer = login(client, BUYER)
    buyer_id = client.get("/api/v1/me", headers=buyer).json()["id"]
    r = client.post(f"{url}/{tid}/issue", data={"csrf_token": csrf(client), "members": "1390000"}, headers=HTML)
    assert r.status_code == 404 and len(errors(r.text)) == 1  # no member with that id
    r = client.post(f"{url}/{tid}/issue", data={"csrf_token": csrf(client), "members": "139000abc"}, headers=HTML)
    assert r.status_code == 422 and len(errors(r.text)) == 1  # not a mobile number
    r = client.post(f"{url}/{tid}/issue", data={"csrf_token": csrf(client), "members": f"13700000077, {buyer_id}"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and "issued=2" in r.headers["location"]
    r = client.post(f"{url}/{tid}/issue", data={"csrf_token": csrf(client), "members": str(buyer_id)}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["你已领取过此券，已达每人限领数量。"]
    page = client.get(url, headers=HTML).text
    assert re.search(r'data-testid="template-issued">2<', page) and "满50减10" in page
    assert 'data-testid="coupons-summary"' in client.get(f"/console/merchants/{mid}", headers=HTML).text
    # Stop issuing: members no longer see it to claim.
    assert client.post(f"{url}/{tid}/active", data={"csrf_token": csrf(client), "active": "0"}, headers=HTML, follow_redirects=False).status_code == 303
    assert 'data-testid="claim-block"' not in client.get(f"/m/shop/{mid}", headers=HTML).text
    # Someone else's shop is not shown.
    stranger_client_headers = {**HTML}
    page_login(client, "13700000099", "console")
    assert client.get(url, headers=stranger_client_headers).status_code == 404
