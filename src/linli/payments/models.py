"""Payments (intents at the gateway), their refunds, and received callbacks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime, utcnow

ORDER = "order"  # the subject of an order's payment


class Payment(Base):
    """Money asked of a member at the gateway, for a subject: an order (``order_id``) or
    another domain's thing named by ``subject`` and ``subject_id`` (rewards' ``topup``).
    Payments knows nothing of those subjects; its success event names them, and the
    subject's owner reacts."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint("refunded <= amount", name="refund_within_amount"),
        CheckConstraint(
            "(subject = 'order' AND order_id IS NOT NULL AND subject_id IS NULL) OR (subject <> 'order' AND order_id IS NULL AND subject_id IS NOT NULL)",
            name="payment_subject",
        ),
        Index("ix_payments_subject", "subject", "subject_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), index=True, nullable=True)
    subject: Mapped[str] = mapped_column(String(16), default=ORDER, server_default=ORDER)  # order | topup | …
    subject_id: Mapped[int | None] = mapped_column(BigId, nullable=True)  # the subject's id when it is not an order
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    amount: Mapped[int] = mapped_column(Integer)
    refunded: Mapped[int] = mapped_column(Integer, default=0)
    gateway: Mapped[str] = mapped_column(String(20))
    gateway_ref: Mapped[str] = mapped_column(String(64), unique=True)
    # pending → succeeded | closed (never paid; the order was cancelled first)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    gateway_txn: Mapped[str | None] = mapped_column(String(64), nullable=True)


class PaymentRefund(Base):
    __tablename__ = "payment_refunds"
    __table_args__ = (UniqueConstraint("payment_id", "request_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    # What asked for it (e.g. "refund_case:12", "late_payment"): one refund per key.
    request_key: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # succeeded | failed
    gateway_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
