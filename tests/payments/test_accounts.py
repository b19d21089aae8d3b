"""Payment accounts: who may set them, what is checked before anything is written, that the
secrets are only ever stored sealed and shown as masks, and the 支付设置 console page."""

from __future__ import annotations

import re

from sqlalchemy import text

from linli.payments import accounts
from tests.conftest import login, problem_code
from tests.payments.conftest import APIV3_KEY, SP_APPID, SP_MCHID, SUB_APPID, SUB_MCHID, pem, wechat_direct
from tests.payments.fakes.alipay_fake import APP_ID, new_key, private_pem, public_pem
from tests.web.conftest import HTML, csrf, page_login

PLATFORM = "/api/v1/platform/payment-accounts"


def _merchant_url(mid: int, provider: str = "wechatpay") -> str:
    return f"/api/v1/merchants/{mid}/payment-accounts/{provider}"


def _platform(client, admin, merchant_key, platform_key):
    r = client.put(f"{PLATFORM}/wechatpay", json=wechat_direct(merchant_key, platform_key, mchid=SP_MCHID, appid=SP_APPID), headers=admin)
    assert r.status_code == 200, r.text
    return r


def test_the_platform_account_is_stored_sealed_and_shown_as_masks(client, admin, db, merchant_key, platform_key):
    r = _platform(client, admin, merchant_key, platform_key)
    body = r.json()
    assert body["mchid"] == SP_MCHID and body["mode"] == "direct" and body["public_key_set"] is True
    assert body["masks"] == {"private_key": "••••" + pem(merchant_key).strip()[-4:], "apiv3_key": "••••" + APIV3_KEY[-4:]}
    assert body["notify_url"].endswith("/api/v1/payments/wechatpay/notify")
    shown = client.get(f"{PLATFORM}/wechatpay", headers=admin)
    assert shown.status_code == 200 and shown.json()["masks"] == body["masks"]
    for answer in (r.text, shown.text):
        assert APIV3_KEY not in answer and "PRIVATE KEY" not in answer
    with db.engine.connect() as conn:
        row = " ".join(str(v) for v in conn.execute(text("SELECT * FROM payment_accounts")).one())
    assert APIV3_KEY not in row and "PRIVATE KEY" not in row and pem(merchant_key).splitlines()[1] not in row


def test_the_platform_binds_a_shop_as_its_sub_merchant_and_nobody_else_may(client, admin, merchant, db, merchant_key, platform_key):
    url = _merchant_url(merchant.id)
    partner = {"mode": "partner", "sub_mchid": SUB_MCHID, "sub_appid": SUB_APPID}
    assert problem_code(client.put(url, json=partner, headers=admin)) == "payment.platform_account_missing"
    _platform(client, admin, merchant_key, platform_key)
    r = client.post(f"/api/v1/merchants/{merchant.id}/staff", json={"phone": "13800000002", "role": "finance"}, headers=merchant.owner)
    assert r.status_code == 201, r.text
    finance, stranger = login(client, "13800000002"), login(client, "13800000009")
    assert problem_code(client.put(url, json=partner, headers=finance)) == "auth.role_forbidden"
    assert client.get(url, headers=stranger).status_code == 404
    assert problem_code(client.put(f"{PLATFORM}/alipay", json={"mode": "direct"}, headers=merchant.owner)) == "auth.admin_only"
    # The owner cannot name a sub-merchant number: the 服务商 (the platform) onboarded it.
    assert problem_code(client.put(url, json=partner, headers=merchant.owner)) == "auth.admin_only"
    assert problem_code(client.get(url, headers=merchant.owner)) == "payment.account_not_found"
    r = client.put(url, json=partner, headers=admin)
    assert r.status_code == 200, r.text
    assert r.json()["sub_mchid"] == SUB_MCHID and r.json()["masks"] == {}
    assert client.get(url, headers=merchant.owner).json()["sub_mchid"] == SUB_MCHID  # the owner sees it
    with db.transaction() as s:
        wx = accounts.wechatpay_client(s, merchant.id)
        assert (wx.creds.mchid, wx.creds.sub_mchid, wx.creds.sub_appid, wx.creds.apiv3_key) == (SP_MCHID, SUB_MCHID, SUB_APPID, APIV3_KEY)
        assert accounts.alipay_client(s, merchant.id) is None
    # One sub-merchant is one shop's: another shop given the same number is refused.
    other = client.post("/api/v1/merchants", json={"name": "另一家店", "owner_phone": "13800000005"}, headers=admin).json()["id"]
    r = client.put(_merchant_url(other), json=partner, headers=admin)
    assert r.status_code == 409 and problem_code(r) == "payment.account_taken" and r.json()["field"] == "sub_mchid"


