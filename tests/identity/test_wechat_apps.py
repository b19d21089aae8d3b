"""Setting the WeChat apps: who may, what is stored (the AppSecret sealed), what is shown (its
mask), in the API and on the console pages."""

from __future__ import annotations

from sqlalchemy import text

from linli import vault
from tests.conftest import login, problem_code
from tests.identity.conftest import MINI_APPID, MINI_SECRET, OA_APPID, set_app
from tests.web.conftest import HTML, csrf, errors, page_login


def test_the_secret_is_stored_sealed_and_shown_as_its_mask_only(client, db, admin):
    r = set_app(client, admin, "mini_program", MINI_APPID, MINI_SECRET)
    assert r.status_code == 200 and r.json()["secret_mask"] == "••••" + MINI_SECRET[-4:] and MINI_SECRET not in r.text
    got = client.get("/api/v1/platform/wechat-apps/mini_program", headers=admin)
    assert got.json() == {**r.json()} and set(got.json()) == {"kind", "merchant_id", "appid", "secret_mask", "updated_at"}
    with db.engine.connect() as c:
        sealed = c.execute(text("SELECT secret_sealed FROM wechat_apps")).scalar_one()
    assert MINI_SECRET not in sealed and vault.open_sealed(sealed) == MINI_SECRET
    # The same AppID without a secret keeps it; another AppID needs its own.
    assert set_app(client, admin, "mini_program", MINI_APPID, None).json()["secret_mask"] == r.json()["secret_mask"]
    assert problem_code(set_app(client, admin, "mini_program", OA_APPID, None)) == "identity.wechat_secret_required"


def test_only_the_admin_sets_apps_and_an_owner_sees_the_shops(client, admin, merchant):
    neighbour = login(client, "13900001111")
    assert problem_code(set_app(client, neighbour, "mini_program", MINI_APPID, MINI_SECRET)) == "auth.admin_only"
    assert client.get("/api/v1/platform/wechat-apps/mini_program", headers=neighbour).status_code == 403
    r = client.post(f"/api/v1/merchants/{merchant.id}/staff", json={"phone": "13900002222", "role": "operator"}, headers=merchant.owner)
    assert r.status_code == 201
    operator = login(client, "13900002222")
    assert problem_code(set_app(client, operator, "official_account", OA_APPID, MINI_SECRET, merchant.id)) == "auth.role_forbidden"
    assert set_app(client, neighbour, "official_account", OA_APPID, MINI_SECRET, merchant.id).status_code == 404
    assert client.get(f"/api/v1/merchants/{merchant.id}/wechat-apps/official_account", headers=merchant.owner).status_code == 404
    # Not even the owner enters the shop's AppSecret: holding it, a shop could redeem its
    # visitors' login codes itself. The platform enters it (as a 第三方平台 takes the shop's
    # authorisation); the owner sees it, masked.
    assert problem_code(set_app(client, merchant.owner, "official_account", OA_APPID, MINI_SECRET, merchant.id)) == "auth.admin_only"
    assert set_app(client, admin, "official_account", OA_APPID, MINI_SECRET, merchant.id).status_code == 200
    got = client.get(f"/api/v1/merchants/{merchant.id}/wechat-apps/official_account", headers=merchant.owner).json()
    assert got["merchant_id"] == merchant.id and got["appid"] == OA_APPID
    r = set_app(client, admin, "mini_program", OA_APPID, MINI_SECRET)  # the merchant's AppID already
    assert r.status_code == 409 and problem_code(r) == "identity.wechat_appid_taken"


def test_bad_app_input_is_a_problem(client, admin):
    for appid, secret, code in [("wx123", MINI_SECRET, "identity.wechat_appid_invalid"), ("gh_1234567890abcdef", MINI_SECRET, "identity.wechat_appid_invalid"),
                                (MINI_APPID, "short", "identity.wechat_secret_invalid"), (MINI_APPID, "x" * 31 + "!", "identity.wechat_secret_invalid")]:
        r = set_app(client, admin, "mini_program", appid, secret)
        assert r.status_code == 422 and problem_code(r) == code, appid
    assert problem_code(set_app(client, admin, "web", MINI_APPID, MINI_SECRET)) == "validation.invalid"
    assert problem_code(client.put("/api/v1/platform/wechat-apps/mini_program", json={"appid": MINI_APPID, "extra": 1}, headers=admin)) == "validation.unknown_field"
    assert client.get("/api/v1/platform/wechat-apps/mini_program", headers=admin).status_code == 404


def test_the_console_sets_the_apps_without_showing_the_secret(client, merchant):
    page_login(client, "13800000000", "console")
    home = client.get("/console/", headers=HTML)
    assert 'id="wechat-apps"' in home.text and "微信登录" in home.text
    form = {"appid": MINI_APPID, "secret": MINI_SECRET, "csrf_token": csrf(client)}
    r = client.post("/console/platform/wechat-apps/mini_program", data=form, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    home = client.get(r.headers["location"], headers=HTML)
    assert "••••" + MINI_SECRET[-4:] in home.text and MINI_SECRET not in home.text and MINI_APPID in home.text
    r = client.post("/console/platform/wechat-apps/official_account", data={**form, "appid": "wx-nope"}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["AppID 为 wx 加 16 位字母或数字。"] and 'value="wx-nope"' in r.text
    # A merchant's page: the admin sets the shop's app; the owner sees it masked, with no
    # form; an operator does not see the section.
    client.post(f"/api/v1/merchants/{merchant.id}/staff", json={"phone": "13900002222", "role": "operator"}, headers=merchant.owner)
    r = client.post(f"/console/merchants/{merchant.id}/wechat-apps/official_account", data={**form, "appid": OA_APPID, "csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    client.post("/logout", data={"csrf_token": csrf(client)}, headers=HTML)
    page_login(client, merchant.owner_phone, "console")
    shop = client.get(f"/console/merchants/{merchant.id}", headers=HTML).text
    assert 'data-testid="wechat-official_account-mask"' in shop and 'data-testid="wechat-apps-platform"' in shop
    assert f'action="/console/merchants/{merchant.id}/wechat-apps/official_account"' not in shop
    r = client.post(f"/console/merchants/{merchant.id}/wechat-apps/official_account", data={**form, "appid": OA_APPID, "csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 403
    client.post("/logout", data={"csrf_token": csrf(client)}, headers=HTML)
    page_login(client, "13900002222", "console")
    assert 'id="wechat-apps"' not in client.get(f"/console/merchants/{merchant.id}", headers=HTML).text
