"""The distribution pages through httpx: the invite landing, the sharer centre (code,
poster, status, earnings, withdrawals, team) and the console's rules editor, sharer desk,
withdrawal desk and settlement page."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linli import events, jobs
from linli.catalog import service as catalog
from linli.commission.models import RuleSetVersion, Withdrawal
from linli.referral import service as referral
from linli.referral.models import Sharer
from tests.conftest import login
from tests.orders.helpers import buy, make_shop
from tests.web.conftest import HTML, csrf, errors, page_login

A, B, C = "13700000001", "13700000002", "13700000003"
LEADER = "13900000001"  # make_shop's community leader


def _client(app) -> TestClient:
    """Another browser: its own cookie jar."""
    return TestClient(app, raise_server_exceptions=False)


def _me(client, headers) -> int:
    return client.get("/api/v1/me", headers=headers).json()["id"]


def _code(client, headers, mid: int) -> str:
    return client.get("/api/v1/me/invite", params={"merchant_id": mid}, headers=headers).json()["code"]


def _appoint(client, merchant, phone: str) -> None:
    assert client.post(f"/api/v1/merchants/{merchant.id}/sharers", json={"phone": phone}, headers=merchant.owner).status_code == 201


def _count(db, model, *where) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def _version(db, mid: int) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.max(RuleSetVersion.version)).where(RuleSetVersion.merchant_id == mid)) or 0


def _put_rules(client, merchant, **body) -> None:
    r = client.put(f"/api/v1/merchants/{merchant.id}/commission-rules", json=body, headers=merchant.owner)
    assert r.status_code == 200, r.text


def _testid(html: str, name: str) -> str:
    m = re.search(rf'data-testid="{name}"[^>]*>([^<]*)<', html)
    assert m, f"{name} not in page"
    return m.group(1).strip()


# --- the invite landing ---------------------------------------------------------------------------------


def test_invite_landing_remembers_the_code_and_a_new_member_logging_in_is_bound(client, db, merchant):
    a = login(client, A)
    code = _code(client, a, merchant.id)
    visitor = _client(client.app)
    r = visitor.get(f"/i/{code}", headers=HTML)
    assert r.status_code == 200
    assert _testid(r.text, "inviter") == "邻居0001" and _testid(r.text, "invite-shop") == "优邻优选"
    assert f'href="/m/login?next=/m/shop/{merchant.id}"' in r.text.replace("%2F", "/")
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("linli_invite="))
    assert f"linli_invite={code}" in cookie and "HttpOnly" in cookie and "Max-Age=604800" in cookie and "samesite=lax" in cookie.lower()

    # The visitor logs in through the member login page: the code goes with the login.
    page_login(visitor, B)
    assert visitor.cookies.get("linli_invite") is None  # used once, then dropped
    events.drain(db)  # member.joined reaches the referral domain
    a_id, b_id = _me(client, a), visitor.get("/api/v1/me").json()["id"]
    with db.transaction() as s:
        assert referral.inviter_of(s, merchant.id, b_id) == a_id


def test_invite_landing_for_an_unknown_code_is_a_friendly_page(client, db, merchant):
    for raw in ("XXXXXXXX", "not-a-code", "x" * 300):
        r = client.get(f"/i/{raw}", headers=HTML)
        assert r.status_code == 404 and 'data-testid="invite-invalid"' in r.text
        assert "这个邀请链接无效或已过期" in r.text and "linli_invite" not in r.headers.get("set-cookie", "")


def test_invite_landing_opens_the_posters_product(client, db, merchant):
    shop = make_shop(client, merchant)
    a = login(client, A)
    code = _code(client, a, merchant.id)
    with db.transaction() as s:
        pid = catalog.sku_views(s, [shop.skus["berry"]])[shop.skus["berry"]].product_id
    r = client.get(f"/i/{code}?p={pid}", headers=HTML)
    assert r.status_code == 200 and f'href="/m/products/{pid}"' in r.text and "黄金奶油草莓" in r.text and "¥68.00" in r.text
    # A product of another shop (or none) falls back to the shop.
    assert f'href="/m/shop/{merchant.id}"' in client.get(f"/i/{code}?p=999999", headers=HTML).text


def test_a_logged_in_visitor_is_bound_at_once_and_refusals_are_gentle(client, db, merchant):
    a, c = login(client, A), login(client, C)
    code_a, code_c = _code(client, a, merchant.id), _code(client, c, merchant.id)
    page_login(client, B)
    r = client.get(f"/i/{code_a}", headers=HTML)
    assert r.status_code == 200 and _testid(r.text, "invite-notice") == "你已通过 邻居0001 的邀请加入 优邻优选。"
    assert "linli_invite" not in r.headers.get("set-cookie", "")
    a_id, b_id = _me(client, a), client.get("/api/v1/me").json()["id"]
    with db.transaction() as s:
        assert referral.inviter_of(s, merchant.id, b_id) == a_id
    # Again: nothing changes.
    assert "你已通过 邻居0001 的邀请加入过 优邻优选。" in client.get(f"/i/{code_a}", headers=HTML).text
    # first_touch: a second inviter is refused, gently (the page, not an error page).
    r = client.get(f"/i/{code_c}", headers=HTML)
    assert r.status_code == 200 and _testid(r.text, "invite-notice") == "你已通过其他邻居的邀请加入了本店。"
    with db.transaction() as s:
        assert referral.inviter_of(s, merchant.id, b_id) == a_id
    # A opening B's link would make a cycle; A opening their own link is just a hint.
    code_b = _code(client, {}, merchant.id)
    page_login(client, A)
    assert "不能接受这个邀请" in client.get(f"/i/{code_b}", headers=HTML).text
    assert "这是你自己的邀请" in client.get(f"/i/{code_a}", headers=HTML).text


# --- the sharer centre --------------------------------------------------------------------------------------


def test_sharer_centre_shows_my_code_poster_earnings_and_team_and_nobody_elses(client, db, merchant):
    shop = make_shop(client, merchant)
    a = login(client, A)
    _appoint(client, merchant, A)
    b = login(client, B, invite_code=_code(client, a, merchant.id))
    events.drain(db)
    o = buy(client, db, b, shop, [(shop.skus["berry"], 2)])  # B pays 136.00
    assert o["total_paid"] == 13600

    page_login(client, A)
    r = client.get(f"/m/share/{merchant.id}", headers=HTML)
    assert r.status_code == 200
    code = _testid(r.text, "invite-code")
    assert re.search(rf'value="http://testserver/i/{code}" readonly data-testid="invite-link"', r.text)
    assert 'data-copy="#invite-link"' in r.text and "/static/js/copy.js" in r.text and "<script>" not in r.text
    assert _testid(r.text, "sharer-status") == "分享官"
    assert _testid(r.text, "frozen") == "¥27.20"  # 20% of 136.00
    assert _testid(r.text, "available") == "¥0.00"
    record = re.search(r'data-testid="record">(.*?)</li>', r.text, re.S).group(1)
    assert f"订单 #{o['id']}" in record and "一级" in record and "¥27.20" in record and "冻结中" in record
    team = re.findall(r'data-testid="team-member">(.*?)</li>', r.text, re.S)
    assert len(team) == 1 and "邻居0002" in team[0] and "尚未成为分享官" in team[0]
    assert f'src="/api/v1/me/poster?merchant_id={merchant.id}&amp;preview=1"' in r.text  # the picture is a preview; saving it is a share
    # A product's poster: the picker's chips.
    pid = int(re.search(rf'href="/m/share/{merchant.id}\?product=(\d+)#poster"', r.text).group(1))
    r = client.get(f"/m/share/{merchant.id}?product={pid}", headers=HTML)
    assert f'src="/api/v1/me/poster?merchant_id={merchant.id}&amp;product_id={pid}&amp;preview=1"' in r.text
    png = client.get(f"/api/v1/me/poster?merchant_id={merchant.id}&product_id={pid}")  # as the <img> asks, with the cookie
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"

    # B sees only B's own (empty) money, whatever the address says.
    page_login(client, B)
    for url in (f"/m/share/{merchant.id}", f"/m/share/{merchant.id}?member_id={_me(client, a)}"):
        r = client.get(url, headers=HTML)
        assert _testid(r.text, "frozen") == "¥0.00" and 'data-testid="record"' not in r.text and "27.20" not in r.text
        assert _testid(r.text, "invite-code") != code
    assert client.get("/m/share/99999", headers=HTML).status_code == 404


def test_sharer_centre_needs_a_login_and_m_share_finds_my_shop(client, db, merchant):
    r = client.get(f"/m/share/{merchant.id}", headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/m/login?next=/m/share/{merchant.id}"
    shop = make_shop(client, merchant)
    page_login(client, B)
    assert client.get("/m/share", headers=HTML, follow_redirects=False).headers["location"] == "/m/shop"  # no community yet
    assert client.patch("/api/v1/me", json={"community_id": shop.community_id}).status_code == 200
    assert client.get("/m/share", headers=HTML, follow_redirects=False).headers["location"] == f"/m/share/{merchant.id}"


def test_apply_says_why_not_yet_then_makes_a_sharer(client, db, merchant):
    page_login(client, B)
    url = f"/m/share/{merchant.id}"
    page = client.get(url, headers=HTML).text
    assert "首笔订单收货后即可成为分享官" in _testid(page, "sharer-mode")
    r = client.post(f"{url}/apply", data={"csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["你在本店的首笔订单收货后即可成为分享官。"]
    _put_rules(client, merchant, sharer_mode="spend_threshold", spend_threshold=10000)
    r = client.post(f"{url}/apply", data={"csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["你在本店已收货订单的金额还未达到 ¥100.00。"]
    _put_rules(client, merchant, sharer_mode="approval")
    r = client.post(f"{url}/apply", data={"csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{url}?applied=1#status"
    assert _testid(client.get(url, headers=HTML).text, "sharer-status") == "申请审核中"
    _put_rules(client, merchant, sharer_mode="invited")
    page_login(client, C)
    r = client.post(f"{url}/apply", data={"csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 403 and errors(r.text) == ["本店的分享官由商家直接邀请，请联系商家。"]


def _leader_with_available(client, db, merchant, clock):
    """The shop's leader earns 15% of a received, settled order: 13,600 → 2,040 fen."""
    shop = make_shop(client, merchant)
    o = buy(client, db, login(client, "13700000004"), shop, [(shop.skus["berry"], 2)])
    client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    events.drain(db)
    jobs.run_due(db, clock.advance(days=7, minutes=1))
    return shop


