"""The HTML pages through httpx: language, login, CSRF, errors, headers, static assets."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from linli.community import service as community
from linli.identity import service as identity
from linli.identity.models import Member, OtpCode, PhoneGuard
from tests.conftest import ADMIN, login
from tests.web.conftest import HTML, csrf, debug_code, errors, page_login


def _member(db, phone: str) -> Member:
    with db.transaction() as s:
        return s.scalars(select(Member).where(Member.phone == phone)).one()


def _community(client, merchant, name: str = "云顶华府") -> int:
    r = client.post(f"/api/v1/merchants/{merchant.id}/communities", json={"name": name, "city": "杭州", "lat": 30.27, "lng": 120.15}, headers=merchant.owner)
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_pages_are_chinese_by_default_and_english_by_choice(client):
    r = client.get("/", headers=HTML)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in r.text and "商家后台" in r.text
    assert 'href="/m/"' in r.text and 'href="/console/"' in r.text

    r = client.get("/m/login", headers={**HTML, "accept-language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in r.text and "Get code" in r.text

    # The header's switch link remembers the choice in a cookie, which beats Accept-Language.
    r = client.get("/lang/en?next=/console/login", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"
    assert client.cookies.get("lang") == "en"
    r = client.get("/console/login", headers={**HTML, "accept-language": "zh-CN"})
    assert "Merchant console login" in r.text and "商家后台登录" not in r.text
    assert 'href="/lang/zh-CN?next=' in r.text

    client.get("/lang/zh-CN", follow_redirects=False)
    assert "商家后台登录" in client.get("/console/login", headers=HTML).text


def test_language_switch_never_redirects_off_site(client):
    for bad in ["https://evil.example/", "//evil.example/", "/\\evil.example", "/\t/evil.example", "/\n/evil.example"]:
        r = client.get("/lang/en", params={"next": bad}, follow_redirects=False)
        assert r.headers["location"] == "/"


def test_language_switch_after_a_post_returns_to_the_form_page(client):
    client.get("/m/login", headers=HTML)
    r = client.post("/m/login/code", data={"phone": "123", "csrf_token": csrf(client)}, headers={**HTML, "referer": "http://testserver/m/login?next=/m/me"})
    assert 'href="/lang/en?next=/m/login%3Fnext%3D/m/me"' in r.text
    r = client.post("/m/login/code", data={"phone": "123", "csrf_token": csrf(client)}, headers={**HTML, "referer": "https://evil.example/m/x"})
    assert 'href="/lang/en?next=/"' in r.text


def test_page_login_sets_an_httponly_session_cookie(client, db):
    r = page_login(client, "13900001111")
    assert r.headers["location"] == "/m/me"
    cookies = r.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("linli_token="))
    assert "HttpOnly" in session and "samesite=lax" in session.lower()
    page = client.get("/m/me", headers=HTML)
    assert page.status_code == 200 and "139****1111" in page.text
    # The same session works for the JSON API of the same site.
    assert client.get("/api/v1/me").json()["phone"] == "13900001111"
    assert _member(db, "13900001111").nickname == "邻居1111"


def test_login_redirects_back_to_the_page_asked_for(client):
    r = client.get("/console/merchants/1", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login?next=/console/merchants/1"
    client.get(r.headers["location"], headers=HTML)
    token = csrf(client)
    r = client.post("/console/login/code", data={"phone": "13900001111", "csrf_token": token, "next": "/console/merchants/1"}, headers=HTML)
    assert 'name="next" value="/console/merchants/1"' in r.text
    r = client.post("/console/login", data={"phone": "13900001111", "code": debug_code(r.text), "csrf_token": token, "next": "https://evil.example/"}, follow_redirects=False)
    assert r.headers["location"] == "/console/"


def test_logout_clears_the_session(client):
    page_login(client, "13900001111")
    r = client.post("/logout", data={"csrf_token": csrf(client), "next": "/m/login"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/m/login"
    assert any(c.startswith('linli_token=""') or "Max-Age=0" in c for c in r.headers.get_list("set-cookie") if c.startswith("linli_token"))
    assert client.get("/m/me", headers=HTML, follow_redirects=False).status_code == 303


def test_post_without_csrf_token_is_refused_and_changes_nothing(client, db):
    page_login(client, "13900001111")
    form = {"nickname": "老王", "birthday": "", "community_id": ""}
    for extra in ({}, {"csrf_token": "forged-token"}):
        r = client.post("/m/me", data={**form, **extra}, headers=HTML)
        assert r.status_code == 403 and "表单已失效" in r.text
    assert _member(db, "13900001111").nickname == "邻居1111"

    # A login form without the token sends no code.
    client.cookies.clear()
    r = client.post("/m/login/code", data={"phone": "13900002222"}, headers=HTML)
    assert r.status_code == 403
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(OtpCode).where(OtpCode.phone == "13900002222")) == 0


def test_htmx_requests_may_send_the_token_as_a_header(client, db):
    page_login(client, "13900001111")
    headers = {**HTML, "HX-Request": "true", "X-CSRF-Token": csrf(client)}
    r = client.post("/m/me", data={"nickname": "老王"}, headers=headers)
    assert r.status_code == 200 and "<html" not in r.text and 'id="profile"' in r.text
    assert "已保存" in r.text
    assert _member(db, "13900001111").nickname == "老王"


def test_profile_saves_nickname_birthday_and_community(client, db, merchant):
    cid = _community(client, merchant)
    page_login(client, "13900001111")
    form = client.get("/m/me", headers=HTML).text
    assert re.search(rf'<optgroup label="杭州 · 优邻优选">\s*<option value="{cid}"', form)
    r = client.post("/m/me", data={"nickname": " 老王 ", "birthday": "1990-05-01", "community_id": str(cid), "csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"], headers=HTML).text
    assert "已保存" in page and 'value="1990-05-01"' in page and "杭州 · 云顶华府" in page
    member = _member(db, "13900001111")
    assert member.nickname == "老王" and member.birthday.isoformat() == "1990-05-01"
    with db.transaction() as s:
        assert community.home_community(s, member.id).id == cid


def test_domain_errors_show_in_the_page_and_leave_nothing_half_done(client, db, merchant):
    cid = _community(client, merchant)
    page_login(client, "13900001111")
    token = csrf(client)
    # A valid nickname with an unknown community: the nickname is not saved either.
    r = client.post("/m/me", data={"nickname": "老王", "community_id": "999999", "csrf_token": token}, headers=HTML)
    assert r.status_code == 404 and errors(r.text) == ["社区不存在。"]
    assert 'value="老王"' in r.text  # the form keeps what was typed
    assert _member(db, "13900001111").nickname == "邻居1111"
    client.cookies.set("lang", "en")
    r = client.post("/m/me", data={"nickname": "x" * 21, "community_id": str(cid), "csrf_token": token}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["A nickname has 1 to 20 characters."]
    client.cookies.set("lang", "zh-CN")
    r = client.post("/m/me", data={"nickname": "老王", "birthday": "not-a-date", "csrf_token": token}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["生日须为 1900 年之后、今天之前的日期。"]


def test_wrong_code_is_explained_and_still_counted(client, db):
    client.get("/m/login", headers=HTML)
    token = csrf(client)
    code = debug_code(client.post("/m/login/code", data={"phone": "13900001111", "csrf_token": token}, headers=HTML).text)
    wrong = "000000" if code != "000000" else "111111"
    r = client.post("/m/login", data={"phone": "13900001111", "code": wrong, "csrf_token": token}, headers=HTML)
    assert r.status_code == 401 and errors(r.text) == ["验证码错误或已过期，请重新获取。"]
    assert "linli_token" not in r.headers.get("set-cookie", "")
    with db.transaction() as s:  # the failure survives the error (it counts towards the lock)
        assert s.get(PhoneGuard, "13900001111").failures == 1
    r = client.post("/m/login/code", data={"phone": "12345", "csrf_token": token}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["请输入 11 位中国大陆手机号。"]


def test_admin_creates_a_merchant_from_the_console(client, db):
    page_login(client, ADMIN, "console")
    home = client.get("/console/", headers=HTML).text
    assert 'action="/console/merchants"' in home
    r = client.post("/console/merchants", data={"name": "优邻优选", "owner_phone": "13800000001", "csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(r.headers["location"], headers=HTML).text
    assert "优邻优选" in page and "138****0001" in page and "13800000001" not in page
    r = client.post("/console/merchants", data={"name": "优邻优选", "owner_phone": "13800000002", "csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["已有同名商家。"]


def test_console_shows_and_allows_only_what_the_role_may_do(client, db, merchant):
    staff = client.post(f"/api/v1/merchants/{merchant.id}/staff", json={"phone": "13700000001", "role": "operator"}, headers=merchant.owner)
    assert staff.status_code == 201
    page_login(client, "13700000001", "console")
    home = client.get("/console/", headers=HTML).text
    assert "优邻优选" in home and 'action="/console/merchants"' not in home  # not an admin
    page = client.get(f"/console/merchants/{merchant.id}", headers=HTML).text
    assert f'action="/console/merchants/{merchant.id}/staff"' not in page  # operators do not manage staff
    assert f'action="/console/merchants/{merchant.id}/communities"' in page  # but do manage communities
    r = client.post(f"/console/merchants/{merchant.id}/staff", data={"phone": "13700000002", "role": "owner", "csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 403 and errors(r.text) == ["你的角色无权进行此操作。"]
    with db.transaction() as s:
        assert len(identity.list_staff(s, identity.Principal(0, ADMIN, True), merchant.id)) == 2
    # Someone else's merchant does not exist for this person.
    assert client.get("/console/merchants/999", headers=HTML).status_code == 404


def test_owner_adds_staff_with_a_role(client, db, merchant):
    page_login(client, merchant.owner_phone, "console")
    r = client.post(f"/console/merchants/{merchant.id}/staff", data={"phone": "13700000002", "role": "finance", "csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    page = client.get(f"/console/merchants/{merchant.id}", headers=HTML).text
    assert "137****0002" in page and "财务" in page


def test_pickup_point_and_leader_forms_rerender_the_card_with_htmx(client, db, merchant):
    cid = _community(client, merchant)
    page_login(client, merchant.owner_phone, "console")
    base = f"/console/merchants/{merchant.id}/communities/{cid}"
    hx = {**HTML, "HX-Request": "true", "X-CSRF-Token": csrf(client)}
    r = client.post(f"{base}/pickup-points", data={"name": "北门自提点", "address": "云顶华府北门", "lat": "30.2701", "lng": "120.1502"}, headers=hx)
    assert r.status_code == 200 and r.text.lstrip().startswith(f'<article class="card community" id="community-{cid}"')
    assert "北门自提点" in r.text and "自提点已添加。" in r.text
    r = client.post(f"{base}/pickup-points", data={"name": "南门", "address": "南门", "lat": "north", "lng": "120"}, headers=hx)
    assert r.status_code == 422 and errors(r.text) == ["纬度须在 ±90 之间，经度须在 ±180 之间。"]
    r = client.post(f"{base}/leader", data={"phone": "13600000001"}, headers=hx)
    assert r.status_code == 200 and "136****0001" in r.text
    with db.transaction() as s:
        c = community.public_community(s, cid)
        assert [p.name for p in community.list_pickup_points(s, cid)] == ["北门自提点"]
        assert identity.get_member(s, c.leader_member_id).phone == "13600000001"
    # Without HTMX the same form answers with a redirect to the merchant page.
    r = client.post(f"{base}/leader", data={"phone": "", "csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].endswith(f"#community-{cid}")
    assert "暂无团长" in client.get(f"/console/merchants/{merchant.id}", headers=HTML).text


def test_create_community_error_keeps_the_form(client, merchant):
    _community(client, merchant)
    page_login(client, merchant.owner_phone, "console")
    r = client.post(f"/console/merchants/{merchant.id}/communities", data={"name": "云顶华府", "city": "杭州", "lat": "30.27", "lng": "120.15", "csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["该城市已有同名社区。"]
    assert re.search(r"<details class=\"card create-community\" open>", r.text)


def test_security_headers_and_no_inline_code(client, merchant):
    _community(client, merchant)
    page_login(client, merchant.owner_phone, "console")
    for path in ["/", "/m/login", "/console/", f"/console/merchants/{merchant.id}"]:
        r = client.get(path, headers=HTML)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
        assert " style=" not in r.text and "<style" not in r.text, path
        assert all('src="' in tag for tag in re.findall(r"<script[^>]*>", r.text)), path
        assert "https://" not in r.text.replace("https://linli.dev", ""), path  # no CDN


def test_static_assets_are_served_with_their_licences(client):
    r = client.get("/static/vendor/htmx/htmx.min.js")
    assert r.status_code == 200 and "javascript" in r.headers["content-type"] and "htmx" in r.text[:2000]
    assert client.get("/static/vendor/htmx/LICENSE").status_code == 200
    for name in ["swagger-ui-bundle.js", "swagger-ui.css", "LICENSE"]:
        assert client.get(f"/static/vendor/swagger-ui/{name}").status_code == 200, name
    assert client.get("/static/css/linli.css").status_code == 200
    assert client.get("/static/favicon.svg").headers["content-type"].startswith("image/svg")
    docs = client.get("/docs")
    assert docs.status_code == 200 and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in docs.text


def test_page_errors_are_html_while_the_api_keeps_problem_json(client):
    r = client.get("/console/nowhere", headers=HTML)
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html") and "页面不存在" in r.text
    r = client.get("/api/v1/me", headers=HTML)
    assert r.status_code == 401 and r.headers["content-type"].startswith("application/problem+json")
    assert client.get("/api/v1/nowhere").headers["content-type"].startswith("application/problem+json")


def test_a_stale_session_cookie_counts_as_logged_out(client):
    client.cookies.set("linli_token", "not.a.jwt")
    r = client.get("/m/me", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/m/login")
    r = client.get("/m/login", headers=HTML)
    assert r.status_code == 200 and any(c.startswith("linli_token=") for c in r.headers.get_list("set-cookie"))


def test_api_login_helper_still_works_alongside_pages(client):
    assert login(client, "13900003333")
