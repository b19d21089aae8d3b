"""The demo's referral programme as 菜场老王 and his inviting neighbour see it through the API."""

from __future__ import annotations

from linli import demo, demo_incentives, ledger
from tests.conftest import login


def test_demo_runs_the_eggs_programme_with_referrals_in_every_state_and_a_milestone(demo_world):
    client, db, clock, info = demo_world.client, demo_world.db, demo_world.clock, demo_world.info
    mid = info.merchant_id
    owner = login(client, demo.OWNER_PHONE)
    progs = client.get(f"/api/v1/merchants/{mid}/referral-programmes", headers=owner).json()
    [p] = [p for p in progs if p["name"] == demo_incentives.PROGRAMME]
    assert p["status"] == "active" and p["inviter_reward"]["kind"] == "gift" and p["invitee_reward"]["kind"] == "coupon"
    assert p["counts"] == {"pending": 1, "granted": 3, "voided": 1}
    inviter = login(client, demo_incentives.INVITER)
    mine = client.get("/api/v1/me/referrals", params={"merchant_id": mid}, headers=inviter).json()
    assert sorted(r["status"] for r in mine["referrals"]) == ["granted", "granted", "granted", "pending", "voided"]
    assert all("****" in r["invitee"] for r in mine["referrals"])
    assert mine["milestones"][0]["reached"] == [3]
    wallet = client.get("/api/v1/me/wallet", params={"merchant_id": mid}, headers=inviter).json()
    assert wallet["stored_value"]["bonus"] >= 5000  # 邀请3位好友得50元
    gifts = [c for c in client.get("/api/v1/me/coupons", params={"merchant_id": mid}, headers=inviter).json() if c["kind"] == "gift"]
    assert len(gifts) == 3  # a jin of eggs per friend
    demo.seed(db, clock.current)  # seeding again adds nothing
    assert client.get(f"/api/v1/merchants/{mid}/referral-programmes", headers=owner).json()[-1]["counts"] == p["counts"]
    with db.transaction() as s:
        assert ledger.check(s) == []


def test_demo_gives_the_main_sharer_the_recommender_and_a_gmv_badge_and_sets_the_starter_kit(demo_world):
    from linli import demo_badges

    client, clock, info = demo_world.client, demo_world.clock, demo_world.info
    db = demo_world.db
    mid = info.merchant_id
    sharer = login(client, demo_incentives.INVITER)
    mine = client.get("/api/v1/me/badges", params={"merchant_id": mid}, headers=sharer).json()
    assert {"recommender", "gmv_bronze", "first_sale"} <= {b["code"] for b in mine["badges"]}
    assert mine["group"]["name"] == demo_badges.GROUP["group_name"]
    assert [(g["code"], g["value"]) for g in mine["progress"]][0] == ("gmv_silver", 36_200)
    new = login(client, demo_badges.NEW_SHARER)
    kit = client.get("/api/v1/me/starter-kit", params={"merchant_id": mid}, headers=new).json()
    assert (kit["coupon"], kit["shown"]) == (demo_badges.STARTER_COUPON, True)
    owner = login(client, demo.OWNER_PHONE)
    holders = client.get(f"/api/v1/merchants/{mid}/badge-holders", params={"badge": "recommender"}, headers=owner).json()
    assert [h["phone_masked"] for h in holders] == ["137****0003"]
    every = client.get(f"/api/v1/merchants/{mid}/badge-holders", headers=owner).json()
    coupons = client.get(f"/api/v1/merchants/{mid}/coupons", headers=owner).json()
    demo.seed(db, clock.current)  # seeding again adds nothing
    assert client.get(f"/api/v1/merchants/{mid}/badge-holders", headers=owner).json() == every
    assert len(client.get(f"/api/v1/merchants/{mid}/coupons", headers=owner).json()) == len(coupons)