def test_withdrawing_from_the_sharer_centre(client, db, merchant, clock):
    _leader_with_available(client, db, merchant, clock)
    page_login(client, LEADER)
    url = f"/m/share/{merchant.id}"
    page = client.get(url, headers=HTML).text
    assert _testid(page, "available") == "¥20.40"
    rules = re.search(r'data-testid="withdraw-rules">(.*?)</ul>', page, re.S).group(1)
    assert "最低 ¥1.00" in rules and "手续费 0%" in rules and "每天最多 3 次" in rules and "¥500.00" in rules

    def send(amount: str, idem: str = ""):
        return client.post(f"{url}/withdrawals", data={"csrf_token": csrf(client), "amount": amount, "idem": idem}, headers=HTML, follow_redirects=False)

    r = send("12.345")
    assert r.status_code == 422 and errors(r.text) == ["请按元填写金额，最多两位小数，例如 12.50。"]
    assert 'value="12.345"' in r.text  # what was typed stays in the form
    r = send("0.5")
    assert r.status_code == 422 and errors(r.text) == ["最低提现金额为 ¥1.00。"]
    r = send("30")
    assert r.status_code == 409 and errors(r.text) == ["你现在最多可提现 ¥20.40。"]
    assert _count(db, Withdrawal) == 0
    r = send("12.50", idem="k1")
    assert r.status_code == 303 and r.headers["location"] == f"{url}?withdrawn=1#withdraw"
    assert send("12.50", idem="k1").status_code == 303  # a double tap: still one withdrawal
    with db.transaction() as s:
        assert [(w.amount, w.status) for w in s.scalars(select(Withdrawal))] == [(1250, "approved")]
    events.drain(db)  # the payout
    page = client.get(f"{url}?withdrawn=1", headers=HTML).text
    assert "已提交提现申请。" in page and _testid(page, "available") == "¥7.90" and _testid(page, "withdrawn") == "¥12.50"
    assert "已到账" in re.search(r'data-testid="withdrawal">(.*?)</li>', page, re.S).group(1)


