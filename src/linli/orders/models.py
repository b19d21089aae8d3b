"""Orders, their lines, the audit trail, purchase counters, refund cases, settings."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime, utcnow
from linli.orders.rules import SETTINGS


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (UniqueConstraint("pickup_point_id", "open_pickup_code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    subtotal: Mapped[int] = mapped_column(Integer)
    coupon: Mapped[int] = mapped_column(Integer, default=0)
    points_fen: Mapped[int] = mapped_column(Integer, default=0)
    stored_value: Mapped[int] = mapped_column(Integer, default=0)
    total_paid: Mapped[int] = mapped_column(Integer)  # Σ line paid
    payable: Mapped[int] = mapped_column(Integer)  # collected by the gateway
    refunded: Mapped[int] = mapped_column(Integer, default=0)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), nullable=True, index=True)
    pickup_point_id: Mapped[int | None] = mapped_column(ForeignKey("pickup_points.id"), nullable=True, index=True)
    address: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    delivery_distance_m: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pickup_code: Mapped[str | None] = mapped_column(String(6), nullable=True)
    open_pickup_code: Mapped[str | None] = mapped_column(String(6), nullable=True)  # set while the code is usable
    pickup_failures: Mapped[int] = mapped_column(Integer, default=0)
    campaign_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    team_id: Mapped[int | None] = mapped_column(BigId, nullable=True, index=True)
    invite_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    delivery_note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    handed_over_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # ready or out for delivery
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    cancel_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("refunded + refund_reserved <= paid", name="refund_within_paid"),
        CheckConstraint("qty > 0", name="qty_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    product_name: Mapped[str] = mapped_column(String(80))
    sku_name: Mapped[str] = mapped_column(String(60))
    category: Mapped[str] = mapped_column(String(40))
    qty: Mapped[int] = mapped_column(Integer)
    base_price: Mapped[int] = mapped_column(Integer)
    unit_price: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(Integer)
    coupon: Mapped[int] = mapped_column(Integer, default=0)
    points_fen: Mapped[int] = mapped_column(Integer, default=0)
    paid: Mapped[int] = mapped_column(Integer)
    refunded: Mapped[int] = mapped_column(Integer, default=0)
    refund_reserved: Mapped[int] = mapped_column(Integer, default=0)  # under open refund cases


class OrderAudit(Base):
    """Who changed what and when (append-only)."""

    __tablename__ = "order_audit"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    actor_member_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    actor_kind: Mapped[str] = mapped_column(String(16))  # member | staff | leader | system | gateway
    action: Mapped[str] = mapped_column(String(40))
    from_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(20), nullable=True)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PurchaseCounter(Base):
    """Units of a product a member holds in live orders, for per-member limits (changed by
    compare-and-set so concurrent orders of one member cannot pass the limit together)."""

    __tablename__ = "purchase_counters"
    __table_args__ = (UniqueConstraint("member_id", "product_id"), CheckConstraint("qty >= 0", name="qty_not_negative"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    qty: Mapped[int] = mapped_column(Integer, default=0)


class OrderSettings(Base):
    """Per-merchant order rules (defaults and bounds: ``rules.SETTINGS``)."""

    __tablename__ = "order_settings"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    unpaid_minutes: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("unpaid_minutes"))
    auto_confirm_days: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("auto_confirm_days"))
    after_sales_days: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("after_sales_days"))
    quick_refund_max: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("quick_refund_max"))  # fen; 0 turns 坏果包赔 off
    quick_refund_hours: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("quick_refund_hours"))
    delivery_radius_m: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("delivery_radius_m"))
    max_qty_per_line: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("max_qty_per_line"))


class RefundCase(Base):
    __tablename__ = "refund_cases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    status: Mapped[str] = mapped_column(String(16), index=True)  # requested|approved|rejected|refunded
    amount: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200))
    photos: Mapped[list[str]] = mapped_column(JSON, default=list)
    auto_approved: Mapped[bool] = mapped_column(default=False)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # A refund the system decided (a campaign's rebate, a failed team, a free order), not one a buyer asked for.
    by_system: Mapped[bool] = mapped_column(default=False, server_default=false())


class RefundCaseLine(Base):
    __tablename__ = "refund_case_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("refund_cases.id"), index=True)
    line_id: Mapped[int] = mapped_column(ForeignKey("order_lines.id"))
    amount: Mapped[int] = mapped_column(Integer)
