"""Rule-set versions, commission records, sharer balances, withdrawals, settlement batches,
month closes, sharers' payout destinations and the sandbox payout wallet. The ledger tables are the kernel's (linli.ledger)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from linli.commission.rules import WITHDRAW_DAILY_COUNT
from linli.db import Base, BigId, UTCDateTime, utcnow


class RuleSetVersion(Base):
    __tablename__ = "commission_rule_sets"
    __table_args__ = (UniqueConstraint("merchant_id", "version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    levels: Mapped[int] = mapped_column(Integer)
    rates_bp: Mapped[list[int]] = mapped_column(JSON)
    leader_rate_bp: Mapped[int] = mapped_column(Integer)
    cap_bp: Mapped[int] = mapped_column(Integer)
    self_purchase: Mapped[bool] = mapped_column(Boolean)
    overrides: Mapped[dict[str, Any]] = mapped_column(JSON)  # {"category": {...}, "product": {...}, "campaign": {...}}
    # Monthly tiered bonuses: [[min settled GMV in fen, bonus bp], ...] ascending
    bonus_tiers: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    settlement: Mapped[str] = mapped_column(String(16))
    withdraw_min: Mapped[int] = mapped_column(Integer)
    withdraw_fee_bp: Mapped[int] = mapped_column(Integer)
    withdraw_auto_max: Mapped[int] = mapped_column(Integer)
    withdraw_daily_count: Mapped[int] = mapped_column(Integer, default=WITHDRAW_DAILY_COUNT)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Commission records are written once and updated a few times (settled, withdrawn); half
# of each page is left free so those updates stay on the page.
FILLFACTOR = 50


class CommissionRecord(Base):
    """One beneficiary's commission on one order line. ``amount`` is what they are owed
    now (after refunds); the state says where that money sits."""

    __tablename__ = "commission_records"
    __table_args__ = (
        UniqueConstraint("line_id", "member_id", "level", "source"),
        # No index covers a column the settlement batch changes (state, settled_at,
        # batch_id), and pages keep free space (fillfactor, migration 0006): on PostgreSQL
        # the batch's updates are heap-only (HOT) and touch no index at all. The batch finds
        # its records through ``commission_due`` instead.
        Index("ix_commission_records_member", "merchant_id", "member_id"),
        Index("ix_commission_records_withdrawal", "withdrawal_id", postgresql_where=text("withdrawal_id IS NOT NULL"), sqlite_where=text("withdrawal_id IS NOT NULL")),
        {"postgresql_with": {"fillfactor": FILLFACTOR}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), nullable=True, index=True)  # None for a monthly bonus
    line_id: Mapped[int | None] = mapped_column(ForeignKey("order_lines.id"), nullable=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    level: Mapped[int] = mapped_column(Integer)  # 1..3; 0 = leader
    kind: Mapped[str] = mapped_column(String(16), default="accrual")  # accrual | clawback | bonus
    source: Mapped[str] = mapped_column(String(64), default="accrual")  # what made it (unique per line and beneficiary)
    rate_bp: Mapped[int] = mapped_column(Integer)
    base: Mapped[int] = mapped_column(Integer)  # the line's paid amount at accrual
    amount: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # frozen | available | held | withdrawn | cancelled
    rule_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    withdrawal_id: Mapped[int | None] = mapped_column(ForeignKey("withdrawals.id"), nullable=True)
    # t_plus_1: when the order completed (the record is due at the next daily batch)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The settlement batch that moved it (no foreign key: a per-row check would double the
    # batch's cost; batches are never deleted).
    batch_id: Mapped[int | None] = mapped_column(BigId, nullable=True)


class OrderRuleVersion(Base):
    """The commission rule-set version in force when an order was paid (recorded for every
    paid order, with or without commission, so a later dispute can say which rules applied)."""

    __tablename__ = "commission_order_versions"

    order_id: Mapped[int] = mapped_column(BigId, ForeignKey("orders.id"), primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    rule_version: Mapped[int] = mapped_column(Integer)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CommissionDue(Base):
    """The T+1 queue: frozen records whose order completed, waiting for the daily batch.
    The batch deletes what it moves (a delete touches no index), so the queue only ever
    holds what is still to settle."""

    __tablename__ = "commission_due"

    record_id: Mapped[int] = mapped_column(BigId, ForeignKey("commission_records.id"), primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(BigId)
    member_id: Mapped[int] = mapped_column(BigId)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class SettlementTotal(Base):
    """What one settlement batch moved for one sharer: the source of the batch's ledger
    transfers and balance moves, and of the console's settlement history."""

    __tablename__ = "settlement_totals"

    batch_id: Mapped[int] = mapped_column(BigId, ForeignKey("settlement_batches.id"), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    member_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    records: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)


