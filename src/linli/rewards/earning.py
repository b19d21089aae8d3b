"""Points earned on orders (RULES.md "Points"): granted per line when the order is received
(pending), available when its after-sales window closes, reversed per line by refunds —
never skipped: points already spent leave the balance negative — and debts paid off by
later earnings first.

Each grant is a lot keyed ``(merchant, member, "order", line)`` and each movement one ledger
transfer with a unique key, in the same transaction as the lot change, so a redelivered or
replayed event has one effect and ``ledger check`` (lots' remaining == balances) holds:

- earn ``points:earn:{order}:{line}``      points_issued → points_pending
- release ``points:available:{order}``     points_pending → points_available
- reverse ``points:reverse:{order}:{line}:{case}``   points_pending (or points_available, and
  points_expired for what had expired) → points_issued

A member's handlers serialise on their balance row (``lock_points``): a refund
handled before the grant's transaction commits is then counted by the grant (which reads the
line's refunded amount as it is now), and one handled after it finds the lot.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli import ledger
from linli.db import insert_ignore
from linli.ledger import Leg
from linli.orders import service as orders
from linli.orders.events import OrderCompleted, OrderReceived, OrderRefunded
from linli.rewards import accounts, rules
from linli.rewards.models import PointsLot, RewardBalance, RewardSettings

ORDER = "order"


def settings_of(s: Session, merchant_id: int) -> RewardSettings:
    row = s.get(RewardSettings, merchant_id)
    return row if row is not None else RewardSettings(merchant_id=merchant_id, **rules.SETTINGS.defaults())


def lot_key(merchant_id: int, member_id: int, reason: str, source: int) -> str:
    return f"{merchant_id}:{member_id}:{reason}:{source}"


def lock_points(s: Session, merchant_id: int, member_id: int, order_id: int | None = None) -> None:
    """Lock what a movement of the member's points may touch — their available lots that
    hold points or a debt, the order's lots, then their balance row — in the order a
    checkout's redemption takes them (lots oldest-expiry first, then the balance), so the two
    never deadlock. A member's points handlers serialise on the balance row."""
    cond = (PointsLot.state == "available") & (PointsLot.remaining != 0)
    if order_id is not None:
        cond = cond | ((PointsLot.order_id == order_id) & (PointsLot.reason == ORDER))
    s.execute(select(PointsLot.id).where(PointsLot.merchant_id == merchant_id, PointsLot.member_id == member_id, cond)
              .order_by(PointsLot.expires_at.is_(None), PointsLot.expires_at, PointsLot.id).with_for_update())
    accounts.ensure_balance(s, merchant_id, member_id)
    s.execute(select(RewardBalance.member_id).where(RewardBalance.merchant_id == merchant_id, RewardBalance.member_id == member_id).with_for_update())


def _order_lots(s: Session, order_id: int, state: str | None = None) -> list[PointsLot]:
    q = select(PointsLot).where(PointsLot.order_id == order_id, PointsLot.reason == ORDER).order_by(PointsLot.id).with_for_update().execution_options(populate_existing=True)
    if state is not None:
        q = q.where(PointsLot.state == state)
    return list(s.scalars(q))


def grant(s: Session, p: OrderReceived, now: datetime) -> int:
    """Each line's points as a pending lot (less what refunds already took back). Once per
    line; returns the points granted now."""
    lock_points(s, p.merchant_id, p.member_id)
    rate = settings_of(s, p.merchant_id).points_per_yuan
    current = orders.line_amounts(s, [ln.line_id for ln in p.lines])
    granted = 0
    for ln in p.lines:
        earned = rules.points_for_paid(ln.paid, rate)
        if earned <= 0:
            continue
        refunded = max(ln.refunded, current.get(ln.line_id, (ln.paid, 0))[1])
        gone = rules.points_to_reverse(earned, ln.paid, 0, refunded)
        net = earned - gone
        row = {"merchant_id": p.merchant_id, "member_id": p.member_id, "key": lot_key(p.merchant_id, p.member_id, ORDER, ln.line_id), "reason": ORDER, "order_id": p.order_id,
               "line_id": ln.line_id, "amount": earned, "remaining": net, "reversed": gone, "expired": 0, "state": "pending" if net else "reversed", "earned_at": p.received_at}
        if s.execute(insert_ignore(s, PointsLot, row, ["key"]).returning(PointsLot.id)).scalar() is None:
            continue  # granted before
        ledger.transfer(s, p.merchant_id, "points_earn", f"points:earn:{p.order_id}:{ln.line_id}", [Leg(accounts.POINTS_ISSUED, None, -net), Leg(accounts.POINTS_PENDING, p.member_id, net)], now)
        granted += net
    if granted and orders.member_order(s, p.member_id, p.order_id).order.status == "completed":
        release(s, p.merchant_id, p.member_id, p.order_id, now)  # the window closed before this grant ran
    s.flush()
    return granted