def test_a_second_shop_cannot_claim_another_shops_wechat_pay_merchant_or_key(client, admin, merchant, merchant_key, platform_key):
    assert client.put(_merchant_url(merchant.id), json=wechat_direct(merchant_key, platform_key), headers=merchant.owner).status_code == 200
    other = client.post("/api/v1/merchants", json={"name": "另一家店", "owner_phone": "13800000005"}, headers=admin).json()["id"]
    owner = login(client, "13800000005")
    r = client.put(_merchant_url(other), json=wechat_direct(merchant_key, platform_key), headers=owner)
    assert r.status_code == 409 and problem_code(r) == "payment.account_taken" and r.json()["field"] == "mchid"
    assert client.put(_merchant_url(merchant.id), json=wechat_direct(merchant_key, platform_key), headers=merchant.owner).status_code == 200  # its own, again


def test_keys_that_do_not_parse_are_refused_naming_the_field_never_echoing_it(client, admin, merchant, db, merchant_key, platform_key):
    junk = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LXNlY3JldA==\n-----END PRIVATE KEY-----"
    cases = [({"private_key": junk}, "private_key"), ({"apiv3_key": "x" * 31}, "apiv3_key"), ({"public_key": "not a key"}, "public_key"),
             ({"mchid": "12ab"}, "mchid"), ({"apiv3_key": ""}, "apiv3_key")]
    for change, field in cases:
        r = client.put(_merchant_url(merchant.id), json=wechat_direct(merchant_key, platform_key, **change), headers=merchant.owner)
        assert problem_code(r) == "payment.credentials_invalid" and r.status_code == 422 and r.json()["field"] == field, r.text
        assert "c2VjcmV0" not in r.text and "x" * 31 not in r.text
    assert problem_code(client.put(_merchant_url(merchant.id), json={"mode": "direct", "iban": "1"}, headers=merchant.owner)) == "validation.unknown_field"
    assert client.put(_merchant_url(merchant.id, "paypal"), json={}, headers=merchant.owner).status_code == 422
    assert problem_code(client.put(f"{PLATFORM}/wechatpay", json={"mode": "partner"}, headers=admin)) == "payment.mode_invalid"
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM payment_accounts")).scalar() == 0


def test_a_secret_left_empty_keeps_the_stored_one(client, merchant, db):
    key, other = new_key(), new_key()
    url = _merchant_url(merchant.id, "alipay")
    first = {"mode": "direct", "app_id": APP_ID, "public_key": public_pem(other.public_key()), "private_key": private_pem(key)}
    assert client.put(url, json=first, headers=merchant.owner).status_code == 200
    r = client.put(url, json={**first, "private_key": None, "app_id": "2021004100000002"}, headers=merchant.owner)
    assert r.status_code == 200 and r.json()["app_id"] == "2021004100000002", r.text
    with db.transaction() as s:
        assert accounts.alipay_client(s, merchant.id).credentials.private_key == private_pem(key).strip()


def test_the_console_page_lists_and_saves_the_accounts_in_chinese_and_english(client, merchant):
    page_login(client, merchant.owner_phone, "console")
    page = client.get(f"/console/merchants/{merchant.id}/payment-accounts", headers=HTML)
    assert page.status_code == 200 and "支付设置" in page.text and "未配置" in page.text
    key, alipay_key = new_key(), new_key()
    form = {"csrf_token": csrf(client), "provider": "alipay", "mode": "direct", "direct.app_id": APP_ID,
            "direct.public_key": public_pem(alipay_key.public_key()), "direct.private_key": private_pem(key)}
    r = client.post(f"/console/merchants/{merchant.id}/payment-accounts", data=form, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text
    page = client.get(r.headers["location"], headers=HTML)
    assert "已保存" in page.text and APP_ID in page.text and "BEGIN PRIVATE KEY" not in page.text
    assert re.search(r'placeholder="••••[^"]+"', page.text)
    bad = client.post(f"/console/merchants/{merchant.id}/payment-accounts", data={**form, "direct.private_key": "nope"}, headers=HTML)
    assert bad.status_code == 422 and "nope" not in bad.text
    client.cookies.set("lang", "en")
    assert "Payment settings" in client.get(f"/console/merchants/{merchant.id}/payment-accounts", headers=HTML).text
