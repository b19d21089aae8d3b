"""The signals behind a login, a binding or an order: one row per subject, every personal
value a keyed hash (``linli.edge.keyed``), the IP also as its /24 (/48) prefix."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
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