# --- console: rules editor -------------------------------------------------------------------------------------


def _rules_form(client, **changes) -> dict:
    form = {
        "csrf_token": csrf(client), "levels": "2", "rate_1": "2000", "rate_2": "500", "leader_rate_bp": "1500", "cap_bp": "5000",
        "bind_mode": "first_touch", "protection_days": "30", "sharer_mode": "everyone_after_purchase", "spend_threshold": "",
        "settlement": "realtime", "auto_confirm_days": "7", "after_sales_days": "7", "withdraw_min": "1.00", "withdraw_fee_bp": "0", "withdraw_auto_max": "500.00",
    }
    form.update(changes)
    return form


def test_rules_editor_names_the_bounds_the_services_refuse(client, db, merchant):
    """Bounds the form does not check itself come back from the services, with the field and
    its bounds from the owner's settings spec (money in yuan)."""
    page_login(client, merchant.owner_phone, "console")
    url = f"/console/merchants/{merchant.id}/commission-rules"
    r = client.post(url, data=_rules_form(client, withdraw_fee_bp="2001"), headers=HTML)
    assert r.status_code == 422 and _testid(r.text, "field-error") == "提现手续费（bp）：请输入 0 到 2000 之间的整数。"
    r = client.post(url, data=_rules_form(client, sharer_mode="spend_threshold", spend_threshold="1000001"), headers=HTML)
    assert r.status_code == 422 and _testid(r.text, "field-error") == "消费门槛（元）：请输入 0.00 到 1000000.00 之间的数。"
    r = client.post(url, data=_rules_form(client, cap_bp="10001"), headers=HTML)
    assert r.status_code == 422 and _testid(r.text, "field-error") == "单行上限（bp）：请输入 0 到 10000 之间的整数。"
    assert _version(db, merchant.id) == 0


