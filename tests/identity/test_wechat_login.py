"""POST /api/v1/auth/wechat against the local WeChat fake: who a WeChat user logs in as, what
is bound, and what nothing is written for."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from linli import events
from linli.events import OutboxEvent
from linli.identity import service
from linli.identity.models import Member, WechatIdentity
from tests.conftest import login, problem_code
from tests.identity.conftest import MINI_APPID, MINI_SECRET, OA_APPID, OA_SECRET, set_app
from tests.identity.wechat_fake import WxUser

PHONE_API = "/wxa/business/getuserphonenumber"


@pytest.fixture
def settings(wx_settings):
    return wx_settings


@pytest.fixture
def apps(client, admin, wx):
    assert set_app(client, admin, "mini_program", MINI_APPID, MINI_SECRET).status_code == 200
    assert set_app(client, admin, "official_account", OA_APPID, OA_SECRET).status_code == 200
    return wx


def wechat(client, app: str, code: str, headers: dict | None = None, **extra):
    return client.post("/api/v1/auth/wechat", json={"code": code, "app": app, **extra}, headers=headers or {})


def mini(client, wx, user: WxUser, *, phone: bool = False, appid: str = MINI_APPID, **extra):
    if phone:
        extra["phone_code"] = wx.phone_code(appid, user)
    return wechat(client, "mini_program", wx.login_code(appid, user), **extra)


def counts(db) -> tuple[int, int, int]:
    with db.engine.connect() as c:
        return tuple(c.execute(select(func.count()).select_from(t)).scalar() for t in (Member.__table__, WechatIdentity.__table__, OutboxEvent.__table__))


def openid_of(db, member_id: int, appid: str) -> str | None:
    with db.transaction() as s:
        return service.wechat_openid(s, member_id, appid)


def me(client, token: str) -> dict:
    return client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).json()


def test_a_new_neighbour_gives_the_phone_once_then_logs_in_with_wechat_alone(client, db, apps):
    u = WxUser(phone="13900002222")
    before = counts(db)
    r = mini(client, apps, u)
    assert r.status_code == 409 and problem_code(r) == "identity.phone_required"
    assert counts(db) == before  # nothing written, no event
    r = mini(client, apps, u, phone=True)
    assert r.status_code == 200, r.text
    first = r.json()
    assert first["created"] is True and me(client, first["access_token"])["phone"] == "13900002222"
    assert openid_of(db, first["member_id"], MINI_APPID) == apps.openid(u, MINI_APPID)
    again = mini(client, apps, u)
    assert again.status_code == 200 and again.json()["member_id"] == first["member_id"] and again.json()["created"] is False
    assert apps.calls.count(PHONE_API) == 1  # the phone is asked for once (WeChat bills each call)


def test_a_phone_known_from_the_otp_login_gets_the_openid_bound(client, db, apps):
    member_id = me(client, login(client, "13900003333")["Authorization"].split()[1])["id"]
    u = WxUser(phone="13900003333")
    r = mini(client, apps, u, phone=True)
    assert r.status_code == 200 and r.json()["member_id"] == member_id and r.json()["created"] is False
    assert openid_of(db, member_id, MINI_APPID) == apps.openid(u, MINI_APPID)


def test_the_unionid_ties_the_mini_program_and_the_official_account_to_one_member(client, db, apps):
    u = WxUser(phone="13900004444", unionid="oUnion_4444")
    member_id = mini(client, apps, u, phone=True).json()["member_id"]
    # snsapi_base gives no unionid: WeChat cannot tell who this is yet.
    assert problem_code(wechat(client, "official_account", apps.web_code(OA_APPID, u))) == "identity.phone_required"
    r = wechat(client, "official_account", apps.web_code(OA_APPID, u, scope="snsapi_userinfo"))
    assert r.status_code == 200 and r.json()["member_id"] == member_id
    assert openid_of(db, member_id, OA_APPID) == apps.openid(u, OA_APPID) != apps.openid(u, MINI_APPID)
    assert wechat(client, "official_account", apps.web_code(OA_APPID, u)).json()["member_id"] == member_id  # now by its openid


def test_a_member_logged_in_by_phone_binds_an_official_account_openid(client, db, apps):
    h = login(client, "13900005555")
    u = WxUser(phone="13900005555")
    r = wechat(client, "official_account", apps.web_code(OA_APPID, u), headers=h)
    assert r.status_code == 200
    assert openid_of(db, r.json()["member_id"], OA_APPID) == apps.openid(u, OA_APPID)


def test_an_openid_cannot_be_taken_by_another_member(client, db, apps):
    alice = WxUser(phone="13900006666")
    alice_id = mini(client, apps, alice, phone=True).json()["member_id"]
    bob = login(client, "13900007777")
    bob_id = me(client, bob["Authorization"].split()[1])["id"]
    # Bob, logged in, with Alice's WeChat (and his own phone code): still Alice, nothing bound to Bob.
    r = mini(client, apps, alice, headers=bob, phone_code=apps.phone_code(MINI_APPID, WxUser(phone="13900007777")))
    assert r.json()["member_id"] == alice_id
    assert openid_of(db, bob_id, MINI_APPID) is None
    # Another WeChat account proving Alice's phone cannot replace her openid in this app.
    before = counts(db)
    r = mini(client, apps, WxUser(phone="13900006666"), phone=True)
    assert r.status_code == 409 and problem_code(r) == "identity.wechat_member_bound"
    assert counts(db) == before and openid_of(db, alice_id, MINI_APPID) == apps.openid(alice, MINI_APPID)


def test_a_used_or_foreign_code_is_refused(client, db, apps):
    u = WxUser()
    code = apps.login_code(MINI_APPID, u)
    assert wechat(client, "mini_program", code, phone_code=apps.phone_code(MINI_APPID, u)).status_code == 200
    before = counts(db)
    r = wechat(client, "mini_program", code)
    assert r.status_code == 401 and problem_code(r) == "identity.wechat_code_invalid" and r.json()["wechat_errcode"] == 40163
    r = wechat(client, "mini_program", apps.login_code(OA_APPID, u))  # another app's code
    assert r.status_code == 401 and r.json()["wechat_errcode"] == 40029
    r = mini(client, apps, WxUser(phone="13900008888"), phone_code="not-a-phone-code")
    assert r.status_code == 401 and problem_code(r) == "identity.wechat_code_invalid"
    assert counts(db) == before


@pytest.mark.parametrize("trouble", ["busy", "down"])
@pytest.mark.parametrize("path", ["/sns/jscode2session", PHONE_API])
def test_wechat_busy_or_down_is_a_503_with_nothing_written(client, db, apps, trouble, path):
    before = counts(db)
    setattr(apps, trouble, 1)
    apps.trouble_path = path
    u = WxUser()
    r = mini(client, apps, u, phone=True)
    assert r.status_code == 503 and problem_code(r) == "identity.wechat_unavailable"
    assert counts(db) == before
    assert mini(client, apps, u, phone=True).status_code == 200  # a retry with new codes


def test_a_stale_access_token_is_fetched_again_once(client, apps):
    mini(client, apps, WxUser(phone="13900001001"), phone=True)
    mini(client, apps, WxUser(phone="13900001002"), phone=True)
    assert apps.calls.count("/cgi-bin/stable_token") == 1  # cached per appid
    apps.revoke_tokens()
    assert mini(client, apps, WxUser(phone="13900001003"), phone=True).status_code == 200
    assert apps.calls.count("/cgi-bin/stable_token") == 2


def test_the_merchants_own_app_is_used_when_it_has_one(client, db, apps, merchant, admin):
    own = "wx1234567890abcdef"
    apps.add_app(own, "c" * 32)
    assert set_app(client, admin, "mini_program", own, "c" * 32, merchant.id).status_code == 200
    u = WxUser(phone="13900009999")
    r = mini(client, apps, u, appid=own, phone=True, merchant_id=merchant.id)
    assert r.status_code == 200
    assert openid_of(db, r.json()["member_id"], own) == apps.openid(u, own)
    # A merchant without its own app: the platform's.
    r = mini(client, apps, WxUser(phone="13900009998"), phone=True, merchant_id=merchant.id + 1)
    assert r.status_code == 200


def test_a_new_member_through_wechat_is_bound_to_the_inviter(client, db, apps, merchant):
    a = login(client, "13700000001")
    code = client.get("/api/v1/me/invite", params={"merchant_id": merchant.id}, headers=a).json()["code"]
    r = mini(client, apps, WxUser(phone="13700000002"), phone=True, invite_code=code)
    events.drain(db)
    b = {"Authorization": f"Bearer {r.json()['access_token']}"}
    got = client.get("/api/v1/me/binding", params={"merchant_id": merchant.id}, headers=b).json()
    assert got["bound"] is True and got["inviter_id"] == me(client, a["Authorization"].split()[1])["id"]


def test_refusals_are_problems_with_stable_codes(client, db, wx, admin):
    before = counts(db)
    r = wechat(client, "mini_program", "x")
    assert r.status_code == 422 and problem_code(r) == "identity.wechat_not_configured"
    set_app(client, admin, "mini_program", MINI_APPID, MINI_SECRET)
    set_app(client, admin, "official_account", OA_APPID, OA_SECRET)
    assert problem_code(wechat(client, "alipay", "x")) == "validation.invalid"
    assert problem_code(client.post("/api/v1/auth/wechat", json={"app": "mini_program"})) == "validation.invalid"
    assert problem_code(wechat(client, "mini_program", "")) == "validation.invalid"
    assert problem_code(wechat(client, "official_account", "x", phone_code="y")) == "identity.phone_code_unsupported"
    r = mini(client, wx, WxUser(phone="5551234", country_code="1"), phone=True)
    assert r.status_code == 422 and problem_code(r) == "identity.phone_invalid"
    r = wechat(client, "official_account", wx.web_code(OA_APPID, WxUser(snapshot=True)))
    assert r.status_code == 403 and problem_code(r) == "identity.wechat_snapshot_user"
    wx.apps[MINI_APPID] = "d" * 32  # the AppSecret was reset on WeChat's side
    r = mini(client, wx, WxUser())
    assert r.status_code == 502 and problem_code(r) == "identity.wechat_refused" and r.json()["wechat_errcode"] == 40125
    assert MINI_SECRET not in r.text and "d" * 32 not in r.text
    assert counts(db)[:2] == (before[0], 0)  # only the admin, no binding
