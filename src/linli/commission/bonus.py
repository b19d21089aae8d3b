"""Monthly tiered bonuses (月度阶梯奖励), computed at month close.

A sharer's month GMV is what buyers paid and were not refunded on the lines where the
sharer was level 1, counted for records settled that month (Asia/Shanghai). The highest
tier reached gives ``floor(GMV × bonus_bp / 10000)`` as an available bonus record with its
ledger transfer, once per sharer and month. Refunds after the close do not reopen it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from linli.commission import ledger
from linli.commission.ledger import COMMISSION_PAYABLE, SHARER_AVAILABLE, Leg
from linli.commission.models import CommissionRecord, RuleSetVersion
from linli.commission.service import current
from linli.db import Database
from linli.money import apply_bp_floor
from linli.orders import service as orders
from linli.timeutil import SHANGHAI


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


def close_month(db: Database, as_of: datetime) -> int:
    """Bonuses for the month before ``as_of``; idempotent (one transfer per sharer-month)."""
    start, end, label = previous_month(as_of)
    paid = 0
    with db.transaction() as s:
        merchants = list(s.scalars(select(RuleSetVersion.merchant_id).distinct()))
    for merchant_id in merchants:
        with db.transaction() as s:
            rs = current(s, merchant_id)
            if not rs.bonus_tiers:
                continue
            lines = (
                select(CommissionRecord.member_id, CommissionRecord.line_id)
                .where(CommissionRecord.merchant_id == merchant_id, CommissionRecord.level == 1, CommissionRecord.kind == "accrual",
                       CommissionRecord.settled_at >= start, CommissionRecord.settled_at < end)
                .distinct()
                .subquery()
            )
            pairs = s.execute(select(lines.c.member_id, lines.c.line_id)).all()
            amounts = orders.line_amounts(s, [line_id for _, line_id in pairs])
            gmv_by_member: dict[int, int] = {}
            for member_id, line_id in pairs:
                paid_, refunded = amounts[line_id]
                gmv_by_member[member_id] = gmv_by_member.get(member_id, 0) + paid_ - refunded
            for member_id, gmv in sorted(gmv_by_member.items()):
                bp = tier_bp(rs.bonus_tiers, int(gmv or 0))
                amount = apply_bp_floor(int(gmv), bp) if bp else 0
                if amount <= 0:
                    continue
                key = f"bonus:{merchant_id}:{member_id}:{label}"
                if ledger.transfer(s, merchant_id, "bonus", key, [Leg(COMMISSION_PAYABLE, None, -amount), Leg(SHARER_AVAILABLE, member_id, amount)], as_of):
                    s.add(CommissionRecord(merchant_id=merchant_id, order_id=None, line_id=None, member_id=member_id, level=1, kind="bonus", source=key, rate_bp=bp, base=int(gmv),
                                           amount=amount, state="available", rule_version=rs.version, created_at=as_of, settled_at=as_of))
                    paid += 1
    return paid