class SharerBalance(Base):
    """Frozen, available and held balances, changed only with their ledger transfer (and checked
    against the ledger by ``linli ledger check``); the row compare-and-set guards payouts."""

    __tablename__ = "sharer_balances"
    # Balances change on every accrual, settlement and withdrawal; free space keeps those
    # updates heap-only.
    __table_args__ = (UniqueConstraint("merchant_id", "member_id"), {"postgresql_with": {"fillfactor": 70}})

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    frozen: Mapped[int] = mapped_column(BigInteger, default=0)
    available: Mapped[int] = mapped_column(BigInteger, default=0)
    # Available money a hold took out of reach of withdrawals (``holds``), until released
    # or clawed back.
    held: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # How many hold / release / claw-back moves this sharer's money has had: each one bumps
    # it first (taking the row lock a withdrawal takes first too) and numbers its ledger key.
    hold_moves: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Withdrawal(Base):
    __tablename__ = "withdrawals"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    fee: Mapped[int] = mapped_column(Integer)
    net: Mapped[int] = mapped_column(Integer)
    # pending_review → approved → paying → paid | failed; pending_review → rejected.
    # ``paying`` is committed before the gateway is called; the reconcile job finishes a
    # withdrawal left there (withdrawals.reconcile).
    status: Mapped[str] = mapped_column(String(16), index=True)
    payout_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    failure: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    paying_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # when it went to the gateway
    # Who pays it: sandbox | wechatpay | alipay (the merchant's account), chosen when it is
    # asked for; None: before issue 17, the sandbox.
    rail: Mapped[str | None] = mapped_column(String(16), nullable=True)
    # A WeChat transfer waiting for the sharer to accept it: what wx.requestMerchantTransfer
    # takes (mchId, appId, package); cleared once the transfer is paid or failed.
    confirm: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)


class PayoutDestination(Base):
    """Where a sharer wants withdrawals paid: WeChat (their balance, by the openid of the
    shop's app) or Alipay (a login id — phone or e-mail — with the real name Alipay checks).
    The Alipay details are sealed (linli.vault) and shown again only as masks."""

    __tablename__ = "payout_destinations"

    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    prefer: Mapped[str] = mapped_column(String(16))  # wechat | alipay
    alipay_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)  # {"account", "name"}
    alipay_mask: Mapped[str] = mapped_column(String(64), default="")
    name_mask: Mapped[str] = mapped_column(String(32), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SettlementBatch(Base):
    """One atomic chunk of a t_plus_1 settlement run."""

    __tablename__ = "settlement_batches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    cutoff: Mapped[datetime] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    records: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)


class CommissionHold(Base):
    """A reason a sharer's commission is held (a suspension, a risk case ``risk:…``): while
    any row remains, settlement leaves their frozen records frozen and their available
    money sits in ``held`` (``holds``)."""

    __tablename__ = "commission_holds"
    __table_args__ = (UniqueConstraint("merchant_id", "member_id", "reason"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    reason: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MonthClose(Base):
    """A merchant's month closed for monthly bonuses: written in the same transaction as
    that month's bonuses, so a month is closed once and a later tick only reads this row."""

    __tablename__ = "commission_month_closes"
    __table_args__ = (UniqueConstraint("merchant_id", "month"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM (Asia/Shanghai)
    bonuses: Mapped[int] = mapped_column(Integer, default=0)
    amount: Mapped[int] = mapped_column(BigInteger, default=0)
    closed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SandboxTransfer(Base):
    """The sandbox payout provider's own book (what a remote wallet keeps on its side): one
    row per transfer number, written in a transaction of its own, so a transfer it accepted
    survives our crash and a retry with the same number finds it. No foreign key: the
    provider knows nothing of our tables."""

    __tablename__ = "sandbox_payouts"

    transfer_no: Mapped[str] = mapped_column(String(64), primary_key=True)
    member_id: Mapped[int] = mapped_column(BigId)
    amount: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16))  # paid | failed | processing
    ref: Mapped[str] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
