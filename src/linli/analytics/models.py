"""Analytics' tables: a lock row per merchant, the facts each paid order was last counted with, the rollups kept
from them, and each customer's firsts at a merchant.

- ``analytics_orders``: one row per paid order — who brought it (recorded once, when it is
  first counted: a later rebinding does not move past sales), where it went, and the money
  facts it was last counted with. Restating an order subtracts these and adds the new ones.
- ``analytics_days``: sums per (merchant, Shanghai day, community, leader, sharer,
  campaign); 0 stands for none, so the key is unique on both databases.
- ``analytics_member_days``: sums per (merchant, member, day): customers, repurchase and
  cohort LTV read them.
- ``analytics_members``: a member's firsts at a merchant: when they joined (bound by a link
  or chose a community: ``arrived_day``; or first paid: ``first_day``), their first received
  order and whether someone else brought it (the K-factor), who invited them and where.
- ``analytics_code_days``: per (merchant, sharer, day), the members bound through the
  sharer's code — the invites of the K-factor (and a code used that day).
- ``analytics_funnel_days``: the funnel's shares, visits and orders placed per sharer and
  campaign, from referral's ``code.shared`` / ``code.visited`` and orders' ``order.created``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, Index, Integer, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime

_SUM = {"default": 0, "server_default": "0"}


class AnalyticsMerchant(Base):
    """One row per merchant with rollups: restatements take it shared, a rebuild exclusively."""

    __tablename__ = "analytics_merchants"

    merchant_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    rebuilt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AnalyticsOrder(Base):
    __tablename__ = "analytics_orders"
    __table_args__ = (Index("ix_analytics_orders_member", "merchant_id", "member_id"),)

    order_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(BigId)
    member_id: Mapped[int] = mapped_column(BigId)
    community_id: Mapped[int] = mapped_column(BigId)
    leader_id: Mapped[int] = mapped_column(BigId)
    sharer_id: Mapped[int] = mapped_column(BigId)
    campaign_id: Mapped[int] = mapped_column(BigId)
    attributed: Mapped[bool] = mapped_column(Boolean)
    paid_day: Mapped[date] = mapped_column(Date)
    paid: Mapped[int] = mapped_column(Integer)
    received_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    refunds: Mapped[str] = mapped_column(Text, default="")  # "YYYY-MM-DD:fen[:s];…", oldest first (":s": the system's own refund)
    via_code: Mapped[bool] = mapped_column(Boolean, default=False)  # through the sharer's own code
    counted: Mapped[bool] = mapped_column(Boolean, default=False)  # these facts are in the rollups


class AnalyticsDay(Base):
    __tablename__ = "analytics_days"
    __table_args__ = (
        UniqueConstraint("merchant_id", "day", "community_id", "leader_id", "sharer_id", "campaign_id", name="uq_analytics_days_key"),
        Index("ix_analytics_days_sharer", "merchant_id", "sharer_id", "day"),
        Index("ix_analytics_days_leader", "merchant_id", "leader_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(BigId)
    day: Mapped[date] = mapped_column(Date)
    community_id: Mapped[int] = mapped_column(BigId)
    leader_id: Mapped[int] = mapped_column(BigId)
    sharer_id: Mapped[int] = mapped_column(BigId)
    campaign_id: Mapped[int] = mapped_column(BigId)
    orders: Mapped[int] = mapped_column(Integer, **_SUM)
    code_orders: Mapped[int] = mapped_column(Integer, **_SUM)  # of them, through the sharer's own code
    gmv: Mapped[int] = mapped_column(Integer, **_SUM)
    refunds: Mapped[int] = mapped_column(Integer, **_SUM)
    refunded_of_day: Mapped[int] = mapped_column(Integer, **_SUM)
    buyer_refunded_of_day: Mapped[int] = mapped_column(Integer, **_SUM)  # of it, what buyers asked back
    refund_orders: Mapped[int] = mapped_column(Integer, **_SUM)
    received_orders: Mapped[int] = mapped_column(Integer, **_SUM)
    received_net: Mapped[int] = mapped_column(Integer, **_SUM)
    received_attributed_net: Mapped[int] = mapped_column(Integer, **_SUM)


class AnalyticsMemberDay(Base):
    __tablename__ = "analytics_member_days"
    __table_args__ = (UniqueConstraint("merchant_id", "member_id", "day", name="uq_analytics_member_days_key"), Index("ix_analytics_member_days_day", "merchant_id", "day"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(BigId)
    member_id: Mapped[int] = mapped_column(BigId)
    day: Mapped[date] = mapped_column(Date)
    orders: Mapped[int] = mapped_column(Integer, **_SUM)
    paid: Mapped[int] = mapped_column(Integer, **_SUM)
    refunded: Mapped[int] = mapped_column(Integer, **_SUM)
    received_orders: Mapped[int] = mapped_column(Integer, **_SUM)


class AnalyticsMember(Base):
    __tablename__ = "analytics_members"
    __table_args__ = (
        UniqueConstraint("merchant_id", "member_id", name="uq_analytics_members_key"),
        Index("ix_analytics_members_joined", "merchant_id", "joined_day"),
        Index("ix_analytics_members_received", "merchant_id", "first_received_day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(BigId)
    member_id: Mapped[int] = mapped_column(BigId)
    inviter_id: Mapped[int] = mapped_column(BigId, **_SUM)  # who bound them first (0: nobody)
    community_id: Mapped[int] = mapped_column(BigId, **_SUM)  # the community they chose, else their first order's
    arrived_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    first_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    joined_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    first_received_day: Mapped[date | None] = mapped_column(Date, nullable=True)
    first_received_attributed: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")


class AnalyticsCodeDay(Base):
    __tablename__ = "analytics_code_days"
    __table_args__ = (UniqueConstraint("merchant_id", "sharer_id", "day", name="uq_analytics_code_days_key"), Index("ix_analytics_code_days_day", "merchant_id", "day"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(BigId)
    sharer_id: Mapped[int] = mapped_column(BigId)
    day: Mapped[date] = mapped_column(Date)
    invites: Mapped[int] = mapped_column(Integer, **_SUM)


class AnalyticsFunnelDay(Base):
    """The funnel's first stages per (merchant, day, sharer, campaign): posters taken
    (``shares``), invite links opened (``visits``) and orders placed that the sharer would be
    paid for (``placed``). Its later stages (paid, received) are the day rows'."""

    __tablename__ = "analytics_funnel_days"
    __table_args__ = (UniqueConstraint("merchant_id", "day", "sharer_id", "campaign_id", name="uq_analytics_funnel_days_key"), Index("ix_analytics_funnel_days_day", "merchant_id", "day"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(BigId)
    day: Mapped[date] = mapped_column(Date)
    sharer_id: Mapped[int] = mapped_column(BigId)
    campaign_id: Mapped[int] = mapped_column(BigId)
    shares: Mapped[int] = mapped_column(Integer, **_SUM)
    visits: Mapped[int] = mapped_column(Integer, **_SUM)
    placed: Mapped[int] = mapped_column(Integer, **_SUM)
