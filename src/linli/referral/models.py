"""Invite codes, bindings (who invited whom, per merchant), sharers, referral settings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime, utcnow
from linli.referral.rules import SETTINGS


class InviteCode(Base):
    __tablename__ = "invite_codes"
    __table_args__ = (UniqueConstraint("merchant_id", "member_id", "kind", "campaign_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    code: Mapped[str] = mapped_column(String(8), unique=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="personal")  # personal | campaign
    campaign_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Binding(Base):
    __tablename__ = "bindings"
    __table_args__ = (UniqueConstraint("merchant_id", "invitee_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    invitee_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    inviter_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    via_code: Mapped[str | None] = mapped_column(String(8), nullable=True)
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rebinds: Mapped[int] = mapped_column(Integer, default=0)


class Sharer(Base):
    __tablename__ = "sharers"
    __table_args__ = (UniqueConstraint("merchant_id", "member_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # applied | active | suspended | rejected
    note: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ReferralSettings(Base):
    __tablename__ = "referral_settings"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    # Defaults and bounds: ``rules.SETTINGS``.
    bind_mode: Mapped[str] = mapped_column(String(16), default=SETTINGS.default("bind_mode"))
    protection_days: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("protection_days"))
    sharer_mode: Mapped[str] = mapped_column(String(32), default=SETTINGS.default("sharer_mode"))
    spend_threshold: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("spend_threshold"))  # fen
    session_attribution: Mapped[bool] = mapped_column(Boolean, default=SETTINGS.default("session_attribution"))
