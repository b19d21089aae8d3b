"""Bad badge and starter-kit input on SQLite and PostgreSQL: each answer is a 4xx problem+json
with its stable code, never a 500, and nothing changes; the console's form says what is wrong
on its field and keeps what was typed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linli.incentives.models import BadgeSettings
from tests.conftest import login, problem_code
from tests.orders.helpers import make_shop
from tests.web.conftest import HTML, csrf, page_login

SETTINGS_CASES = [
    ("a zero recommender count", {"recommender_referrals": 0}, 422, "validation.invalid"),
    ("a recommender count over 100", {"recommender_referrals": 101}, 422, "validation.invalid"),
    ("a text count", {"recommender_referrals": "five"}, 422, "validation.invalid"),
    ("a null threshold", {"gmv_bronze": None}, 422, "badge.settings_invalid"),
    ("silver not above bronze", {"gmv_silver": 100_000}, 422, "badge.tiers_not_increasing"),
    ("bronze above silver", {"gmv_bronze": 600_000}, 422, "badge.tiers_not_increasing"),
    ("a script link", {"group_name": "推荐官群", "group_link": "javascript:alert(1)"}, 422, "badge.group_link_invalid"),
    ("a link without a group name", {"group_link": "https://work.weixin.qq.com/gm/x"}, 422, "badge.group_name_invalid"),
    ("a group name too long", {"group_name": "群" * 41}, 422, "validation.invalid"),
    ("a guide too long", {"starter_guide": "步" * 2001}, 422, "validation.invalid"),
    ("another shop's coupon", {"starter_template_id": 999_999}, 422, "starter.template_unknown"),
    ("a NUL in the text", {"group_name": "推荐\x00官"}, 422, "validation.invalid"),
    ("an unknown field", {"points_per_badge": 5}, 422, "validation.unknown_field"),
]


@pytest.mark.parametrize(("label", "body", "status", "code"), SETTINGS_CASES, ids=[c[0] for c in SETTINGS_CASES])
def test_bad_badge_settings_are_refused_with_nothing_changed(client, db, merchant, label, body, status, code):
    shop = make_shop(client, merchant)
    url = f"/api/v1/merchants/{shop.merchant_id}/badge-settings"
    before = client.get(url, headers=shop.owner).json()
    r = client.put(url, json=body, headers=shop.owner)
    assert r.status_code == status, r.text
    assert problem_code(r) == code and r.headers["content-type"].startswith("application/problem+json")
    assert client.get(url, headers=shop.owner).json() == before
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(BadgeSettings)) == 0


def test_an_ended_coupon_cannot_be_the_starter_coupon_and_strangers_see_nothing(client, db, merchant):
    shop = make_shop(client, merchant)
    url = f"/api/v1/merchants/{shop.merchant_id}/badge-settings"
    t = client.post(f"/api/v1/merchants/{shop.merchant_id}/coupon-templates", json={"name": "10元券", "kind": "fixed", "amount": 1000, "total": 1, "valid_days": 30}, headers=shop.owner).json()
    buyer = login(client, "13500000077")
    assert client.post(f"/api/v1/coupons/{t['id']}/claim", headers=buyer).status_code in (200, 201)  # the only one is gone
    r = client.put(url, json={"starter_template_id": t["id"]}, headers=shop.owner)
    assert r.status_code == 409 and problem_code(r) == "starter.template_unavailable"
    stranger = login(client, "13600000099")
    assert client.get(url, headers=stranger).status_code == 404  # not staff: the shop is not theirs to see
    assert client.put(url, json={"recommender_referrals": 3}, headers=stranger).status_code == 404
    assert client.get(f"/api/v1/merchants/{shop.merchant_id}/badge-holders", headers=stranger).status_code == 404
    ok = client.put(url, json={"recommender_referrals": 3, "gmv_bronze": 20_000, "group_name": " 推荐官群 ", "group_text": "加店长微信"}, headers=shop.owner)
    assert ok.status_code == 200 and (ok.json()["recommender_referrals"], ok.json()["gmv_bronze"], ok.json()["group_name"]) == (3, 20_000, "推荐官群")
    r = client.put(url, json={"gmv_gold": 400_000}, headers=shop.owner)  # below silver (500,000)
    assert problem_code(r) == "badge.tiers_not_increasing" and client.get(url, headers=shop.owner).json()["gmv_gold"] == 2_000_000


MEMBER_CASES = [
    ("GET", "/api/v1/me/badges", {"merchant_id": "abc"}, 422, "validation.invalid"),
    ("GET", "/api/v1/me/badges", {"merchant_id": "0"}, 422, "validation.invalid"),
    ("GET", "/api/v1/me/badges", {"merchant_id": str(2**63)}, 422, "validation.invalid"),
    ("GET", "/api/v1/me/badges", {"merchant_id": "999999"}, 404, "merchant.not_found"),
    ("GET", "/api/v1/me/badges/campaign-code", {"merchant_id": "{mid}"}, 422, "validation.invalid"),
    ("GET", "/api/v1/me/badges/campaign-code", {"merchant_id": "{mid}", "campaign_id": "1"}, 403, "badge.recommender_only"),
    ("GET", "/api/v1/me/starter-kit", {"merchant_id": "{mid}"}, 404, "starter.not_found"),
    ("POST", "/api/v1/me/starter-kit/dismiss", {"merchant_id": "{mid}"}, 404, "starter.not_found"),
    ("GET", "/api/v1/merchants/{mid}/badge-holders", {"badge": "vip"}, 422, "validation.invalid"),
]


@pytest.mark.parametrize(("method", "path", "params", "status", "code"), MEMBER_CASES, ids=[f"{c[0]} {c[1]} {c[2]}" for c in MEMBER_CASES])
def test_bad_member_requests_are_problems_not_500s(client, db, merchant, method, path, params, status, code):
    shop = make_shop(client, merchant)
    who = shop.owner if "/merchants/" in path else login(client, "13500000088")
    params = {k: v.format(mid=shop.merchant_id) for k, v in params.items()}
    url = path.format(mid=shop.merchant_id)
    r = client.get(url, params=params, headers=who) if method == "GET" else client.post(url, json={k: int(v) for k, v in params.items()}, headers=who)
    assert r.status_code == status, r.text
    assert problem_code(r) == code


def test_the_console_form_says_what_is_wrong_on_its_field_and_saves_good_values(client, db, merchant, app):
    shop = make_shop(client, merchant)
    console = TestClient(app, raise_server_exceptions=False)
    page_login(console, merchant.owner_phone, "console")
    url = f"/console/merchants/{shop.merchant_id}/badges"
    html = console.get(url, headers=HTML).text
    assert 'data-testid="badge-settings-form"' in html and 'data-testid="starter-kit-form"' in html and 'value="1000.00"' in html  # bronze at ¥1,000
    form = {"csrf_token": csrf(console), "recommender_referrals": "3", "gmv_bronze": "1000", "gmv_silver": "800", "gmv_gold": "20000", "group_name": "推荐官群", "group_link": "", "group_text": ""}
    r = console.post(f"{url}/settings", data=form, headers=HTML)
    assert r.status_code == 422 and 'data-testid="field-error"' in r.text and 'value="800"' in r.text
    form.update(gmv_silver="12.345")
    r = console.post(f"{url}/settings", data=form, headers=HTML)
    assert r.status_code == 422 and 'data-testid="field-error"' in r.text
    form.update(recommender_referrals="三")
    assert console.post(f"{url}/settings", data=form, headers=HTML).status_code == 422
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(BadgeSettings)) == 0
    form.update(recommender_referrals="3", gmv_silver="5000")
    r = console.post(f"{url}/settings", data=form, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text
    with db.transaction() as s:
        row = s.get(BadgeSettings, shop.merchant_id)
        assert (row.recommender_referrals, row.gmv_bronze, row.gmv_silver, row.gmv_gold, row.group_name) == (3, 100_000, 500_000, 2_000_000, "推荐官群")
    r = console.post(f"{url}/starter-kit", data={"csrf_token": csrf(console), "starter_template_id": "999999", "starter_guide": ""}, headers=HTML)
    assert r.status_code == 422 and 'data-testid="field-error"' in r.text
    assert console.get(f"/console/merchants/{shop.merchant_id}", headers=HTML).text.count('data-testid="badges-summary"') == 1


@pytest.mark.parametrize("field", ["group_name", "group_link", "group_text", "starter_guide"])
def test_a_nul_typed_into_a_console_text_field_is_refused_on_its_field(client, db, merchant, app, field):
    """A NUL pasted into the group or the guide is refused (PostgreSQL cannot store it: it was
    a 500) by the pages' guard on every form (tests/web/test_nul_input.py), nothing saved."""
    shop = make_shop(client, merchant)
    console = TestClient(app, raise_server_exceptions=False)
    page_login(console, merchant.owner_phone, "console")
    url = f"/console/merchants/{shop.merchant_id}/badges"
    good = {"group_name": "推荐官群", "group_link": "https://work.weixin.qq.com/gm/x", "group_text": "扫码入群", "starter_guide": "第一步"}
    good[field] = good[field][:2] + "\x00" + good[field][2:]
    if field == "starter_guide":
        r = console.post(f"{url}/starter-kit", data={"csrf_token": csrf(console), "starter_template_id": "", "starter_guide": good[field]}, headers=HTML)
    else:
        form = {"csrf_token": csrf(console), "recommender_referrals": "5", "gmv_bronze": "1000", "gmv_silver": "5000", "gmv_gold": "20000",
                **{k: good[k] for k in ("group_name", "group_link", "group_text")}}
        r = console.post(f"{url}/settings", data=form, headers=HTML)
    assert r.status_code == 422, r.text[-500:]
    assert "无法保存的字符" in r.text
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(BadgeSettings)) == 0
