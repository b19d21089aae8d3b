"""The official account's login in the H5 pages: WeChat's web authorisation (the local fake
plays the WeChat browser), the phone form for a new openid, and forged states refused."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from linli.identity import service
from tests.conftest import login, problem_code
from tests.identity.conftest import OA_APPID, OA_SECRET, set_app
from tests.identity.wechat_fake import WxUser
from tests.web.conftest import HTML, errors, page_login


@pytest.fixture
def settings(wx_settings):
    return wx_settings


@pytest.fixture
def oa(client, admin, wx):
    assert set_app(client, admin, "official_account", OA_APPID, OA_SECRET).status_code == 200
    client.cookies.clear()  # the neighbour's browser, not the admin's
    return wx


def to_wechat(client, nxt: str = "/m/me"):
    r = client.get("/m/auth/wechat", params={"next": nxt}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"]


def through_wechat(client, wx, user: WxUser, nxt: str = "/m/me") -> str:
    """Where the WeChat browser of ``user`` comes back to (the callback URL with code and state)."""
    authorize = to_wechat(client, nxt)
    assert authorize.startswith(wx.url + "/connect/oauth2/authorize?") and authorize.endswith("#wechat_redirect")
    q = parse_qs(urlsplit(authorize).query)
    assert q["appid"] == [OA_APPID] and q["scope"] == ["snsapi_base"] and re.fullmatch(r"[0-9a-f]{41,52}", q["state"][0])
    wx.browser_user = user
    back = httpx.get(authorize.partition("#")[0], follow_redirects=False)
    assert back.status_code == 302
    return back.headers["location"]


def member_id(db, phone: str) -> int:
    with db.transaction() as s:
        return service.member_by_phone(s, phone).id


def openid_of(db, phone: str) -> str | None:
    with db.transaction() as s:
        return service.wechat_openid(s, service.member_by_phone(s, phone).id, OA_APPID)


def test_a_new_openid_is_bound_by_the_phone_login_then_wechat_logs_in_alone(client, db, oa):
    u = WxUser(phone="13900002222")
    r = client.get(through_wechat(client, oa, u, "/m/me?tab=orders"), headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/m/login?next=%2Fm%2Fme%3Ftab%3Dorders"
    form = client.get(r.headers["location"], headers=HTML)
    assert 'data-testid="wechat-pending"' in form.text
    page_login(client, "13900002222")
    assert openid_of(db, "13900002222") == oa.openid(u, OA_APPID)
    client.post("/logout", data={"csrf_token": client.cookies["linli_csrf"]}, headers=HTML)
    r = client.get(through_wechat(client, oa, u), headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/m/me"
    assert "13900002222"[-4:] in client.get("/m/me", headers=HTML).text


def test_inside_wechat_the_login_page_offers_wechat(client, oa):
    wechat_ua = {**HTML, "user-agent": "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50"}
    assert 'data-testid="wechat-login"' in client.get("/m/login?next=/m/me", headers=wechat_ua).text
    assert 'data-testid="wechat-login"' not in client.get("/m/login", headers=HTML).text


def test_a_member_logged_in_here_is_bound_directly(client, db, oa):
    page_login(client, "13900003333")
    u = WxUser(phone="13900003333")
    r = client.get(through_wechat(client, oa, u), headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/m/me"
    assert openid_of(db, "13900003333") == oa.openid(u, OA_APPID)


def test_the_phone_login_never_rebinds_an_openid_bound_meanwhile(client, db, oa):
    u = WxUser(phone="13900004444")
    client.get(through_wechat(client, oa, u), headers=HTML, follow_redirects=False)  # pending in this browser
    # Meanwhile the openid is bound to another member (logged in elsewhere).
    other = login(client, "13900005555")
    r = client.post("/api/v1/auth/wechat", json={"code": oa.web_code(OA_APPID, u), "app": "official_account"}, headers=other)
    assert r.status_code == 200 and r.json()["member_id"] == member_id(db, "13900005555")
    client.get("/m/login", headers=HTML)
    token = client.cookies["linli_csrf"]
    code = client.post("/m/login/code", data={"phone": "13900004444", "csrf_token": token}, headers=HTML)
    debug = re.search(r'data-testid="debug-code">(\d{6})<', code.text).group(1)
    r = client.post("/m/login", data={"phone": "13900004444", "code": debug, "csrf_token": token}, headers=HTML, follow_redirects=False)
    assert r.status_code == 409 and errors(r.text) == ["此微信已关联其他会员。"]
    assert openid_of(db, "13900005555") == oa.openid(u, OA_APPID)
    # The pending user is dropped: the same code now logs in without binding.
    r = client.post("/m/login", data={"phone": "13900004444", "code": debug, "csrf_token": token}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and openid_of(db, "13900004444") is None


def test_a_forged_foreign_or_expired_state_is_refused(client, db, oa, clock):
    u = WxUser()
    back = through_wechat(client, oa, u)
    q = parse_qs(urlsplit(back).query)
    forged = back.replace(q["state"][0], q["state"][0][:-1] + ("0" if q["state"][0][-1] != "0" else "1"))
    for url in (forged, back.replace("next=%2Fm%2Fme", "next=%2Fm%2Forders"), back.split("&state=")[0]):
        r = client.get(url, headers=HTML, follow_redirects=False)
        assert r.status_code == 400 and 'data-code="identity.wechat_state_invalid"' in r.text
    csrf = client.cookies["linli_csrf"]
    client.cookies.set("linli_csrf", "another-browser")
    assert client.get(back, headers=HTML, follow_redirects=False).status_code == 400
    client.cookies.set("linli_csrf", csrf)
    clock.advance(minutes=11)
    assert client.get(back, headers=HTML, follow_redirects=False).status_code == 400
    assert oa.calls.count("/sns/oauth2/access_token") == 0  # no code was spent on a refused state
    assert problem_code(client.get(back)) == "identity.wechat_state_invalid"  # the API form of the same refusal


def test_without_an_official_account_the_page_says_so(client, wx):
    r = client.get("/m/auth/wechat", headers=HTML, follow_redirects=False)
    assert r.status_code == 422 and 'data-code="identity.wechat_not_configured"' in r.text


def test_wechat_sends_the_browser_back_to_the_public_url_not_the_host_header(client, app, oa):
    app.state.ctx.settings = app.state.ctx.settings.model_copy(update={"public_url": "https://shop.example.cn"})
    redirect = parse_qs(urlsplit(to_wechat(client)).query)["redirect_uri"][0]
    assert redirect.startswith("https://shop.example.cn/m/auth/wechat/callback?")
