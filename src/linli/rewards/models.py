"""Rewards' tables: coupon templates and coupons, points lots, the member balance rows the
ledger moves, stored-value top-ups and plans, member levels, and what an order used.

Balances are kernel ledger accounts (``rewards/accounts.py``); the rows here that carry a
balance (``RewardBalance``) move in the same transaction as their ledger entries."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, CheckConstraint, Date, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime, utcnow
from linli.rewards.rules import SETTINGS


class RewardSettings(Base):
    """Per-merchant knobs: how points are earned and expire (defaults and bounds:
    ``rules.SETTINGS``), the new-member coupon."""

    __tablename__ = "reward_settings"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    points_per_yuan: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("points_per_yuan"))
    points_expiry_years: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("points_expiry_years"))  # 0 = never
    new_member_template_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    birthday_template_id: Mapped[int | None] = mapped_column(BigId, nullable=True)  # for levels without their own


class CouponTemplate(Base):
    __tablename__ = "coupon_templates"
    __table_args__ = (
        CheckConstraint("issued >= 0 AND issued <= total", name="issued_within_total"),
        CheckConstraint("per_member >= 1", name="per_member_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(12))  # fixed | threshold | percent | gift
    amount: Mapped[int] = mapped_column(Integer, default=0)  # fen off (fixed, threshold)
    threshold: Mapped[int] = mapped_column(Integer, default=0)  # fen, 满 x
    percent_bp: Mapped[int] = mapped_column(Integer, default=0)
    cap: Mapped[int] = mapped_column(Integer, default=0)  # fen, 0 = no cap
    gift_sku_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    categories: Mapped[list[str]] = mapped_column(JSON, default=list)
    products: Mapped[list[int]] = mapped_column(JSON, default=list)
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    valid_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    total: Mapped[int] = mapped_column(Integer)
    per_member: Mapped[int] = mapped_column(Integer, default=1)
    claimable: Mapped[bool] = mapped_column(Boolean, default=True)  # members may claim it themselves
    issued: Mapped[int] = mapped_column(Integer, default=0)  # compare-and-set below total
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Coupon(Base):
    """One issued coupon. ``seq`` numbers a member's coupons of a template (1..per_member),
    so the unique (template, member, seq) holds the per-member limit under any concurrency;
    ``grant_key`` makes each grant (a claim, a birthday, a reward) happen once."""

    __tablename__ = "coupons"
    __table_args__ = (
        UniqueConstraint("template_id", "member_id", "seq"),
        Index("ix_coupons_member", "merchant_id", "member_id", "status"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("coupon_templates.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    seq: Mapped[int] = mapped_column(Integer)
    grant_key: Mapped[str] = mapped_column(String(120), unique=True)
    source: Mapped[str] = mapped_column(String(16))  # claim | staff | new_member | birthday | reward | automation
    status: Mapped[str] = mapped_column(String(10), default="unused")  # unused | locked | used | expired
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    order_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RewardBalance(Base):
    """A member's balances at one merchant, moved with their ledger entries (the ledger's
    ``BalanceBook`` for the points and stored-value accounts)."""

    __tablename__ = "reward_balances"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    points_pending: Mapped[int] = mapped_column(BigInteger, default=0)
    points_available: Mapped[int] = mapped_column(BigInteger, default=0)
    sv_principal: Mapped[int] = mapped_column(BigInteger, default=0)  # fen
    sv_bonus: Mapped[int] = mapped_column(BigInteger, default=0)  # fen
    # Principal a principal refund held back because bonus it had to forfeit was spent: paid
    # out when that bonus comes back (rewards/stored_value.py).
    sv_held_back: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")  # fen


class PointsLot(Base):
    """One grant of points (an order line's earning, a reward): pending until its order's
    after-sales window ends, then available until ``expires_at``; spends take from lots.

    A refund reverses part of ``amount`` (``reversed``, cumulative); a reversal of points
    already spent leaves ``remaining`` negative (a debt: redemption is blocked while the
    balance is negative, and later earnings pay it off first), and a reversal of points that
    expired takes them back from what ``expired`` recorded."""

    __tablename__ = "points_lots"
    __table_args__ = (Index("ix_points_lots_member", "merchant_id", "member_id", "state"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    key: Mapped[str] = mapped_column(String(120), unique=True)  # (merchant, member, reason, source)
    reason: Mapped[str] = mapped_column(String(16))  # order | ugc | referral | adjust
    order_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    line_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    amount: Mapped[int] = mapped_column(Integer)  # points granted
    remaining: Mapped[int] = mapped_column(Integer)  # not yet spent, reversed or expired; < 0: a debt
    reversed: Mapped[int] = mapped_column(Integer, default=0)  # of amount, by refunds of its line
    expired: Mapped[int] = mapped_column(Integer, default=0)  # points this lot lost to expiry (and not reversed since)
    state: Mapped[str] = mapped_column(String(10))  # pending | available | expired | reversed
    earned_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class OrderRewards(Base):
    """What an order used and the privileges in force when it was placed (RULES.md: recorded
    on each order), so payment, cancel and refunds act on exactly that."""

    __tablename__ = "order_rewards"

    order_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    coupon_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    coupon_off: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[int] = mapped_column(Integer, default=0)  # redeemed
    points_lots: Mapped[list[list[int]]] = mapped_column(JSON, default=list)  # [[lot id, points]] taken
    points_returned: Mapped[int] = mapped_column(Integer, default=0)
    sv_principal: Mapped[int] = mapped_column(Integer, default=0)
    sv_bonus: Mapped[int] = mapped_column(Integer, default=0)
    sv_returned: Mapped[int] = mapped_column(Integer, default=0)
    level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    privileges: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # {"discount_bp":…, "free_delivery":…}
    state: Mapped[str] = mapped_column(String(10), default="held")  # held | spent | released


class TopupPlan(Base):
    __tablename__ = "topup_plans"
    __table_args__ = (UniqueConstraint("merchant_id", "pay"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    pay: Mapped[int] = mapped_column(Integer)  # fen
    bonus: Mapped[int] = mapped_column(Integer)  # fen


class Topup(Base):
    """A member's top-up, paid through the gateway (a payment whose subject is "topup").
    pending → paid (principal and the plan's bonus credited) | refunded (the payment came
    when the top-up would pass the cap: it went back, nothing was credited) | closed."""

    __tablename__ = "topups"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    pay: Mapped[int] = mapped_column(Integer)
    bonus: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | paid | refunded | closed
    payment_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Principal of this top-up that has left it: paid out (or being paid out) to its payment,
    # or held back (below). The room left to pay out is ``pay - principal_out``, and its bonus
    # is forfeited in the share of ``principal_out`` less ``bonus_out`` (rewards/stored_value.py).
    principal_out: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    held_back: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # part of principal_out not paid out yet
    bonus_out: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # of its bonus, what has been forfeited (or held back for)


class StoredValuePayout(Base):
    """Principal paid back to one top-up's payment, asked of the gateway after the
    transaction that decided it (an order refund, a principal refund) has committed: the
    ``rewards.stored_value_payout_due`` event's handler calls the gateway with the key
    ``sv_payout:<id>``, so a retry asks for the same refund, and a gateway that refuses
    delays the payout (retried, logged) without undoing what decided it; finance can mark a
    payout the gateway will not take (a payment past its refund window) paid by hand.
    pending → paid."""

    __tablename__ = "sv_payouts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    topup_id: Mapped[int] = mapped_column(ForeignKey("topups.id"), index=True)
    payment_id: Mapped[int] = mapped_column(BigId)
    amount: Mapped[int] = mapped_column(Integer)  # fen
    reason: Mapped[str] = mapped_column(String(16))  # requested | over_cap | held_back
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("sv_refunds.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # pending | paid
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Paid by hand (the gateway cannot refund that payment any more): who marked it, and how.
    paid_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)


class StoredValueRefund(Base):
    """A member's principal refund at one merchant: the principal paid back through the
    gateway (against their top-up payments, newest first) and the bonus forfeited with it.
    Its id keys the ledger transfers and the gateway refunds, so each happens once."""

    __tablename__ = "sv_refunds"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    principal: Mapped[int] = mapped_column(Integer)  # fen paid back
    bonus_forfeited: Mapped[int] = mapped_column(Integer)  # fen
    payments: Mapped[list[list[int]]] = mapped_column(JSON, default=list)  # [[payment id, fen paid out to it]]
    # Principal not paid out because bonus due to be forfeited was spent (held on its top-ups,
    # ``Topup.held_back``); paid out later as the spent bonus comes back.
    held_back: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    reason: Mapped[str] = mapped_column(String(16), default="requested", server_default="requested")  # requested | over_cap
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MemberLevelDef(Base):
    __tablename__ = "member_levels"
    __table_args__ = (UniqueConstraint("merchant_id", "rank"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    rank: Mapped[int] = mapped_column(Integer)  # 0 = the lowest
    name: Mapped[str] = mapped_column(String(20))
    growth: Mapped[int] = mapped_column(BigInteger)
    discount_bp: Mapped[int] = mapped_column(Integer, default=0)
    free_delivery: Mapped[bool] = mapped_column(Boolean, default=False)
    birthday_coupon_template_id: Mapped[int | None] = mapped_column(BigId, nullable=True)


class MemberLevel(Base):
    """A member's level at a merchant: growth as last computed, the level in force, the
    yearly review at which a downgrade may take effect, and a pending notice."""

    __tablename__ = "member_level_states"
    __table_args__ = (Index("ix_member_level_states_review", "review_at"), Index("ix_member_level_states_updated", "updated_at"))

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    growth: Mapped[int] = mapped_column(BigInteger, default=0)
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    review_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notice_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class GrowthEntry(Base):
    """Growth a received order brought (what it paid, less its refunds), dated by receipt,
    so the rolling 365-day growth value is a sum over a window."""

    __tablename__ = "growth_entries"
    __table_args__ = (Index("ix_growth_entries_member", "merchant_id", "member_id", "received_at"),)

    order_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    amount: Mapped[int] = mapped_column(BigInteger)  # fen, lowered by refunds
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RewardJobRun(Base):
    """A daily job's sweep done for a Shanghai day (the nightly level recompute, the
    birthday coupons), so the ticks after it that day read this row and stop."""

    __tablename__ = "reward_job_runs"

    job: Mapped[str] = mapped_column(String(40), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    done_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
