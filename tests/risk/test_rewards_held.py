"""A hold keeps the sharer's referral rewards waiting too (issue 14: "the commission records
(and rewards) involved"): released, the backstop grants them; clawed back, they are voided."""

from __future__ import annotations

from linli import events, jobs
from linli.commission import service as commission
from tests.incentives.helpers import counts, first_order, friend, referrals, setup


def _hold(db, p, clock):
    with db.transaction() as s:
        commission.hold(s, p.shop.merchant_id, p.inviter_id, "risk:1", clock())


def test_a_held_inviters_referral_waits_and_is_granted_after_the_release(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    f = friend(client, db, p, 1)
    _hold(db, p, clock)
    first_order(client, db, p, f)
    jobs.run_due(db, clock.advance(days=7, minutes=1))  # the window closed: it would be granted now
    jobs.run_due(db, clock.advance(hours=2))  # and by the backstop
    assert [status for _, status, _ in referrals(db)] == ["pending"]
    assert counts(db)["rewards"] == 0
    with db.transaction() as s:
        commission.release_hold(s, p.shop.merchant_id, p.inviter_id, "risk:1", clock())
    events.drain(db)
    jobs.run_due(db, clock.advance(hours=2))
    assert [status for _, status, _ in referrals(db)] == ["granted"]
    assert counts(db)["rewards"] == 2  # the inviter's gift and the friend's coupon


def test_a_claw_back_voids_the_waiting_referral_for_good(client, db, merchant, clock):
    p = setup(client, merchant, clock)
    f = friend(client, db, p, 1)
    _hold(db, p, clock)
    first_order(client, db, p, f)
    jobs.run_due(db, clock.advance(days=7, minutes=1))
    with db.transaction() as s:
        commission.claw_back(s, p.shop.merchant_id, p.inviter_id, "risk:1", clock())
    events.drain(db)
    jobs.run_due(db, clock.advance(hours=2))
    assert [(status, why) for _, status, why in referrals(db)] == [("voided", "clawed_back")]
    assert counts(db)["rewards"] == 0
