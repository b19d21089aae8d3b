"""Members (one person across merchants), merchants (tenants), staff, one-time codes."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime, utcnow


class Member(Base):
    __tablename__ = "members"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(11), unique=True)
    nickname: Mapped[str] = mapped_column(String(40), default="")
    birthday: Mapped[date | None] = mapped_column(Date, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Merchant(Base):
    __tablename__ = "merchants"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Staff(Base):
    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("merchant_id", "member_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OtpCode(Base):
    __tablename__ = "otp_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    phone: Mapped[str] = mapped_column(String(11), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PhoneGuard(Base):
    """Wrong-code counting and the lock that follows (kept in the database so it holds
    across API processes and restarts)."""

    __tablename__ = "phone_guards"

    phone: Mapped[str] = mapped_column(String(11), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class WechatApp(Base):
    """A WeChat app members log in through: a mini program (小程序) or an official account
    (公众号, for H5 inside WeChat). ``merchant_id`` None is the platform's own app (a SaaS
    deployment serving every shop from one mini program). The AppSecret is sealed by
    ``linli.vault``; only its mask is ever shown again."""

    __tablename__ = "wechat_apps"
    # One app of each kind per merchant, and one for the platform (a NULL merchant_id is
    # distinct from every other in a plain unique index, hence the two partial ones).
    __table_args__ = (
        Index("uq_wechat_apps_platform_kind", "kind", unique=True, postgresql_where=text("merchant_id IS NULL"), sqlite_where=text("merchant_id IS NULL")),
        Index("uq_wechat_apps_merchant_kind", "merchant_id", "kind", unique=True, postgresql_where=text("merchant_id IS NOT NULL"), sqlite_where=text("merchant_id IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), index=True, nullable=True)
    kind: Mapped[str] = mapped_column(String(20))  # mini_program | official_account
    appid: Mapped[str] = mapped_column(String(32), unique=True)
    secret_sealed: Mapped[str] = mapped_column(String(512))
    secret_mask: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WechatIdentity(Base):
    """An openid of one WeChat app bound to the member a phone identifies. JSAPI payment
    pays as this openid (it must be the openid of the app the payment names); the unionid,
    when WeChat gives one, ties the member's openids across the merchant's apps."""

    __tablename__ = "wechat_identities"
    __table_args__ = (UniqueConstraint("appid", "openid"), UniqueConstraint("member_id", "appid"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), index=True)
    appid: Mapped[str] = mapped_column(String(32))
    openid: Mapped[str] = mapped_column(String(64))
    unionid: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
