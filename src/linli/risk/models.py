"""The signals behind a login, a binding or an order: one row per subject, every personal
value a keyed hash (``linli.edge.keyed``), the IP also as its /24 (/48) prefix."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime, utcnow

HASH = 64  # hex HMAC-SHA256


class RiskSignal(Base):
    """``subject_kind`` login (``subject_id``: the member.logged_in event), binding (the
    member.bound event; ``related_member_id`` the inviter) or order (the order id)."""

    __tablename__ = "risk_signals"
    __table_args__ = (
        UniqueConstraint("subject_kind", "subject_id", name="uq_risk_signals_subject"),
        Index("ix_risk_signals_member", "member_id", "subject_kind"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(BigId)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), nullable=True, index=True)  # none for a login
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    related_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    device_hash: Mapped[str | None] = mapped_column(String(HASH), nullable=True, index=True)
    ip_hash: Mapped[str | None] = mapped_column(String(HASH), nullable=True)
    ip_prefix: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone_hash: Mapped[str | None] = mapped_column(String(HASH), nullable=True, index=True)
    address_hash: Mapped[str | None] = mapped_column(String(HASH), nullable=True, index=True)
    payer_hash: Mapped[str | None] = mapped_column(String(HASH), nullable=True, index=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # when the subject happened (retention counts from it)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RiskRuleSet(Base):
    """One saved version of a merchant's rule set (``rule_set.SPEC`` values, complete)."""

    __tablename__ = "risk_rule_sets"
    __table_args__ = (UniqueConstraint("merchant_id", "version", name="uq_risk_rule_sets_version"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    version: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict] = mapped_column(JSON)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RiskAttribution(Base):
    """Who an order's commission went to, as risk saw it when the order was paid (the
    level-1 sharer and the leader), and whether it was refunded: what the velocity,
    refund-rate and single-sharer rules count. Covered by the signal retention."""

    __tablename__ = "risk_attributions"
    __table_args__ = (Index("ix_risk_attributions_sharer", "merchant_id", "sharer_id", "paid_at"),)

    order_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    sharer_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    bound_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # since when the buyer is bound to the sharer (None: not to them)
    paid_at: Mapped[datetime] = mapped_column(UTCDateTime)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class RiskCase(Base):
    """A sharer's case: it groups the decisions about them while it is open. ``open_key`` is
    the sharer's id while the case is open (NULL once closed), so a sharer has at most one
    open case per merchant. ``level`` follows the score; at hold or block the sharer's
    commission is held (``commission.holds``, reason ``risk:<id>``) until staff decide."""

    __tablename__ = "risk_cases"
    __table_args__ = (UniqueConstraint("merchant_id", "open_key", name="uq_risk_cases_open"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    open_key: Mapped[int | None] = mapped_column(BigId, nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # open | closed
    level: Mapped[str] = mapped_column(String(16))  # review | hold | block
    score: Mapped[int] = mapped_column(Integer, default=0)
    rule_version: Mapped[int] = mapped_column(Integer, default=0)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(16), nullable=True)  # release | claw_back | suspend
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    false_positive: Mapped[bool] = mapped_column(Boolean, default=False)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    amount: Mapped[int] = mapped_column(Integer, default=0)  # fen released or clawed back by the decision


class RiskDecision(Base):
    """One rule's finding about one member (the sharer, or a beneficiary of an order) on one
    subject (an order or a binding), with the rule-set version that made it. Unique per
    (rule, subject, member): a redelivered event decides nothing twice. ``evidence`` holds
    what a desk may show: the kinds shared and short masked hash prefixes, counts."""

    __tablename__ = "risk_decisions"
    __table_args__ = (UniqueConstraint("rule", "subject_kind", "subject_id", "member_id", name="uq_risk_decisions_subject"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("risk_cases.id"), nullable=True, index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    subject_kind: Mapped[str] = mapped_column(String(16))
    subject_id: Mapped[int] = mapped_column(BigId, index=True)
    rule: Mapped[str] = mapped_column(String(32))
    score: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    rule_version: Mapped[int] = mapped_column(Integer)
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RiskSnooze(Base):
    """A staff "false positive": ``rule`` does not fire for ``member_id`` until ``until``."""

    __tablename__ = "risk_snoozes"
    __table_args__ = (UniqueConstraint("merchant_id", "member_id", "rule", name="uq_risk_snoozes"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    rule: Mapped[str] = mapped_column(String(32))
    until: Mapped[datetime] = mapped_column(UTCDateTime)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("risk_cases.id"), nullable=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
