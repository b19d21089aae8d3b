"""The demo's coupons, as an operator and a neighbour see them through the API."""

from __future__ import annotations

from sqlalchemy import func, select

from linli import demo
from linli.rewards.models import CouponTemplate
from tests.conftest import login


def test_demo_seeds_the_new_member_and_spend_and_save_coupons_some_claimed_one_used(demo_world):
    client, db, clock, info = demo_world.client, demo_world.db, demo_world.clock, demo_world.info
    owner = login(client, demo.OWNER_PHONE)
    mid = info.merchant_id
    incentives = {"新邻居首单9折", "赠品·散养土鸡蛋 30枚", "新晋分享官10元无门槛券"}  # the referral programme's and the starter kit's coupons (tests/incentives/test_demo.py)
    listed = {t["name"]: t for t in client.get(f"/api/v1/merchants/{mid}/coupons", headers=owner).json() if t["name"] not in incentives}
    assert set(listed) == {"新人9.9元尝鲜券", "满50减10", "水果8.5折"}
    fresh, spend = listed["新人9.9元尝鲜券"], listed["满50减10"]
    assert (fresh["kind"], fresh["amount"], fresh["issued"]) == ("fixed", 990, 3)
    assert (spend["kind"], spend["threshold"], spend["amount"], spend["issued"], spend["used"]) == ("threshold", 5000, 1000, 5, 1)
    neighbour = login(client, "13700000001")
    mine = client.get("/api/v1/me/coupons", params={"merchant_id": mid}, headers=neighbour).json()
    assert sorted((c["name"], c["status"]) for c in mine) == [("新人9.9元尝鲜券", "unused"), ("水果8.5折", "unused"), ("满50减10", "used")]
    # Seeding again adds nothing.
    demo.seed(db, clock.current)
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(CouponTemplate).where(CouponTemplate.merchant_id == mid)) == 3 + len(incentives)
