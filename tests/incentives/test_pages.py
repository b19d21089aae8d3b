"""Incentives' pages through httpx: the sharer centre's 邀请奖励 section (programme, my
referrals with the friend's phone masked and their status, milestone progress), the invite
landing's reward for the friend, and the console's programme list and editor (a sign-up
trigger refused on its field, nothing made)."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linli.incentives.models import ReferralProgramme
from tests.incentives.helpers import INVITER, _complete, first_order, friend, setup
from tests.web.conftest import HTML, csrf, page_login


def test_the_sharer_centre_shows_pending_then_granted_with_masked_phones(client, db, merchant, clock, app):
    p = setup(client, merchant, clock)
    first_order(client, db, p, friend(client, db, p, 7))
    browser = TestClient(app, raise_server_exceptions=False)
    page_login(browser, INVITER)
    html = browser.get(f"/m/share/{p.shop.merchant_id}", headers=HTML).text
    assert 'data-testid="invite-rewards"' in html and "邻里鸡蛋计划" in html
    assert "135****0007" in html and "13500000007" not in html
    assert 'data-status="pending"' in html and "待发放" in html
    assert "0 / 3" in html or "还差" in html or 'max="3"' in html
    _complete(db, clock)
    html = browser.get(f"/m/share/{p.shop.merchant_id}", headers=HTML).text
    assert 'data-status="granted"' in html and "已发放" in html


def test_the_invite_landing_shows_the_friend_s_reward(client, db, merchant, clock, app):
    p = setup(client, merchant, clock)
    visitor = TestClient(app, raise_server_exceptions=False)
    html = visitor.get(f"/i/{p.code}", headers=HTML).text
    assert 'data-testid="invitee-reward"' in html and "首单9折" in html


def test_the_console_lists_programmes_and_refuses_a_sign_up_trigger(client, db, merchant, clock, app):
    p = setup(client, merchant, clock)
    console = TestClient(app, raise_server_exceptions=False)
    page_login(console, merchant.owner_phone, "console")
    url = f"/console/merchants/{p.shop.merchant_id}/referral-programmes"
    html = console.get(url, headers=HTML).text
    assert 'data-testid="programme-row"' in html and "邻里鸡蛋计划" in html
    form = {"csrf_token": csrf(console), "name": "注册就送", "trigger": "signup", "starts_at": "2026-11-22", "ends_at": "2026-12-22", "min_paid": "0.01",
            "window_days": "30", "monthly_cap": "20", "inviter_kind": "points", "inviter_amount": "300"}
    r = console.post(url, data=form, headers=HTML)
    assert r.status_code == 422 and 'data-testid="field-error"' in r.text
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(ReferralProgramme)) == 1
    form.update(trigger="first_received_order", name="每邀1人各得3元", invitee_kind="stored_value_bonus", invitee_amount="3", inviter_amount="300", ms0_count="3",
                ms0_inviter_kind="stored_value_bonus", ms0_inviter_amount="50")
    r = console.post(url, data=form, headers=HTML, follow_redirects=False)
    assert r.status_code == 303, r.text
    html = console.get(url, headers=HTML).text
    assert "每邀1人各得3元" in html
    assert console.get(f"/console/merchants/{p.shop.merchant_id}", headers=HTML).text.count('data-testid="programmes-summary"') == 1
    # Edit: a cap out of bounds comes back on the row with nothing changed, then a good one saves.
    edit = {"csrf_token": csrf(console), "name": "老王的鸡蛋", "ends_at": "2027-01-31", "monthly_cap": "0"}
    r = console.post(f"{url}/{p.id}", data=edit, headers=HTML)
    assert r.status_code == 422 and 'value="老王的鸡蛋"' in r.text
    with db.transaction() as s:
        assert s.get(ReferralProgramme, p.id).name == "邻里鸡蛋计划"
    edit["monthly_cap"] = "5"
    assert console.post(f"{url}/{p.id}", data=edit, headers=HTML, follow_redirects=False).status_code == 303
    with db.transaction() as s:
        row = s.get(ReferralProgramme, p.id)
        assert (row.name, row.monthly_cap) == ("老王的鸡蛋", 5)
    assert 'value="2027-01-31"' in console.get(url, headers=HTML).text
    assert console.post(f"{url}/{p.id}/end", data={"csrf_token": csrf(console)}, headers=HTML, follow_redirects=False).status_code == 303
    with db.transaction() as s:
        assert s.get(ReferralProgramme, p.id).ended_at is not None
