"""The referral desk on SQLite and PostgreSQL: staff read one programme's referrals one by
one — pending, granted with the rewards given and their cost, void with why — through the
API (keyset pages, a status filter) and the console page; a member and another shop's staff
are refused (the shop is not revealed); bad filters get a stable code, never a 500."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import login
from tests.incentives.helpers import _complete, _refund, first_order, friend, setup
from tests.web.conftest import HTML, page_login


def _desk(client, p, **params):
    return client.get(f"/api/v1/merchants/{p.shop.merchant_id}/referral-programmes/{p.id}/referrals", params=params, headers=p.shop.owner)


def test_the_desk_shows_each_referral_with_its_rewards_and_cost(client, db, merchant, clock, app):
    p = setup(client, merchant, clock, milestones=[{"count": 1, "inviter_reward": {"kind": "points", "amount": 500}}])
    friends = [friend(client, db, p, i) for i in range(3)]
    orders = [first_order(client, db, p, f) for f in friends[:2]]
    _refund(client, db, p.shop, friends[1], orders[1], 0, 5000)  # 6,800 → 1,800 paid: below the 3,000 minimum, void
    _complete(db, clock)
    first_order(client, db, p, friends[2])  # received after: pending
    r = _desk(client, p)
    assert r.status_code == 200, r.text
    rows = r.json()["referrals"]
    assert [x["status"] for x in rows] == ["pending", "voided", "granted"]  # newest first
    assert rows[1]["void_reason"] == "refunded" and rows[1]["rewards"] == [] and rows[1]["cost"] == 0
    granted = rows[2]
    assert granted["invitee"].endswith("135****0000") and "13500000000" not in r.text
    given = {(g["side"], g["milestone"], g["kind"]): g for g in granted["rewards"]}
    assert set(given) == {("inviter", None, "gift"), ("invitee", None, "coupon"), ("inviter", 1, "points")}
    assert given[("inviter", 1, "points")]["granted"] == 500
    assert granted["cost"] == sum(g["value"] for g in granted["rewards"]) and granted["cost"] >= 500
    listed = client.get(f"/api/v1/merchants/{p.shop.merchant_id}/referral-programmes", headers=p.shop.owner).json()[0]
    assert listed["cost"] == granted["cost"]
    # Filter and keyset pages
    assert [x["status"] for x in _desk(client, p, status="voided").json()["referrals"]] == ["voided"]
    first = _desk(client, p, limit=2).json()
    assert len(first["referrals"]) == 2 and first["next_before"] == first["referrals"][-1]["id"]
    rest = _desk(client, p, limit=2, before=first["next_before"]).json()
    assert [x["status"] for x in rest["referrals"]] == ["granted"] and rest["next_before"] is None
    # The console page
    console = TestClient(app, raise_server_exceptions=False)
    page_login(console, merchant.owner_phone, "console")
    url = f"/console/merchants/{p.shop.merchant_id}/referral-programmes/{p.id}/referrals"
    html = console.get(url, headers=HTML).text
    assert html.count('data-testid="desk-row"') == 3 and "135****0000" in html and "13500000000" not in html
    assert 'data-status="voided"' in html and "订单退款后低于最低金额" in html
    html = console.get(url, params={"status": "granted"}, headers=HTML).text
    assert html.count('data-testid="desk-row"') == 1 and html.count('data-testid="desk-reward"') == 3
    r = console.get(url, params={"status": "bogus"}, headers=HTML)
    assert r.status_code == 422 and r.text.count('data-testid="desk-row"') == 3
    assert f'/referral-programmes/{p.id}/referrals' in console.get(f"/console/merchants/{p.shop.merchant_id}/referral-programmes", headers=HTML).text


def test_the_desk_is_staff_only_and_refuses_bad_filters(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    base = f"/api/v1/merchants/{p.shop.merchant_id}/referral-programmes/{p.id}/referrals"
    for who in (p.inviter, login(client, "13911112222")):  # not staff: the shop is not revealed
        r = client.get(base, headers=who)
        assert r.status_code == 404 and r.json()["code"] == "merchant.not_found" and "referrals" not in r.json()
    r = _desk(client, p, status="bogus")
    assert r.status_code == 422 and r.json()["code"] == "referral.status_invalid"
    for params in ({"limit": 0}, {"limit": 999}, {"before": "x"}):
        r = _desk(client, p, **params)
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), params
    r = client.get(f"/api/v1/merchants/{p.shop.merchant_id}/referral-programmes/999999/referrals", headers=p.shop.owner)
    assert r.status_code == 404 and r.json()["code"] == "programme.not_found"
