"""Bad programme input in one table: each answer is a 4xx problem+json with its stable code,
and nothing changes (no programme, no gift template made halfway)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from linli.incentives.models import ReferralProgramme
from linli.rewards.models import CouponTemplate
from tests.conftest import login, problem_code
from tests.incentives.helpers import programme_body
from tests.orders.helpers import make_shop

CASES = [
    ("a sign-up", {"trigger": "signup"}, 422, "programme.rewards_signup"),
    ("a share", {"trigger": "share"}, 422, "programme.rewards_signup"),
    ("a click", {"trigger": "click"}, 422, "programme.rewards_signup"),
    ("joining a group", {"trigger": "group_join"}, 422, "programme.rewards_signup"),
    ("another trigger", {"trigger": "visit"}, 422, "programme.trigger_invalid"),
    ("no reward", {"inviter_reward": None, "invitee_reward": None, "milestones": []}, 422, "programme.reward_required"),
    ("zero points", {"inviter_reward": {"kind": "points", "amount": 0}}, 422, "programme.reward_amount_invalid"),
    ("a bonus over the cap", {"inviter_reward": {"kind": "stored_value_bonus", "amount": 500_001}}, 422, "programme.reward_amount_invalid"),
    ("a coupon without its template", {"inviter_reward": {"kind": "coupon"}}, 422, "programme.reward_template_required"),
    ("another shop's coupon", {"invitee_reward": {"kind": "coupon", "template_id": 999_999}}, 422, "programme.reward_template_unknown"),
    ("an unknown gift", {"inviter_reward": {"kind": "gift", "sku_id": 999_999}}, 422, "programme.reward_sku_unknown"),
    ("milestones not increasing", {"milestones": [{"count": 3, "inviter_reward": {"kind": "points", "amount": 1}}, {"count": 3, "inviter_reward": {"kind": "points", "amount": 1}}]},
     422, "programme.milestones_invalid"),
    ("a zero minimum", {"min_paid": 0}, 422, "programme.settings_invalid"),
    ("a zero window", {"window_days": 0}, 422, "validation.invalid"),
    ("a cap over 1000", {"monthly_cap": 1001}, 422, "validation.invalid"),
    ("an unknown kind", {"inviter_reward": {"kind": "cash", "amount": 100}}, 422, "validation.invalid"),
    ("an unknown field", {"pay_per_signup": 300}, 422, "validation.unknown_field"),
]


@pytest.mark.parametrize(("label", "change", "status", "code"), CASES, ids=[c[0] for c in CASES])
def test_bad_programme_input_is_refused_with_nothing_changed(client, db, merchant, clock, label, change, status, code):
    shop = make_shop(client, merchant)
    t = client.post(f"/api/v1/merchants/{shop.merchant_id}/coupon-templates", json={"name": "9折", "kind": "percent", "percent_bp": 1000, "total": 10, "valid_days": 30}, headers=shop.owner).json()
    body = programme_body(shop, clock, t["id"])
    body.update(change)
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/referral-programmes", json=body, headers=shop.owner)
    assert r.status_code == status, r.text
    assert problem_code(r) == code
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(ReferralProgramme)) == 0
        assert s.scalar(select(func.count()).select_from(CouponTemplate)) == 1  # the gift's template was not left behind


def test_dates_permissions_and_ending(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    url = f"/api/v1/merchants/{shop.merchant_id}/referral-programmes"
    body = programme_body(shop, clock, 1, invitee_reward=None)
    late = {**body, "ends_at": (clock() - timedelta(hours=1)).isoformat(), "starts_at": (clock() - timedelta(days=2)).isoformat()}
    assert problem_code(client.post(url, json=late, headers=shop.owner)) == "programme.dates_invalid"
    backwards = {**body, "ends_at": body["starts_at"]}
    assert problem_code(client.post(url, json=backwards, headers=shop.owner)) == "programme.dates_invalid"
    stranger = login(client, "13600000099")
    r = client.post(url, json=body, headers=stranger)
    assert r.status_code == 404 and client.get(url, headers=stranger).status_code == 404  # not staff: the shop is not theirs to see
    made = client.post(url, json=body, headers=shop.owner)
    assert made.status_code == 201, made.text
    pid = made.json()["id"]
    r = client.patch(f"{url}/{pid}", json={"name": "老王的鸡蛋", "monthly_cap": 5}, headers=shop.owner)
    assert r.status_code == 200 and (r.json()["name"], r.json()["monthly_cap"]) == ("老王的鸡蛋", 5)
    assert problem_code(client.patch(f"{url}/{pid}", json={"ends_at": (clock() - timedelta(days=1)).isoformat()}, headers=shop.owner)) == "programme.dates_invalid"
    assert client.post(f"{url}/{pid}/end", headers=shop.owner).json()["status"] == "ended"
    r = client.patch(f"{url}/{pid}", json={"name": "再来"}, headers=shop.owner)
    assert r.status_code == 409 and problem_code(r) == "programme.ended"
    assert problem_code(client.post(f"{url}/999999/end", headers=shop.owner)) == "programme.not_found"
    assert client.get(url, headers=shop.owner).json()[0]["name"] == "老王的鸡蛋"
