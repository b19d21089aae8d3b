"""Campaigns: live sessions, group-buy teams, community thresholds, flash sales, pre-sales.

Every kind sells through offers (a SKU at a campaign price, with an optional quota,
per-member limit and eligibility). Counters that must never be oversold — an offer's
``sold``, a member's count per offer, a team's ``seats_taken`` — move by compare-and-set
and carry CHECK constraints as the last guard.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime, utcnow


class Campaign(Base):
    __tablename__ = "campaigns"
    __table_args__ = (Index("ix_campaigns_merchant_kind", "merchant_id", "kind"), Index("ix_campaigns_open_ends", "ends_at", postgresql_where=text("status = 'active'"), sqlite_where=text("status = 'active'")))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    kind: Mapped[str] = mapped_column(String(16))  # live | team | threshold | flash | presale
    title: Mapped[str] = mapped_column(String(60))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | closing (threshold/pre-sale settling, see closing) | closed | cancelled
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)  # a pre-sale's cut-off
    # Members the ``ports.early_access`` port admits (社区推荐官's first access to trials)
    # enter and buy this many minutes before ``starts_at``; everyone else waits for it.
    early_access_minutes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # group-buy team
    team_size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    team_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    team_variant: Mapped[str | None] = mapped_column(String(16), nullable=True)  # standard | leader_free
    # community threshold: [[min_orders, off_per_order_fen], ...] ascending
    tiers: Mapped[list[Any] | None] = mapped_column(JSON, nullable=True)
    miss_policy: Mapped[str | None] = mapped_column(String(16), nullable=True)  # cancel | proceed
    # pre-sale
    promised_date: Mapped[date | None] = mapped_column(Date, nullable=True)
    promised_note: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # leader kit: the copy leaders forward to their groups
    kit_copy: Mapped[str] = mapped_column(Text, default="")
    created_by: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Offer(Base):
    """A SKU at a campaign price. ``community_id`` and ``leader_id`` restrict who may buy
    (a live session's community offer: 云顶华府, through 小李's code); ``quota`` caps units
    sold (a flash sale's stock, a live offer's "first 100")."""

    __tablename__ = "campaign_offers"
    __table_args__ = (
        CheckConstraint("sold >= 0", name="sold_not_negative"),
        CheckConstraint("quota IS NULL OR sold <= quota", name="sold_within_quota"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    sku_id: Mapped[int] = mapped_column(ForeignKey("skus.id"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    label: Mapped[str] = mapped_column(String(40), default="")
    price: Mapped[int] = mapped_column(Integer)
    quota: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sold: Mapped[int] = mapped_column(Integer, default=0)
    limit_per_member: Mapped[int | None] = mapped_column(Integer, nullable=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), nullable=True)
    leader_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class OfferCounter(Base):
    """Units of an offer a member holds in live orders (per-member limit, by compare-and-set)."""

    __tablename__ = "campaign_offer_counters"
    __table_args__ = (UniqueConstraint("offer_id", "member_id"), CheckConstraint("qty >= 0", name="qty_not_negative"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    offer_id: Mapped[int] = mapped_column(ForeignKey("campaign_offers.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    qty: Mapped[int] = mapped_column(Integer, default=0)


class CampaignOrderLine(Base):
    """What one order took from an offer, so a cancellation gives back exactly that."""

    __tablename__ = "campaign_order_lines"
    __table_args__ = (UniqueConstraint("order_id", "offer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"))
    offer_id: Mapped[int] = mapped_column(ForeignKey("campaign_offers.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    qty: Mapped[int] = mapped_column(Integer)
    gated: Mapped[bool] = mapped_column(default=False)  # taken through the Redis flash gate
    released: Mapped[bool] = mapped_column(default=False)


class CampaignEntry(Base):
    """A member's entry into a live room and the code they first came through (that code
    attributes their orders in this campaign)."""

    __tablename__ = "campaign_entries"
    __table_args__ = (UniqueConstraint("campaign_id", "member_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    invite_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    code_owner_id: Mapped[int | None] = mapped_column(ForeignKey("members.id"), nullable=True)
    visits: Mapped[int] = mapped_column(Integer, default=1)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Team(Base):
    """A group-buy team (拼团). Seats are taken by compare-and-set on ``seats_taken``."""

    __tablename__ = "campaign_teams"
    __table_args__ = (
        CheckConstraint("seats_taken >= 0 AND seats_taken <= size", name="seats_within_size"),
        CheckConstraint("paid_count >= 0 AND paid_count <= size", name="paid_within_size"),
        Index("ix_campaign_teams_forming_deadline", "deadline", postgresql_where=text("status = 'forming'"), sqlite_where=text("status = 'forming'")),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    opener_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    size: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default="forming")  # forming | succeeded | failed
    seats_taken: Mapped[int] = mapped_column(Integer, default=0)
    paid_count: Mapped[int] = mapped_column(Integer, default=0)
    deadline: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class TeamMember(Base):
    __tablename__ = "campaign_team_members"
    __table_args__ = (UniqueConstraint("team_id", "member_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    team_id: Mapped[int] = mapped_column(ForeignKey("campaign_teams.id"), index=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    is_opener: Mapped[bool] = mapped_column(default=False)
    paid: Mapped[bool] = mapped_column(default=False)
    joined_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ThresholdRebate(Base):
    """The tier difference paid back on one order at a threshold campaign's close (one
    row per order: running the close again pays nothing twice)."""

    __tablename__ = "campaign_threshold_rebates"

    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id"), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("communities.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # rebate | cancelled | none
    amount: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
