"""A member's wallet at one merchant: points (available, pending, expiring soon), stored
value (principal and bonus), level and coupons — read in one place for the API and page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.identity import service as identity
from linli.rewards import accounts, levels, rules, stored_value
from linli.rewards.models import Coupon, PointsLot


@dataclass(frozen=True)
class Wallet:
    points_available: int
    points_pending: int
    expiring: list[tuple[int, datetime]]  # (points, expires_at) within the reminder window, soonest first
    sv_principal: int
    sv_bonus: int
    sv_held_back: int  # principal a refund held back until spent bonus comes back
    sv_paying_out: int  # principal decided to be paid back that the gateway has not paid yet
    level_name: str | None
    growth: int
    next_at: int | None  # growth at which the next level starts
    coupons_unused: int


def of(s: Session, member_id: int, merchant_id: int, now: datetime) -> Wallet:
    identity.public_merchant(s, merchant_id)
    b = accounts.balance(s, merchant_id, member_id)
    soon = now + rules.EXPIRY_REMINDER
    q = (select(PointsLot.expires_at, func.sum(PointsLot.remaining))
         .where(PointsLot.merchant_id == merchant_id, PointsLot.member_id == member_id, PointsLot.state == "available", PointsLot.remaining > 0, PointsLot.expires_at <= soon)
         .group_by(PointsLot.expires_at).order_by(PointsLot.expires_at))
    expiring = [(int(n), at) for at, n in s.execute(q)]
    unused = s.scalar(select(func.count()).select_from(Coupon).where(Coupon.merchant_id == merchant_id, Coupon.member_id == member_id, Coupon.status == "unused",
                                                                     (Coupon.valid_to.is_(None)) | (Coupon.valid_to > now))) or 0
    lv = levels.progress(s, merchant_id, member_id, now)
    return Wallet(b.points_available, b.points_pending, expiring, b.sv_principal, b.sv_bonus, b.sv_held_back, stored_value.paying_out(s, merchant_id, member_id), lv.name, lv.growth, lv.next_at, unused)
