"""Payments (intents at the gateway), their refunds, the provider accounts they go through,
and the providers' daily bills reconciled against them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
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
    gateway: Mapped[str] = mapped_column(String(20))  # sandbox | wechatpay | alipay: who took (or takes) the money
    # How the buyer pays at that provider (wechat_jsapi | wechat_h5 | alipay_wap); None: the sandbox.
    method: Mapped[str | None] = mapped_column(String(16), nullable=True)
    gateway_ref: Mapped[str] = mapped_column(String(64), unique=True)
    # pending → succeeded | closed (never paid; the order was cancelled first)
    status: Mapped[str] = mapped_column(String(16), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    succeeded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    gateway_txn: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The account that took it (``accounts.account_key``: provider, mchid or app, sub-merchant);
    # None: the sandbox, or a payment opened before it was recorded (the current account).
    account_key: Mapped[str | None] = mapped_column(String(80), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # the provider refuses payment after it
    # When the query job asks the provider next (pending, or closed and maybe paid anyway); None: never.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)


class PaymentRefund(Base):
    __tablename__ = "payment_refunds"
    __table_args__ = (UniqueConstraint("payment_id", "request_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    amount: Mapped[int] = mapped_column(Integer)
    # What asked for it (e.g. "refund_case:12", "late_payment"): one refund per key.
    request_key: Mapped[str] = mapped_column(String(80))
    # processing (the provider accepted it; its notification or query settles it) → succeeded | failed
    status: Mapped[str] = mapped_column(String(16))
    gateway_ref: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # When the query job asks about it next while processing; None: a minute after it was made.
    next_check_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PaymentAccount(Base):
    """A WeChat Pay or Alipay account payments go through. ``merchant_id`` None is the
    platform's own (the WeChat Pay 服务商 / Alipay ISV account); a merchant's row is
    ``direct`` (its own keys) or ``partner`` (its ``sub_mchid`` / Alipay ``app_auth_token``,
    used with the platform account's keys). Secrets (private keys, the APIv3 key, the app
    auth token) are only in ``secrets_sealed`` (linli.vault, a JSON object) and shown again
    only by ``masks``."""

    __tablename__ = "payment_accounts"
    __table_args__ = (
        UniqueConstraint("merchant_id", "provider"),
        # NULLs are distinct in a unique constraint: the platform has one account per provider.
        Index("uq_payment_accounts_platform", "provider", unique=True, sqlite_where=text("merchant_id IS NULL"), postgresql_where=text("merchant_id IS NULL")),
        CheckConstraint("provider IN ('wechatpay', 'alipay')", name="payment_account_provider"),
        CheckConstraint("mode IN ('direct', 'partner')", name="payment_account_mode"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int | None] = mapped_column(ForeignKey("merchants.id"), nullable=True)
    provider: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16))
    # WeChat Pay: merchant (or 服务商) number, app, API certificate serial, platform public key id.
    mchid: Mapped[str] = mapped_column(String(32), default="")
    appid: Mapped[str] = mapped_column(String(32), default="")
    serial_no: Mapped[str] = mapped_column(String(64), default="")
    public_key_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    sub_mchid: Mapped[str] = mapped_column(String(32), default="")
    sub_appid: Mapped[str] = mapped_column(String(32), default="")
    # Alipay: the app; the provider's public key (WeChat Pay public key / 支付宝公钥), PEM.
    app_id: Mapped[str] = mapped_column(String(32), default="", index=True)
    public_key: Mapped[str] = mapped_column(Text, default="")
    secrets_sealed: Mapped[str] = mapped_column(Text)
    masks: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BillDay(Base):
    """One provider bill of one merchant's account for one day (China time), as reconciled:
    ``done`` (compared; its differences are in ``bill_differences``), ``failed`` (the
    provider was down or the file did not verify: tried again) or ``no_bill`` (the provider
    has none for a day Linli has money on: tried again until it comes)."""

    __tablename__ = "bill_days"
    __table_args__ = (UniqueConstraint("merchant_id", "provider", "bill_date"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    bill_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))  # done | failed | no_bill
    rows: Mapped[int] = mapped_column(Integer, default=0)  # bill rows read
    error: Mapped[str | None] = mapped_column(String(200), nullable=True)  # the last failure's stable code
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BillDifference(Base):
    """One difference between a provider's bill and Linli's books, open until finance
    resolves it with a note. ``kind``: ``missing`` (on one side only: ``side`` says which
    has it), ``amount`` (both, different amounts), ``status`` (both, one says paid or
    refunded and the other does not). One row per (day, subject, reference, kind)."""

    __tablename__ = "bill_differences"
    __table_args__ = (UniqueConstraint("merchant_id", "provider", "bill_date", "subject", "reference", "kind", name="uq_bill_differences_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    provider: Mapped[str] = mapped_column(String(16))
    bill_date: Mapped[date] = mapped_column(Date)
    subject: Mapped[str] = mapped_column(String(16))  # payment | refund
    reference: Mapped[str] = mapped_column(String(64))  # our out_trade_no / refund number
    kind: Mapped[str] = mapped_column(String(16))  # missing | amount | status
    side: Mapped[str | None] = mapped_column(String(16), nullable=True)  # missing: provider | linli (who has it)
    provider_amount: Mapped[int | None] = mapped_column(Integer, nullable=True)
    linli_amount: Mapped[int | None] = mapped_column(Integer, nullable=True)
    provider_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    linli_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)