def test_rules_editor_refuses_three_levels_and_saves_a_valid_set(client, db, merchant):
    page_login(client, merchant.owner_phone, "console")
    url = f"/console/merchants/{merchant.id}/commission-rules"
    page = client.get(url, headers=HTML)
    assert page.status_code == 200 and 'name="rate_1" value="2000"' in page.text and "= 20%" in page.text
    assert '<option value="3" disabled>' in page.text  # the platform allows 2

    r = client.post(url, data=_rules_form(client, levels="3", rate_3="100"), headers=HTML)
    assert r.status_code == 422
    assert _testid(r.text, "field-error") == "本平台允许 1 到 2 级佣金。"
    assert re.search(r'<select name="levels" aria-invalid="true"', r.text)
    assert 'name="rate_1" value="2000"' in r.text  # the form keeps what was typed and chosen
    assert '<option value="everyone_after_purchase" selected>' in r.text and '<option value="first_touch" selected>' in r.text
    assert _version(db, merchant.id) == 0

    r = client.post(url, data=_rules_form(client, rate_1="3000", rate_2="1000"), headers=HTML)
    assert r.status_code == 422 and _testid(r.text, "field-error") == "各级比例加团长比例超过了上限 5000 bp（50%）。"
    r = client.post(url, data=_rules_form(client, protection_days="三十"), headers=HTML)
    assert r.status_code == 422 and _testid(r.text, "field-error") == "保护期（天）：请输入整数。"
    r = client.post(url, data=_rules_form(client, withdraw_min="1.005"), headers=HTML)
    assert r.status_code == 422 and _testid(r.text, "field-error") == "最低提现金额（元）：请按元填写金额，最多两位小数，例如 12.50。"
    r = client.post(url, data=_rules_form(client, auto_confirm_days="31"), headers=HTML)
    assert r.status_code == 422 and _testid(r.text, "field-error") == "自动确认收货天数：请输入 1 到 30 之间的整数。"
    r = client.post(url, data=_rules_form(client, sharer_mode="spend_threshold"), headers=HTML)
    assert r.status_code == 422 and _testid(r.text, "field-error") == "请为这种分享官模式设置消费门槛。"
    r = client.post(url, data=_rules_form(client, bonus_min_0="10000", bonus_bp_0="3000"), headers=HTML)
    assert r.status_code == 422 and "bonus" not in _testid(r.text, "field-error")
    assert _version(db, merchant.id) == 0

    form = _rules_form(
        client, rate_1="1800", rate_2="400", sharer_mode="approval", settlement="t_plus_1", withdraw_min="2", withdraw_fee_bp="100",
        withdraw_auto_max="300", auto_confirm_days="5", bonus_min_0="10000", bonus_bp_0="200", self_purchase="1",
    )
    r = client.post(url, data=form, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{url}?saved=1"
    assert _version(db, merchant.id) == 1
    rules = client.get(f"/api/v1/merchants/{merchant.id}/commission-rules", headers=merchant.owner).json()
    assert (rules["rates_bp"], rules["sharer_mode"], rules["settlement"], rules["self_purchase"]) == ([1800, 400], "approval", "t_plus_1", True)
    assert (rules["withdraw_min"], rules["withdraw_fee_bp"], rules["withdraw_auto_max"], rules["bonus_tiers"]) == (200, 100, 30000, [[1000000, 200]])
    page = client.get(f"{url}?saved=1", headers=HTML).text
    assert "已保存为第 1 版" in page and 'name="withdraw_auto_max" value="300.00"' in page and 'name="auto_confirm_days" value="5"' in page
    assert client.post(url, data=form, headers=HTML, follow_redirects=False).status_code == 303
    assert _version(db, merchant.id) == 2
    # English on request.
    client.cookies.set("lang", "en")
    r = client.post(url, data=_rules_form(client, levels="3", rate_3="100"), headers=HTML)
    assert _testid(r.text, "field-error") == "This platform allows 1 to 2 commission levels."


def test_a_plain_member_cannot_open_the_console_sections(client, db, merchant):
    page_login(client, B, "console")
    mid = merchant.id
    for path in ("commission-rules", "sharers", "withdrawals", "settlement"):
        r = client.get(f"/console/merchants/{mid}/{path}", headers=HTML)
        assert r.status_code == 404, path
    token = csrf(client)
    r = client.post(f"/console/merchants/{mid}/commission-rules", data=_rules_form(client, rate_1="100"), headers=HTML)
    assert r.status_code == 404 and _version(db, mid) == 0
    r = client.post(f"/console/merchants/{mid}/sharers", data={"csrf_token": token, "phone": B}, headers=HTML)
    assert r.status_code == 404 and _count(db, Sharer) == 0
    # Staff whose role lacks the permission: the desk says no.
    assert client.post(f"/api/v1/merchants/{mid}/staff", json={"phone": C, "role": "operator"}, headers=merchant.owner).status_code == 201
    page_login(client, C, "console")
    assert client.get(f"/console/merchants/{mid}/withdrawals", headers=HTML).status_code == 403
    assert client.get(f"/console/merchants/{mid}/settlement", headers=HTML).status_code == 403
    r = client.post(f"/console/merchants/{mid}/commission-rules", data=_rules_form(client, rate_1="100"), headers=HTML)
    assert r.status_code == 403 and _version(db, mid) == 0
    page = client.get(f"/console/merchants/{mid}/commission-rules", headers=HTML).text
    assert "只有店主可以修改这些规则。" in page and 'name="rate_1" value="2000" inputmode="numeric" data-bp disabled' in page


def test_forms_without_the_csrf_token_are_refused_and_change_nothing(client, db, merchant, clock):
    _leader_with_available(client, db, merchant, clock)
    sharers = _count(db, Sharer)  # the buyer became a sharer with the received order
    page_login(client, merchant.owner_phone, "console")
    r = client.post(f"/console/merchants/{merchant.id}/commission-rules", data={**_rules_form(client, rate_1="1000"), "csrf_token": ""}, headers=HTML)
    assert r.status_code == 403 and _version(db, merchant.id) == 0
    r = client.post(f"/console/merchants/{merchant.id}/sharers", data={"phone": B}, headers=HTML)
    assert r.status_code == 403 and _count(db, Sharer) == sharers
    page_login(client, LEADER)
    r = client.post(f"/m/share/{merchant.id}/withdrawals", data={"amount": "5"}, headers=HTML)
    assert r.status_code == 403 and "表单已失效" in r.text and _count(db, Withdrawal) == 0
    page_login(client, B)
    r = client.post(f"/m/share/{merchant.id}/apply", data={"csrf_token": "forged"}, headers=HTML)
    assert r.status_code == 403 and _count(db, Sharer) == sharers


# --- console: sharers, withdrawals, settlement ------------------------------------------------------------------------


def test_sharer_desk_reviews_suspends_reinstates_and_appoints(client, db, merchant):
    _put_rules(client, merchant, sharer_mode="approval")
    page_login(client, B)
    client.post(f"/m/share/{merchant.id}/apply", data={"csrf_token": csrf(client)}, headers=HTML)
    b_id = client.get("/api/v1/me").json()["id"]
    page_login(client, merchant.owner_phone, "console")
    home = client.get(f"/console/merchants/{merchant.id}", headers=HTML).text
    assert 'id="distribution"' in home and _testid(home, "applications-waiting") == "1"
    url = f"/console/merchants/{merchant.id}/sharers"
    page = client.get(url, headers=HTML).text
    assert "邻居0002" in re.search(r'data-testid="application">(.*?)</article>', page, re.S).group(1)
    token = csrf(client)
    for action, status in (("approve", "active"), ("suspend", "suspended"), ("reinstate", "active")):
        r = client.post(f"{url}/{b_id}/{action}", data={"csrf_token": token}, headers=HTML, follow_redirects=False)
        assert r.status_code == 303, r.text
        with db.transaction() as s:
            assert referral.sharer_status(s, merchant.id, b_id) == status
    r = client.post(f"{url}/{b_id}/approve", data={"csrf_token": token}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["该分享官当前的状态不允许此操作，请刷新页面。"]
    r = client.post(url, data={"csrf_token": token, "phone": "12345"}, headers=HTML)
    assert r.status_code == 422 and errors(r.text) == ["请输入 11 位中国大陆手机号。"]
    r = client.post(url, data={"csrf_token": token, "phone": C}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    rows = re.findall(r'data-testid="sharer-row">(.*?)</tr>', client.get(url, headers=HTML).text, re.S)
    assert len(rows) == 2 and any("137****0003" in row and "正常" in row and "商家任命" in row for row in rows)


def test_a_sharer_chooses_alipay_for_withdrawals_on_the_centre_and_sees_it_masked(client, db, merchant, clock):
    from linli.commission.models import PayoutDestination

    _leader_with_available(client, db, merchant, clock)
    page_login(client, LEADER)
    url = f"/m/share/{merchant.id}"
    assert 'data-testid="payout-destination"' in client.get(url, headers=HTML).text

    def choose(**form):
        return client.post(f"{url}/payout-destination", data={"csrf_token": csrf(client), **form}, headers=HTML, follow_redirects=False)

    r = choose(prefer="alipay", alipay_account="", alipay_name="")
    assert r.status_code == 422 and errors(r.text) and _count(db, PayoutDestination) == 0
    r = choose(prefer="alipay", alipay_account="not an account", alipay_name="张小三")
    assert r.status_code == 422 and 'value="张小三"' in r.text and _count(db, PayoutDestination) == 0
    r = choose(prefer="alipay", alipay_account="13912345678", alipay_name="张小三")
    assert r.status_code == 303 and r.headers["location"] == f"{url}?destination=1#withdraw"
    page = client.get(f"{url}?destination=1", headers=HTML).text
    assert "已保存：此后的提现将转到这里。" in page
    shown = _testid(page, "alipay-mask")
    assert "139****5678" in shown and "13912345678" not in page and "张小三" not in page
    assert re.search(r'value="alipay" checked', page)
    r = choose(prefer="wechat", alipay_account="", alipay_name="")  # back to WeChat; the Alipay account is kept
    assert r.status_code == 303
    with db.transaction() as s:
        d = s.scalars(select(PayoutDestination)).one()
        assert d.prefer == "wechat" and d.alipay_mask == "139****5678" and "13912345678" not in d.alipay_sealed


def test_withdrawal_desk_and_settlement_page(client, db, merchant, clock):
    _put_rules(client, merchant, withdraw_auto_max=1000, settlement="t_plus_1")
    _leader_with_available(client, db, merchant, clock)
    jobs.run_due(db, clock.advance(days=1))  # the T+1 batch
    page_login(client, merchant.owner_phone, "console")
    page = client.get(f"/console/merchants/{merchant.id}/settlement", headers=HTML).text
    assert _testid(page, "ledger-status") == "账目平衡"
    rows = re.findall(r'data-testid="batch-row">(.*?)</tr>', page, re.S)
    assert len(rows) == 1 and "¥20.40" in rows[0]

    leader_page = _client(client.app)
    page_login(leader_page, LEADER)
    for amount in ("15", "5.40"):
        r = leader_page.post(f"/m/share/{merchant.id}/withdrawals", data={"csrf_token": csrf(leader_page), "amount": amount, "idem": amount}, headers=HTML, follow_redirects=False)
        assert r.status_code == 303
    with db.transaction() as s:
        big, small = s.scalars(select(Withdrawal).order_by(Withdrawal.id)).all()
        assert (big.status, small.status) == ("pending_review", "approved")

    home = client.get(f"/console/merchants/{merchant.id}", headers=HTML).text
    assert _testid(home, "withdrawals-waiting") == "1"
    url = f"/console/merchants/{merchant.id}/withdrawals"
    page = client.get(url, headers=HTML).text
    assert _testid(page, "pending-count") == "1" and "¥15.00" in re.search(rf'data-testid="pending-{big.id}">(.*?)</article>', page, re.S).group(1)
    r = client.post(f"{url}/{big.id}/reject", data={"csrf_token": csrf(client), "reason": "请先完善收款信息"}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"{url}/{big.id}/approve", data={"csrf_token": csrf(client)}, headers=HTML)
    assert r.status_code == 409 and errors(r.text) == ["这笔提现已经处理过了。"]
    page = client.get(url, headers=HTML).text
    assert _testid(page, "pending-count") == "0" and "请先完善收款信息" in page and "已驳回，款项已退回" in page
    leader_view = leader_page.get(f"/m/share/{merchant.id}", headers=HTML).text
    assert _testid(leader_view, "available") == "¥15.00"  # the rejected 15 came back; 5.40 is on its way

    events.drain(db)  # the 5.40 is paid out
    assert _testid(client.get(f"/console/merchants/{merchant.id}/settlement", headers=HTML).text, "ledger-status") == "账目平衡"


def test_rules_editor_keeps_what_the_api_set_that_it_does_not_edit(client, db, merchant):
    """Rate overrides and more bonus tiers than the empty rows survive a save from the page."""
    tiers = [[100000 * (i + 1), 10 * (i + 1)] for i in range(5)]
    _put_rules(client, merchant, overrides={"category": {"水果": [1000, 200]}}, bonus_tiers=tiers)
    page_login(client, merchant.owner_phone, "console")
    url = f"/console/merchants/{merchant.id}/commission-rules"
    page = client.get(url, headers=HTML).text
    assert 'name="bonus_min_4" value="5000.00"' in page and 'name="bonus_min_5" value=""' in page and "category:水果 — 10% / 2%" in page
    form = _rules_form(client, rate_1="1900", **{f"bonus_{k}_{i}": v for i, (lo, bp) in enumerate(tiers) for k, v in (("min", f"{lo // 100}"), ("bp", str(bp)))})
    r = client.post(url, data={**form, "bonus_min_2": "三千"}, headers=HTML)
    assert r.status_code == 422 and _testid(r.text, "field-error") == "月 GMV 起点（元） 3：请按元填写金额，最多两位小数，例如 12.50。"
    assert client.post(url, data=form, headers=HTML, follow_redirects=False).status_code == 303
    rules = client.get(f"/api/v1/merchants/{merchant.id}/commission-rules", headers=merchant.owner).json()
    assert rules["rates_bp"] == [1900, 500] and rules["bonus_tiers"] == tiers and rules["overrides"]["category"] == {"水果": [1000, 200]}
