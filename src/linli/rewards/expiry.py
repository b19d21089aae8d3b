"""Points expiry (RULES.md: a posted debit, once per lot, with a reminder 30 days before).

Both are due jobs (``rewards/jobs.py``): each lot (or reminder) in its own transaction,
guarded by compare-and-set on the lot's state (or ``reminded_at``), so running a job twice,
or again after a crash, changes nothing more.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linli import events, ledger
from linli.db import Database
from linli.ledger import Leg
from linli.rewards import accounts, earning, rules
from linli.rewards.events import PointsExpiring
from linli.rewards.models import PointsLot

BATCH = 1000


def _due(s: Session, as_of: datetime) -> list[int]:
    return list(s.scalars(select(PointsLot.id).where(PointsLot.state == "available", PointsLot.remaining > 0, PointsLot.expires_at <= as_of).order_by(PointsLot.expires_at, PointsLot.id).limit(BATCH)))


def expire_lot(s: Session, lot_id: int, as_of: datetime) -> bool:
    """Expire what the lot still holds once it is past ``expires_at`` (after it paid off any
    debt of its member). False if it was not due (or expired already)."""
    lot = s.get(PointsLot, lot_id)
    if lot is None:
        return False
    earning.lock_points(s, lot.merchant_id, lot.member_id)  # first, as every points movement does
    s.refresh(lot, with_for_update=True)
    if lot.state != "available" or lot.remaining <= 0 or lot.expires_at is None or lot.expires_at > as_of:
        return False
    earning.settle_debts(s, lot.merchant_id, lot.member_id)
    n = lot.remaining  # paying a debt never takes a lot below zero
    if n and not ledger.transfer(s, lot.merchant_id, "points_expire", f"points:expire:{lot.id}", [Leg(accounts.POINTS_AVAILABLE, lot.member_id, -n), Leg(accounts.POINTS_EXPIRED, None, n)], as_of):
        return False
    lot.state, lot.expired, lot.remaining = "expired", n, 0
    s.flush()
    return True


def expire_due(db: Database, as_of: datetime) -> int:
    """Every available lot past its expiry, once. Returns how many lots expired."""
    done = 0
    while True:
        with db.transaction() as s:
            due = _due(s, as_of)
        moved = 0
        for lot_id in due:
            with db.transaction() as s:
                moved += expire_lot(s, lot_id, as_of)
        done += moved
        if len(due) < BATCH or not moved:
            return done


def remind_due(db: Database, as_of: datetime) -> int:
    """A ``rewards.points_expiring`` event for the lots expiring within 30 days, once per
    lot (a member's lots expiring at the same instant share one). Returns the events emitted."""
    with db.transaction() as s:
        rows = s.execute(select(PointsLot.merchant_id, PointsLot.member_id, PointsLot.id, PointsLot.remaining, PointsLot.expires_at)
                         .where(PointsLot.state == "available", PointsLot.remaining > 0, PointsLot.reminded_at.is_(None),
                                PointsLot.expires_at > as_of, PointsLot.expires_at <= as_of + rules.EXPIRY_REMINDER)
                         .order_by(PointsLot.merchant_id, PointsLot.member_id, PointsLot.id)).all()
    members: dict[tuple[int, int], list[tuple[int, int, datetime]]] = {}
    for mid, member, lot_id, remaining, at in rows:
        members.setdefault((mid, member), []).append((lot_id, remaining, at))
    emitted = 0
    for (mid, member), lots in members.items():
        for at, ids, _ in rules.expiring_groups(lots):
            with db.transaction() as s:
                taken = s.execute(update(PointsLot).where(PointsLot.id.in_(ids), PointsLot.reminded_at.is_(None), PointsLot.state == "available", PointsLot.remaining > 0)
                                  .values(reminded_at=as_of).returning(PointsLot.remaining)).scalars().all()
                if taken:
                    events.emit(s, PointsExpiring(merchant_id=mid, member_id=member, points=sum(taken), expires_at=at), merchant_id=mid, at=as_of)
                    emitted += 1
    return emitted