def release(s: Session, merchant_id: int, member_id: int, order_id: int, now: datetime) -> int:
    """The order's pending lots become available (the after-sales window closed), each
    expiring at the end of the year after it was earned (the merchant's setting); then they
    pay off any debt first. Once per order; returns the points released."""
    lots = _order_lots(s, order_id, "pending")
    total = sum(lot.remaining for lot in lots)
    if not lots or not ledger.transfer(s, merchant_id, "points_release", f"points:available:{order_id}", [Leg(accounts.POINTS_PENDING, member_id, -total), Leg(accounts.POINTS_AVAILABLE, member_id, total)], now):
        return 0
    years = settings_of(s, merchant_id).points_expiry_years
    for lot in lots:
        lot.state = "available"
        lot.expires_at = rules.points_expire_at(lot.earned_at, years)
    s.flush()
    settle_debts(s, merchant_id, member_id)
    return total


def on_completed(s: Session, p: OrderCompleted, now: datetime) -> int:
    lock_points(s, p.merchant_id, p.member_id, p.order_id)
    return release(s, p.merchant_id, p.member_id, p.order_id, now)


def reverse_refund(s: Session, p: OrderRefunded, now: datetime) -> int:
    """Each refunded line takes back its lot's points up to the cumulative floor of what the
    line has refunded in all (so parts add up to exactly what it earned, whatever order the
    refunds are handled in). Returns the points reversed now."""
    lock_points(s, p.merchant_id, p.member_id, p.order_id)
    lines = {ln.line_id: ln for ln in p.lines}
    lots = {lot.line_id: lot for lot in _order_lots(s, p.order_id)}
    total = 0
    for rl in p.refund.lines:
        ln, lot = lines.get(rl.line_id), lots.get(rl.line_id)
        if ln is None or lot is None:
            continue  # not received yet: the grant counts this refund
        n = rules.points_to_reverse(lot.amount, ln.paid, 0, ln.refunded) - lot.reversed
        if n > 0 and _reverse(s, lot, n, f"points:reverse:{p.order_id}:{rl.line_id}:{p.refund.case_id}", now):
            total += n
    if total:
        s.flush()
        settle_debts(s, p.merchant_id, p.member_id)
    return total


def _reverse(s: Session, lot: PointsLot, n: int, key: str, now: datetime) -> bool:
    """Take ``n`` points of ``lot`` back to points_issued: from pending, or from available —
    below zero if they were spent — and from expired for what expired."""
    if lot.state == "reversed":  # nothing left to take (it cannot owe more than it earned)
        return False
    if lot.state == "pending":
        from_expired, rest = 0, n
        legs = [Leg(accounts.POINTS_PENDING, lot.member_id, -n), Leg(accounts.POINTS_ISSUED, None, n)]
    else:
        from_expired = min(n, lot.expired)
        rest = n - from_expired
        legs = [Leg(accounts.POINTS_AVAILABLE, lot.member_id, -rest), Leg(accounts.POINTS_EXPIRED, None, -from_expired), Leg(accounts.POINTS_ISSUED, None, n)]
    if not ledger.transfer(s, lot.merchant_id, "points_reverse", key, legs, now):
        return False
    lot.reversed += n
    lot.expired -= from_expired
    lot.remaining -= rest
    if lot.state == "pending" and lot.remaining == 0:
        lot.state = "reversed"
    elif lot.state == "expired" and rest:
        lot.state = "available"  # it now carries the debt of points spent before they expired
    return True


def settle_debts(s: Session, merchant_id: int, member_id: int) -> None:
    """Pay negative available lots off with the member's available points (no balance moves,
    only which lot holds them)."""
    lots = list(s.scalars(select(PointsLot).where(PointsLot.merchant_id == merchant_id, PointsLot.member_id == member_id, PointsLot.state == "available", PointsLot.remaining != 0)
                          .order_by(PointsLot.id).with_for_update().execution_options(populate_existing=True)))
    if not any(lot.remaining < 0 for lot in lots):
        return
    by_id = {lot.id: lot for lot in lots}
    for src, dst, n in rules.net_debts(rules.Lot(lot.id, lot.remaining, lot.expires_at) for lot in lots):
        by_id[src].remaining -= n
        by_id[dst].remaining += n
    s.flush()


REFERRAL = "referral"


def grant_reward(s: Session, merchant_id: int, member_id: int, points: int, source: str, now: datetime) -> int:
    """A reward's points (a referral programme's, RULES.md "Points ... on referral rewards"):
    one lot keyed ``(merchant, member, "referral", source)``, available at once (the reward
    is only given once the order behind it is past its after-sales window) and expiring like
    earned points; one transfer points_issued → points_available keyed ``points:reward:{source}``.
    Once per ``source``; returns the points granted now (0 on a repeat)."""
    if points <= 0:
        return 0
    lock_points(s, merchant_id, member_id)
    years = settings_of(s, merchant_id).points_expiry_years
    row = {"merchant_id": merchant_id, "member_id": member_id, "key": f"{merchant_id}:{member_id}:{REFERRAL}:{source}", "reason": REFERRAL, "order_id": None, "line_id": None,
           "amount": points, "remaining": points, "reversed": 0, "expired": 0, "state": "available", "earned_at": now, "expires_at": rules.points_expire_at(now, years)}
    if s.execute(insert_ignore(s, PointsLot, row, ["key"]).returning(PointsLot.id)).scalar() is None:
        return 0
    ledger.transfer(s, merchant_id, "points_reward", f"points:reward:{source}", [Leg(accounts.POINTS_ISSUED, None, -points), Leg(accounts.POINTS_AVAILABLE, member_id, points)], now)
    s.flush()
    settle_debts(s, merchant_id, member_id)
    return points
