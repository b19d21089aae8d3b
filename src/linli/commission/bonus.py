"""Monthly tiered bonuses (月度阶梯奖励), computed at month close.

A sharer's month GMV is what buyers paid and were not refunded on the lines where the
sharer was level 1, counted for records settled that month (Asia/Shanghai). The highest
tier reached gives ``floor(GMV × bonus_bp / 10000)`` as an available bonus record with its
ledger transfer (held instead while the sharer is under a hold), once per sharer and month.
Lines whose commission was clawed back count for nothing. Refunds after the close do not
reopen it.

Each merchant-month is closed once: a ``commission_month_closes`` row is written in the
same transaction as that merchant's bonuses (a rival closer waits on its unique key, then
finds it taken), so the job's later ticks find nothing to close with one query and scan
nothing. The month's lines are read in chunks of ``CHUNK`` line ids, walked in id order,
and their amounts come from the orders service a chunk at a time: no statement carries
more than ``CHUNK`` parameters, however many lines the month had.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from linli import ledger
from linli.commission import accounts, holds
from linli.commission.accounts import COMMISSION_PAYABLE
from linli.commission.models import CommissionRecord, MonthClose, RuleSetVersion
from linli.commission.versions import current
from linli.db import Database, insert_ignore
from linli.ledger import Leg
from linli.money import apply_bp_floor
from linli.orders import service as orders
from linli.timeutil import SHANGHAI

log = logging.getLogger("linli.commission.bonus")


def tier_bp(tiers: list[list[int]], gmv: int) -> int:
    """The bonus rate of the highest tier ``gmv`` reaches (0 below the first)."""
    best = 0
    for min_gmv, bp in sorted(tiers):
        if gmv >= min_gmv:
            best = bp
    return best


def previous_month(as_of: datetime) -> tuple[datetime, datetime, str]:
    local = as_of.astimezone(SHANGHAI)
    end = local.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = (end.replace(year=end.year - 1, month=12) if end.month == 1 else end.replace(month=end.month - 1))
    return start.astimezone(as_of.tzinfo), end.astimezone(as_of.tzinfo), f"{start.year:04d}-{start.month:02d}"


# Line ids per lookup in orders: far below SQLite's 32,766 and PostgreSQL's 65,535
# parameters per statement.
CHUNK = 5_000


def _month_gmv(s: Session, merchant_id: int, start: datetime, end: datetime) -> dict[int, int]:
    """Level-1 sharer → paid minus refunded on the lines of their records settled in
    [start, end), chunk by chunk. A line counts once per sharer (a record split by a
    withdrawal is two records of one line)."""
    month = (CommissionRecord.merchant_id == merchant_id, CommissionRecord.level == 1, CommissionRecord.kind == "accrual",
             CommissionRecord.settled_at >= start, CommissionRecord.settled_at < end, CommissionRecord.state != "cancelled")
    gmv: dict[int, int] = {}
    after = 0
    while True:
        ids = list(s.scalars(select(CommissionRecord.line_id).where(*month, CommissionRecord.line_id > after).distinct().order_by(CommissionRecord.line_id).limit(CHUNK)))
        if not ids:
            return gmv
        amounts = orders.line_amounts(s, ids)
        pairs = s.execute(select(CommissionRecord.member_id, CommissionRecord.line_id).where(*month, CommissionRecord.line_id.between(ids[0], ids[-1])).distinct())
        for member_id, line_id in pairs:
            paid, refunded = amounts[line_id]
            gmv[member_id] = gmv.get(member_id, 0) + paid - refunded
        if len(ids) < CHUNK:
            return gmv
        after = ids[-1]


def _close(s: Session, merchant_id: int, start: datetime, end: datetime, label: str, as_of: datetime) -> int:
    """Close one merchant-month (its bonuses and its closing row, in the caller's
    transaction); 0 if it was already closed."""
    claim = insert_ignore(s, MonthClose, {"merchant_id": merchant_id, "month": label, "bonuses": 0, "amount": 0, "closed_at": as_of}, ["merchant_id", "month"])
    close_id = s.execute(claim.returning(MonthClose.id)).scalar()
    if close_id is None:
        return 0
    rs = current(s, merchant_id)
    paid = total = 0
    for member_id, gmv in sorted(_month_gmv(s, merchant_id, start, end).items() if rs.bonus_tiers else ()):
        bp = tier_bp(rs.bonus_tiers, gmv)
        amount = apply_bp_floor(gmv, bp) if bp else 0
        if amount <= 0:
            continue
        key = f"bonus:{merchant_id}:{member_id}:{label}"
        accounts.lock_balances(s, {(merchant_id, member_id)})
        state, account = holds.landing(s, merchant_id, member_id)
        if ledger.transfer(s, merchant_id, "bonus", key, [Leg(COMMISSION_PAYABLE, None, -amount), Leg(account, member_id, amount)], as_of):
            s.add(CommissionRecord(merchant_id=merchant_id, order_id=None, line_id=None, member_id=member_id, level=1, kind="bonus", source=key, rate_bp=bp, base=gmv,
                                   amount=amount, state=state, rule_version=rs.version, created_at=as_of, settled_at=as_of))
            paid, total = paid + 1, total + amount
    s.execute(update(MonthClose).where(MonthClose.id == close_id).values(bonuses=paid, amount=total))
    s.flush()
    return paid


# A month closes one day after it ends: an order completed in its last seconds settles by
# an event that may still be waiting in the outbox (a backlog, a retry, a worker restart)
# and is stamped with the completion time, so it must still find its month open.
CLOSE_GRACE = timedelta(days=1)


def close_month(db: Database, as_of: datetime) -> int:
    """Bonuses for the last month that ended at least ``CLOSE_GRACE`` before ``as_of``,
    each merchant-month once (one transaction per merchant; one that fails is logged and
    tried again at the next tick without holding the others back); returns how many
    bonuses were paid."""
    start, end, label = previous_month(as_of - CLOSE_GRACE)
    closed = exists().where(MonthClose.merchant_id == RuleSetVersion.merchant_id, MonthClose.month == label)
    with db.transaction() as s:  # the cheap check: once the month is closed, this is all a tick does
        merchants = list(s.scalars(select(RuleSetVersion.merchant_id).where(~closed).distinct().order_by(RuleSetVersion.merchant_id)))
    paid = 0
    for merchant_id in merchants:
        try:
            with db.transaction() as s:
                paid += _close(s, merchant_id, start, end, label, as_of)
        except Exception:
            log.exception("closing %s for merchant %s failed; tried again at the next tick", label, merchant_id)
    return paid
