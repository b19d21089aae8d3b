"""Replaying every handled event 50 times changes nothing, for every incentives handler
(a referral pending on receipt, granted on completion, voided by a refund, a binding recorded,
the referred sales, the badges they and the granted referrals move, the starter kit of a friend
who became a sharer), over a flow with
a granted, a voided and a capped referral and a milestone reached, on SQLite and
PostgreSQL. Each handler is called directly on every event it has handled, bypassing the
outbox's handled_events: only the referrals' states and the grants' keys stand between a
redelivery and a second reward (and a sale's unchanged net between it and a second score)."""

from __future__ import annotations

from sqlalchemy import func, select

from linli import ledger
from linli.events import OutboxEvent
from linli.incentives import models
from linli.ledger import LedgerEntry
from linli.rewards.models import Coupon, PointsLot, RewardBalance
from tests.incentives.helpers import _complete, _refund, first_order, friend, setup
from tests.replay import replay_handlers

TABLES = [models.ProgrammeReferral, models.InviteeBinding, models.InviteeTurn, models.ProgrammeCap, models.ProgrammeInviter, models.ProgrammeMilestone, models.ProgrammeReward, models.ReferredSale, models.BoardScore, models.HonourClose,
          models.Honour, models.MemberBadge, models.BadgeTurn, models.StarterKit, Coupon, PointsLot, RewardBalance]


def _snapshot(db):
    with db.transaction() as s:
        return (
            s.execute(select(func.count(), func.sum(LedgerEntry.amount * LedgerEntry.id)).select_from(LedgerEntry)).one(),
            {m.__tablename__: sorted(tuple(str(getattr(r, c.key)) for c in m.__table__.columns) for r in s.scalars(select(m))) for m in TABLES},
            s.scalar(select(func.count()).select_from(OutboxEvent)),
        )


def test_replaying_every_incentives_handler_50_times_changes_nothing(client, db, merchant, clock):
    p = setup(client, merchant, clock, monthly_cap=3, invitee_reward={"kind": "points", "amount": 200},
              milestones=[{"count": 2, "inviter_reward": {"kind": "stored_value_bonus", "amount": 5000}, "invitee_reward": {"kind": "points", "amount": 100}}])
    orders = [first_order(client, db, p, friend(client, db, p, i)) for i in range(4)]  # the 4th is over the cap of 3
    _refund(client, db, p.shop, _buyer(client, db, p, 0), orders[0], 0, 5000)  # below the minimum: voided
    _complete(db, clock)
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(models.BoardScore)) > 0  # the flow moved leaderboard scores
        states = sorted((r.status, r.void_reason or "") for r in s.scalars(select(models.ProgrammeReferral)))
        assert states == [("granted", ""), ("granted", ""), ("voided", "monthly_cap"), ("voided", "refunded")]
        assert ledger.check(s) == []
    before = _snapshot(db)
    handlers = {key for key, _ in replay_handlers(db, "incentives")}
    # pending, granted, voided, the binding history, the referred sale's receipt and refunds,
    # the badges of a granted referral, and the starter kit of a friend who became a sharer
    assert len(handlers) == 8, handlers
    after = _snapshot(db)
    for name, rows_before in before[1].items():
        assert after[1][name] == rows_before, name
    assert after == before
    with db.transaction() as s:
        assert ledger.check(s) == []


def _buyer(client, db, p, n: int) -> dict:
    return friend(client, db, p, n)  # logging in again gives the same member a fresh token
