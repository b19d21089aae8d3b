"""The rewards rules console (points rules, top-up plans, levels, new-member and birthday
coupons) and the member's top-up, principal refund and points statement pages, through
httpx: each form saves on success; bad input shows its field's error (4xx), never a 500,
and writes nothing."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from linli import events
from linli.payments.models import Payment
from linli.rewards.models import MemberLevelDef, Topup, TopupPlan
from tests.orders.helpers import make_shop
from tests.web.conftest import HTML, csrf, errors, page_login

BUYER = "13900003333"


def _field_errors(html: str) -> list[str]:
    return re.findall(r'data-testid="field-error">([^<]*)<', html)


def _count(db, model) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model))


def _console(client, merchant):
    shop = make_shop(client, merchant)
    page_login(client, merchant.owner_phone, "console")
    return shop, f"/console/merchants/{shop.merchant_id}/rewards"


def test_points_rules_form_saves_and_refuses_out_of_bounds(client, db, merchant):
    shop, url = _console(client, merchant)
    r = client.get(url, headers=HTML)
    assert r.status_code == 200 and 'name="points_per_yuan" value="1"' in r.text
    assert "会员权益" in client.get(f"/console/merchants/{shop.merchant_id}", headers=HTML).text  # the merchant page's section
    for bad, field in (({"points_per_yuan": "11"}, "points_per_yuan"), ({"points_expiry_years": "x"}, "points_expiry_years"), ({"points_per_yuan": "-1"}, "points_per_yuan")):
        r = client.post(f"{url}/points", data={"csrf_token": csrf(client), "points_per_yuan": "2", "points_expiry_years": "2", **bad}, headers=HTML)
        assert r.status_code == 422, (bad, r.status_code)
        assert len(_field_errors(r.text)) == 1, bad
        assert f'name="{field}" value="{bad[field]}"' in r.text  # what was typed stays
    assert client.get(f"/api/v1/merchants/{shop.merchant_id}/reward-settings", headers=shop.owner).json() == {"points_per_yuan": 1, "points_expiry_years": 1}
    r = client.post(f"{url}/points", data={"csrf_token": csrf(client), "points_per_yuan": "2", "points_expiry_years": "3"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith("saved=points#points")
    assert client.get(f"/api/v1/merchants/{shop.merchant_id}/reward-settings", headers=shop.owner).json() == {"points_per_yuan": 2, "points_expiry_years": 3}


def test_top_up_plans_form_adds_and_removes_rows_and_refuses_bad_ones(client, db, merchant):
    shop, url = _console(client, merchant)

    def post(rows, **extra):
        data = {"csrf_token": csrf(client), "rows": str(len(rows)), **extra}
        for i, (pay, bonus) in enumerate(rows):
            data[f"pay_{i}"], data[f"bonus_{i}"] = pay, bonus
        return client.post(f"{url}/plans", data=data, headers=HTML, follow_redirects=False)

    r = post([("100", "10"), ("300", "50"), ("", "")])
    assert r.status_code == 303
    assert client.get(f"/api/v1/merchants/{shop.merchant_id}/topup-plans", headers=shop.owner).json() == [{"pay": 10000, "bonus": 1000}, {"pay": 30000, "bonus": 5000}]
    for rows, message in (
        ([("100", "10"), ("abc", "0")], "请输入金额（元），最多两位小数，如 100 或 9.90。"),
        ([("100", "200")], "充值方案金额为 0.01 到 5000 元，赠送金额不超过充值金额。"),
        ([("100", "10"), ("100", "20")], None),  # a duplicate: said above the form
    ):
        r = post(rows)
        assert r.status_code == 422, rows
        if message:
            assert _field_errors(r.text) == [message], rows
        else:
            assert errors(r.text) == ["有两个方案的充值金额相同。"]
    assert _count(db, TopupPlan) == 2  # nothing half-written
    r = post([("100", "10"), ("300", "50"), ("500", "100")], drop_0="1")  # remove one, add one
    assert r.status_code == 303
    assert [p["pay"] for p in client.get(f"/api/v1/merchants/{shop.merchant_id}/topup-plans", headers=shop.owner).json()] == [30000, 50000]
    page = client.get(url, headers=HTML).text
    assert page.count('data-testid="plan-row"') == 4  # two saved, two blank to add


def test_levels_form_saves_rows_and_shows_the_bad_rows_error(client, db, merchant):
    shop, url = _console(client, merchant)
    tid = client.post(f"/api/v1/merchants/{shop.merchant_id}/coupon-templates", json={"name": "生日券", "kind": "fixed", "amount": 500, "total": 100, "valid_days": 7},
                      headers=shop.owner).json()["id"]

    def post(rows):
        data = {"csrf_token": csrf(client), "rows": str(len(rows))}
        for i, row in enumerate(rows):
            for k, v in row.items():
                data[f"{k}_{i}"] = v
        return client.post(f"{url}/levels", data=data, headers=HTML, follow_redirects=False)

    good = [{"name": "普通会员", "growth": "0"}, {"name": "银卡", "growth": "500", "discount": "2"},
            {"name": "金卡", "growth": "2000", "discount": "5", "free_delivery": "1", "birthday": str(tid)}, {"name": "", "growth": ""}]
    for i, change, message in (
        (1, {"growth": "0"}, "每个等级所需成长值须高于上一等级。"),
        (2, {"discount": "100"}, "等级折扣在 0 到 99.99% 之间。"),
        (2, {"discount": "five"}, "请输入百分比，最多两位小数，如 5 或 2.5。"),
        (1, {"growth": "1e3"}, "请输入金额（元），最多两位小数，如 100 或 9.90。"),
        (2, {"birthday": "999999"}, "请选择本店的优惠券。"),
        (1, {"name": "x" * 21}, "等级名称为 1 到 20 个字。"),
    ):
        rows = [dict(r) for r in good]
        rows[i].update(change)
        r = post(rows)
        assert r.status_code == 422, (change, r.status_code, r.text[:300])
        assert _field_errors(r.text) == [message], change
    assert _count(db, MemberLevelDef) == 0
    assert post(good).status_code == 303
    got = client.get(f"/api/v1/merchants/{shop.merchant_id}/levels", headers=shop.owner).json()
    assert [(d["name"], d["growth"], d["discount_bp"], d["free_delivery"], d["birthday_coupon_template_id"]) for d in got] == [
        ("普通会员", 0, 0, False, None), ("银卡", 50000, 200, False, None), ("金卡", 200000, 500, True, tid)]
    page = client.get(url, headers=HTML).text
    assert 'name="growth_1" value="500.00"' in page and 'name="discount_2" value="5"' in page


def test_new_member_and_birthday_coupon_form(client, db, merchant):
    shop, url = _console(client, merchant)
    tid = client.post(f"/api/v1/merchants/{shop.merchant_id}/coupon-templates", json={"name": "新人9.9元尝鲜券", "kind": "fixed", "amount": 990, "total": 100, "valid_days": 7},
                      headers=shop.owner).json()["id"]
    r = client.post(f"{url}/coupons", data={"csrf_token": csrf(client), "new_member": str(tid), "birthday": "99999"}, headers=HTML)
    assert r.status_code == 422 and _field_errors(r.text) == ["请选择本店的优惠券。"]
    assert client.get(f"/api/v1/merchants/{shop.merchant_id}/new-member-coupon", headers=shop.owner).json() == {"template_id": None}  # nothing half-written
    r = client.post(f"{url}/coupons", data={"csrf_token": csrf(client), "new_member": "abc", "birthday": ""}, headers=HTML)
    assert r.status_code == 422 and _field_errors(r.text) == ["请输入整数。"]
    r = client.post(f"{url}/coupons", data={"csrf_token": csrf(client), "new_member": str(tid), "birthday": str(tid)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    assert client.get(f"/api/v1/merchants/{shop.merchant_id}/new-member-coupon", headers=shop.owner).json() == {"template_id": tid}
    assert client.get(f"/api/v1/merchants/{shop.merchant_id}/birthday-coupon", headers=shop.owner).json() == {"template_id": tid}


def test_a_member_tops_up_from_the_wallet_refunds_the_principal_and_reads_the_points_statement(client, db, merchant):
    shop = make_shop(client, merchant)
    mid = shop.merchant_id
    assert client.put(f"/api/v1/merchants/{mid}/topup-plans", json=[{"pay": 10000, "bonus": 1000}], headers=shop.owner).status_code == 200
    page_login(client, BUYER)
    r = client.get(f"/m/wallet/{mid}", headers=HTML)
    assert f'href="/m/wallet/{mid}/topup"' in r.text and f"/m/wallet/{mid}/refund" not in r.text
    r = client.get(f"/m/wallet/{mid}/topup", headers=HTML)
    assert r.status_code == 200 and "充¥100.00" in r.text and "送¥10.00" in r.text
    for data, status in (({"plan": "other", "amount": "abc"}, 422), ({"plan": "other", "amount": "6000"}, 422), ({"plan": "12345"}, 422), ({"plan": "other", "amount": "0"}, 422)):
        r = client.post(f"/m/wallet/{mid}/topup", data={"csrf_token": csrf(client), **data}, headers=HTML)
        assert r.status_code == status and len(errors(r.text)) == 1, data
    assert _count(db, Topup) == 0 and _count(db, Payment) == 0
    r = client.post(f"/m/wallet/{mid}/topup", data={"csrf_token": csrf(client), "plan": "10000"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    pay_url = r.headers["location"]
    pid, tid = re.match(r"/m/pay/(\d+)\?next=/m/wallet/\d+/topups/(\d+)$", pay_url).groups()
    sheet = client.get(pay_url, headers=HTML).text
    assert f'name="next" value="/m/wallet/{mid}/topups/{tid}"' in sheet
    r = client.post(f"/m/pay/{pid}", data={"csrf_token": csrf(client), "next": f"/m/wallet/{mid}/topups/{tid}"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/m/wallet/{mid}/topups/{tid}"
    r = client.get(r.headers["location"], headers=HTML)
    assert r.status_code == 200 and 'data-status="pending"' in r.text and "hx-get" in r.text  # waits for the callback
    events.drain(db)
    r = client.get(f"/m/wallet/{mid}/topups/{tid}", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/m/wallet/{mid}?topped_up={tid}#stored-value"
    w = client.get(r.headers["location"], headers=HTML).text
    assert re.search(r'data-testid="stored-value-principal">¥100.00<', w) and re.search(r'data-testid="stored-value-bonus">¥10.00<', w)
    assert "充值成功：当前储值 ¥110.00。" in w

    # The refund: a confirmation stating the bonus forfeited, then the principal refunded.
    r = client.get(f"/m/wallet/{mid}/refund", headers=HTML)
    assert re.search(r'data-testid="refund-principal">¥100.00<', r.text) and re.search(r'data-testid="refund-forfeit">¥10.00<', r.text)
    r = client.post(f"/m/wallet/{mid}/refund", data={"csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and "refunded=" in r.headers["location"]
    w = client.get(f"/m/wallet/{mid}", headers=HTML).text
    assert re.search(r'data-testid="stored-value-total">¥0.00<', w)
    r = client.post(f"/m/wallet/{mid}/refund", data={"csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["没有可退还的本金。"]

    r = client.get(f"/m/wallet/{mid}/points", headers=HTML)
    assert r.status_code == 200 and "还没有积分" in r.text
    assert client.get(f"/m/wallet/{mid}/topups/99999", headers=HTML).status_code == 404
