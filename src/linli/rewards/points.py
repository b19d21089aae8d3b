"""Points: a member's available balance, redemption on an order (lots oldest-expiry first)
and its return when the order is cancelled unpaid or refunded.

Every movement is one kernel ledger transfer with a unique key; the lots move with it, so
``linli ledger check`` proves Σ remaining of a member's available lots equals their
available balance."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linli import ledger
from linli.errors import Conflict
from linli.ledger import Leg
from linli.rewards import accounts, rules
from linli.rewards.models import PointsLot


def available(s: Session, merchant_id: int, member_id: int) -> int:
    return accounts.balance(s, merchant_id, member_id).points_available


def _lots(s: Session, merchant_id: int, member_id: int) -> list[rules.Lot]:
    q = select(PointsLot).where(PointsLot.merchant_id == merchant_id, PointsLot.member_id == member_id, PointsLot.state == "available", PointsLot.remaining > 0)
    return [rules.Lot(lot.id, lot.remaining, lot.expires_at) for lot in s.scalars(q)]


def redeem(s: Session, merchant_id: int, member_id: int, order_id: int, points: int, now: datetime) -> list[list[int]]:
    """Take ``points`` for an order: from the lots (each a compare-and-set on its remaining)
    and the balance (a compare-and-set that never goes below zero), in one transfer keyed
    by the order. Returns the [lot id, points] taken, to give back the same way."""
    if points <= 0:
        return []
    takes = rules.take_from_lots(_lots(s, merchant_id, member_id), points)
    for lot_id, n in takes:
        if s.execute(update(PointsLot).where(PointsLot.id == lot_id, PointsLot.remaining >= n).values(remaining=PointsLot.remaining - n)).rowcount != 1:
            raise Conflict("points.changed", "Your points changed meanwhile; try again.")
    try:
        ledger.transfer(s, merchant_id, "points_redeem", f"points:redeem:{order_id}", [Leg(accounts.POINTS_AVAILABLE, member_id, -points), Leg(accounts.POINTS_REDEEMED, None, points)], now, require_funds=True)
    except ledger.InsufficientFunds:
        raise Conflict("points.changed", "Your points changed meanwhile; try again.") from None
    return [[lot_id, n] for lot_id, n in takes]


def give_back(s: Session, merchant_id: int, member_id: int, key: str, lots: list[list[int]], returned_before: int, n: int, now: datetime) -> int:
    """Return ``n`` more points of a redemption (``returned_before`` already came back) to the
    lots they came from, the last taken first. Points whose lot has expired (the expiry job
    closed it) expire now instead of coming back, and the lot counts them as expired, so a
    later reversal of that lot takes them from expired, not from the member's balance; a lot
    past its date that the job has not closed yet takes them back and expires them with the
    rest. Once per ``key``; returns the points moved."""
    if n <= 0:
        return 0
    from linli.rewards.earning import lock_points  # earning builds on this module

    lock_points(s, merchant_id, member_id)  # the lots, then the balance: the order every points movement takes
    back, late, expired, skip, left = [], [], 0, returned_before, n
    for lot_id, taken in reversed(lots):
        if skip >= taken:
            skip -= taken
            continue
        take = min(taken - skip, left)
        skip, left = 0, left - take
        lot = s.get(PointsLot, lot_id)
        if lot.state == "available":
            back.append((lot_id, take))
        else:
            expired += take
            late.append((lot_id, take))
        if left == 0:
            break
    moved = n - left
    legs = [Leg(accounts.POINTS_REDEEMED, None, -moved), Leg(accounts.POINTS_AVAILABLE, member_id, moved - expired), Leg(accounts.POINTS_EXPIRED, None, expired)]
    if not ledger.transfer(s, merchant_id, "points_return", key, legs, now):
        return 0
    for lot_id, take in back:
        s.execute(update(PointsLot).where(PointsLot.id == lot_id).values(remaining=PointsLot.remaining + take))
    for lot_id, take in late:
        s.execute(update(PointsLot).where(PointsLot.id == lot_id).values(expired=PointsLot.expired + take))
    return moved
