"""Referral programmes through the API on SQLite and PostgreSQL: a friend's first received
order makes a pending referral, its completion (the after-sales window closed) grants both
rewards once; a refund below the minimum while pending voids it; sign-ups alone grant
nothing; the sharer sees it all on /me/referrals with the friend's phone masked."""

from __future__ import annotations

from sqlalchemy import select

from linli import events, ledger
from linli.identity import service as identity
from linli.referral import service as referral
from linli.rewards.models import Coupon, PointsLot
from tests.incentives.helpers import _complete, _refund, counts, first_order, friend, referrals, setup
from tests.orders.helpers import buy


def _mine(client, p) -> dict:
    r = client.get("/api/v1/me/referrals", params={"merchant_id": p.shop.merchant_id}, headers=p.inviter)
    assert r.status_code == 200, r.text
    return r.json()


def _coupons(client, p, who) -> list[dict]:
    return client.get("/api/v1/me/coupons", params={"merchant_id": p.shop.merchant_id}, headers=who).json()


def test_first_received_order_grants_both_rewards_once_after_the_window(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    f = friend(client, db, p, 1)
    o = first_order(client, db, p, f)
    mine = _mine(client, p)
    assert [(r["invitee"], r["status"]) for r in mine["referrals"]] == [("135****0001", "pending")]
    assert mine["referrals"][0]["reward"]["kind"] == "gift"
    assert _coupons(client, p, p.inviter) == [] and _coupons(client, p, f) == []  # nothing before the window closes
    _complete(db, clock)
    assert [r["status"] for r in _mine(client, p)["referrals"]] == ["granted"]
    gift = _coupons(client, p, p.inviter)
    assert [c["kind"] for c in gift] == ["gift"]
    assert [c["template_id"] for c in _coupons(client, p, f)] == [p.percent_template]
    # A second order of the friend, received and completed, is not a first order: nothing more.
    o2 = buy(client, db, f, p.shop, [(p.shop.skus["berry"], 1)])
    from tests.incentives.helpers import _receive

    _receive(client, db, p.shop, o2)
    _complete(db, clock)
    assert len(_coupons(client, p, p.inviter)) == 1 and len(_coupons(client, p, f)) == 1
    assert counts(db) == {"rewards": 2, "reward_coupons": 2, "reward_transfers": 0}
    progs = client.get(f"/api/v1/merchants/{p.shop.merchant_id}/referral-programmes", headers=p.shop.owner).json()
    assert progs[0]["counts"] == {"pending": 0, "granted": 1, "voided": 0}
    assert progs[0]["cost"] == 2990  # the gift's price (the percent coupon's cost shows only when used)
    assert o["id"] != o2["id"]
    with db.transaction() as s:
        assert ledger.check(s) == []


def test_a_refund_below_the_minimum_while_pending_voids(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    f = friend(client, db, p, 1)
    o = first_order(client, db, p, f, qty=1)  # paid 6,800, minimum 3,000
    _refund(client, db, p.shop, f, o, 0, 3000)  # 3,800 left: still qualifies
    assert [s for _, s, _ in referrals(db)] == ["pending"]
    _refund(client, db, p.shop, f, o, 0, 1000)  # 2,800 left: below the minimum
    assert [(s, why) for _, s, why in referrals(db)] == [("voided", "refunded")]
    _complete(db, clock)
    assert [r["status"] for r in _mine(client, p)["referrals"]] == ["voided"]
    assert counts(db) == {"rewards": 0, "reward_coupons": 0, "reward_transfers": 0}


def test_an_order_below_the_minimum_or_outside_the_window_is_no_referral(client, db, merchant, clock):
    p = setup(client, merchant, clock, min_paid=10_000, window_days=1)
    f = friend(client, db, p, 1)
    first_order(client, db, p, f)  # 6,800 < 10,000
    g = friend(client, db, p, 2)
    clock.advance(days=2)  # the window after g's binding has passed
    first_order(client, db, p, g, qty=2)
    _complete(db, clock)
    assert referrals(db) == []
    assert counts(db)["rewards"] == 0


def test_sign_ups_alone_grant_nothing(client, db, merchant, clock):
    """250 neighbours join through one code (each a real binding and member.bound event, more
    than one batch of 200 of the dispatcher) and order nothing: no referral, no coupon, no points,
    no bonus. (1,000 once, then 400; no rule counts sign-ups, so the size only has to pass the batches,
    and the suite's time matters.)"""
    p = setup(client, merchant, clock)
    now = clock()
    with db.transaction() as s:
        for i in range(250):
            m = identity.get_or_create_member(s, f"134{i:08d}", now)
            referral.bind(s, m.id, p.code, now, invitee_is_new=True)
    events.drain(db)
    _complete(db, clock)
    assert referrals(db) == []
    assert counts(db) == {"rewards": 0, "reward_coupons": 0, "reward_transfers": 0}
    assert _mine(client, p)["referrals"] == []


def test_points_and_stored_value_rewards_and_the_milestone(client, db, merchant, clock):
    p = setup(client, merchant, clock, inviter_reward={"kind": "points", "amount": 300}, invitee_reward={"kind": "stored_value_bonus", "amount": 300},
              milestones=[{"count": 2, "inviter_reward": {"kind": "stored_value_bonus", "amount": 5000}, "invitee_reward": {"kind": "points", "amount": 100}}])
    friends = [friend(client, db, p, i) for i in range(3)]
    for f in friends:
        first_order(client, db, p, f)
    progress = _mine(client, p)["milestones"]
    assert progress == [{"programme_id": p.id, "granted": 0, "reached": [], "next_count": 2, "next_reward": {"kind": "stored_value_bonus", "amount": 5000, "template_id": None, "sku_id": None}}]
    _complete(db, clock)
    w = client.get("/api/v1/me/wallet", params={"merchant_id": p.shop.merchant_id}, headers=p.inviter).json()
    assert w["points"]["available"] == 900 and w["stored_value"]["bonus"] == 5000
    bonuses = sorted(client.get("/api/v1/me/wallet", params={"merchant_id": p.shop.merchant_id}, headers=f).json()["stored_value"]["bonus"] for f in friends)
    assert bonuses == [300, 300, 300]
    mine = _mine(client, p)
    assert mine["milestones"][0]["granted"] == 3 and mine["milestones"][0]["reached"] == [2] and mine["milestones"][0]["next_count"] is None
    with db.transaction() as s:
        assert ledger.check(s) == []
        lots = list(s.scalars(select(PointsLot).where(PointsLot.reason == "referral")))
        assert sorted(lot.amount for lot in lots) == [100, 300, 300, 300]
        assert not s.scalars(select(Coupon)).first()
    statement = client.get("/api/v1/me/points", params={"merchant_id": p.shop.merchant_id}, headers=p.inviter).json()
    assert [m["reason"] for m in statement].count("reward") == 3


def test_a_stored_value_reward_grants_what_fits_under_the_cap(client, db, merchant, clock):
    from linli.rewards import stored_value

    p = setup(client, merchant, clock, inviter_reward={"kind": "stored_value_bonus", "amount": 5000}, invitee_reward=None, milestones=[])
    with db.transaction() as s:  # the inviter's card is 1 yuan short of the cap
        stored_value.grant_bonus(s, p.shop.merchant_id, p.inviter_id, 500_000 - 100, "setup", clock())
    f = friend(client, db, p, 1)
    first_order(client, db, p, f)
    _complete(db, clock)
    w = client.get("/api/v1/me/wallet", params={"merchant_id": p.shop.merchant_id}, headers=p.inviter).json()
    assert w["stored_value"]["bonus"] == 500_000
    from linli.incentives.models import ProgrammeReward

    with db.transaction() as s:
        r = s.scalars(select(ProgrammeReward)).one()
        assert (r.asked, r.granted, r.value, r.failure) == (5000, 100, 100, "stored_value.cap")
        assert ledger.check(s) == []
    mine = client.get("/api/v1/me/referrals", params={"merchant_id": p.shop.merchant_id}, headers=p.inviter).json()
    assert mine["referrals"][0]["reward_failure"] == "stored_value.cap"  # the sharer is told why less came
