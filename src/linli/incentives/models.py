"""Incentives' tables: referral programmes, the referrals they reward (pending → granted |
voided), the counters that hold the monthly cap and serialise milestones, the milestones
reached, and every reward given (what was asked, what the rewards domain granted, its cost).

Uniques do the once-only work: one referral per (programme, invitee), one milestone per
(programme, inviter, count), one reward per key. Incentives also keeps its own history of
an invitee's bindings (who invited them when, from ``member.bound``) and one row per
invitee that its order handlers lock to take turns. Leaderboards keep one score per member
per board (a rollup of the referred sales and granted referrals), and honours freeze a
closed period's boards once.

Badges (``badges.py``): the merchant's badge and starter-kit settings, the badges members
hold (one row per member and badge: held or revoked), one row per member that badge
evaluations lock to take turns, each nightly check's report, and the starter kit each sharer
received (once: the (merchant, member) key)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from linli.db import Base, BigId, UTCDateTime, utcnow
from linli.incentives import badge_rules
from linli.incentives.rules import SETTINGS, TRIGGER


class ReferralProgramme(Base):
    __tablename__ = "referral_programmes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    trigger: Mapped[str] = mapped_column(String(24), default=TRIGGER)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)  # ended early by staff
    min_paid: Mapped[int] = mapped_column(Integer)  # fen
    window_days: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("window_days"))
    monthly_cap: Mapped[int] = mapped_column(Integer, default=SETTINGS.default("monthly_cap"))
    # {kind, amount, template_id, sku_id} or null; a gift's template is made with the programme
    inviter_reward: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    invitee_reward: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    milestones: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)  # [{count, inviter_reward, invitee_reward}]
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ProgrammeReferral(Base):
    """One invitee's first received order under one programme."""

    __tablename__ = "programme_referrals"
    __table_args__ = (
        UniqueConstraint("programme_id", "invitee_id"),
        Index("ix_programme_referrals_inviter", "merchant_id", "inviter_id", "status"),
        Index("ix_programme_referrals_status", "status", "id"),  # the backstop job reads the pending ones
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("referral_programmes.id"), index=True)
    inviter_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    invitee_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    order_id: Mapped[int] = mapped_column(BigId, index=True)
    paid: Mapped[int] = mapped_column(Integer)  # fen, net of refunds when it qualified
    month: Mapped[str] = mapped_column(String(7))  # Asia/Shanghai YYYY-MM of the receipt: the cap's period
    status: Mapped[str] = mapped_column(String(10))  # pending | granted | voided
    void_reason: Mapped[str | None] = mapped_column(String(16), nullable=True)  # refunded | monthly_cap
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    granted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ProgrammeCap(Base):
    """Rewarded (pending or granted) referrals of an inviter in a month: a compare-and-set
    below the programme's monthly cap (``db.take_counter``); a void gives its place back."""

    __tablename__ = "programme_caps"
    __table_args__ = (UniqueConstraint("programme_id", "inviter_id", "month"), CheckConstraint("qty >= 0", name="cap_not_negative"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("referral_programmes.id"))
    inviter_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    month: Mapped[str] = mapped_column(String(7))
    qty: Mapped[int] = mapped_column(Integer, default=0)


class ProgrammeInviter(Base):
    """An inviter's granted referrals in a programme. Each grant increments it in one UPDATE
    (the row lock orders concurrent grants), so each grant knows its own rank: the one that
    makes it 3 reaches the 3-friends milestone, however many are granted at once."""

    __tablename__ = "programme_inviters"

    programme_id: Mapped[int] = mapped_column(ForeignKey("referral_programmes.id"), primary_key=True)
    inviter_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    granted: Mapped[int] = mapped_column(Integer, default=0)


class ProgrammeMilestone(Base):
    __tablename__ = "programme_milestones"
    __table_args__ = (UniqueConstraint("programme_id", "inviter_id", "count"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("referral_programmes.id"))
    inviter_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    count: Mapped[int] = mapped_column(Integer)
    referral_id: Mapped[int] = mapped_column(ForeignKey("programme_referrals.id"))  # the grant that reached it
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ProgrammeReward(Base):
    """One reward given to one member, through the rewards domain (its own keyed grant):
    ``granted`` is what that grant gave (points, fen of bonus — less than asked when the
    stored-value cap is near — or 1 coupon, 0 when the template could give none: ``failure``
    says why), ``value`` its cost to the merchant in fen (points and bonus at face; a coupon's
    amount off or its gift's price; a percent coupon 0, its cost known only when used)."""

    __tablename__ = "programme_rewards"
    __table_args__ = (Index("ix_programme_rewards_member", "merchant_id", "member_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    programme_id: Mapped[int] = mapped_column(ForeignKey("referral_programmes.id"), index=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("programme_referrals.id"), index=True)
    milestone_id: Mapped[int | None] = mapped_column(ForeignKey("programme_milestones.id"), nullable=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    side: Mapped[str] = mapped_column(String(8))  # inviter | invitee
    key: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    asked: Mapped[int] = mapped_column(Integer)
    granted: Mapped[int] = mapped_column(Integer)
    coupon_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    value: Mapped[int] = mapped_column(Integer)
    # why less than asked was granted: the rewards domain's refusal (coupon.sold_out, coupon.ended, …, stored_value.cap)
    failure: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InviteeBinding(Base):
    """One binding of an invitee as it was made (``member.bound``): referral keeps only the
    current one, and a referral goes to the inviter bound when the order was received."""

    __tablename__ = "incentive_bindings"
    __table_args__ = (Index("ix_incentive_bindings_invitee", "merchant_id", "invitee_id", "bound_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    invitee_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    inviter_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    bound_at: Mapped[datetime] = mapped_column(UTCDateTime)
    event_id: Mapped[int] = mapped_column(BigId, unique=True)  # the member.bound event: recorded once


class InviteeTurn(Base):
    """One row per (merchant, invitee): the receipt, completion and refund handlers of that
    invitee lock it first (``SELECT … FOR UPDATE``), so they take turns."""

    __tablename__ = "incentive_invitees"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    invitee_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)


class ReferredSale(Base):
    """A received order of a buyer someone brought (``incentives/sales.py``): whose sale it
    is, where, when it was received, and its net paid now (fen, refunds taken off)."""

    __tablename__ = "incentive_sales"
    __table_args__ = (Index("ix_incentive_sales_sharer", "merchant_id", "sharer_id", "received_at"),)

    order_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    sharer_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    buyer_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    community_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid: Mapped[int] = mapped_column(Integer)  # fen, what the order paid
    net: Mapped[int] = mapped_column(Integer)  # fen, paid less refunded now


class BoardScore(Base):
    """One member's score on one board (``incentives/boards.py``): the rollup leaderboards
    read, kept from the facts in their own transaction and rebuilt from them with no
    difference. ``reached_at`` is when the score last went up to what it is (to the
    second); ``version`` goes up with every change, so Redis never takes an older one."""

    __tablename__ = "incentive_board_scores"
    __table_args__ = (
        UniqueConstraint("merchant_id", "scope", "scope_id", "metric", "period", "period_start", "member_id", name="uq_incentive_board_scores_row"),
        Index("ix_incentive_board_scores_board", "merchant_id", "metric", "period", "period_start", "scope", "scope_id", "score"),
        Index("ix_incentive_board_scores_period", "period", "period_start", "merchant_id"),  # the honours job: who had a board in a closed period
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    scope: Mapped[str] = mapped_column(String(10))  # merchant | community
    scope_id: Mapped[int] = mapped_column(BigInteger)  # the community, 0 for the merchant
    metric: Mapped[str] = mapped_column(String(10))  # referrals | gmv
    period: Mapped[str] = mapped_column(String(5))  # week | month
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    score: Mapped[int] = mapped_column(BigInteger, default=0)  # friends, or fen
    reached_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class HonourClose(Base):
    """A merchant's period frozen into honours (written with its rows, once)."""

    __tablename__ = "incentive_honour_closes"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(5), primary_key=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    frozen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Honour(Base):
    """One member's place in a frozen honour (周度分享之星, 月度金牌分享官): the merchant's
    board of one metric as it stood when the period was frozen; never changed afterwards."""

    __tablename__ = "incentive_honours"
    __table_args__ = (UniqueConstraint("merchant_id", "period", "period_start", "metric", "member_id", name="uq_incentive_honours_member"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    period: Mapped[str] = mapped_column(String(5))
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    metric: Mapped[str] = mapped_column(String(10))
    position: Mapped[int] = mapped_column(Integer)  # 1.. in board order
    rank: Mapped[int] = mapped_column(Integer)  # competition rank (ties share it)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    score: Mapped[int] = mapped_column(BigInteger)
    reached_at: Mapped[datetime] = mapped_column(UTCDateTime)


class BadgeSettings(Base):
    """A merchant's badge thresholds (``badge_rules.SETTINGS``), its recommender group (what
    holders of 社区推荐官 see) and its starter kit (the coupon and the guide a new sharer gets)."""

    __tablename__ = "badge_settings"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True, autoincrement=False)
    recommender_referrals: Mapped[int] = mapped_column(Integer, default=badge_rules.SETTINGS.default("recommender_referrals"))
    gmv_bronze: Mapped[int] = mapped_column(Integer, default=badge_rules.SETTINGS.default("gmv_bronze"))
    gmv_silver: Mapped[int] = mapped_column(Integer, default=badge_rules.SETTINGS.default("gmv_silver"))
    gmv_gold: Mapped[int] = mapped_column(Integer, default=badge_rules.SETTINGS.default("gmv_gold"))
    group_name: Mapped[str] = mapped_column(String(40), default="")
    group_link: Mapped[str] = mapped_column(String(300), default="")
    group_text: Mapped[str] = mapped_column(String(200), default="")
    starter_template_id: Mapped[int | None] = mapped_column(BigId, nullable=True)  # a coupon template of the shop
    starter_guide: Mapped[str] = mapped_column(Text, default="")  # "" = the default guide
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MemberBadge(Base):
    """A badge a member holds (``held``) or held once (``revoked``): granted again, the row
    is held again with the new ``granted_at``. ``source`` says which path granted or revoked
    it last: the event that reached it, or the nightly backfill repairing a miss."""

    __tablename__ = "member_badges"
    __table_args__ = (UniqueConstraint("merchant_id", "member_id", "badge"), Index("ix_member_badges_holders", "merchant_id", "badge", "status"))

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"))
    badge: Mapped[str] = mapped_column(String(16))  # badge_rules.CODES
    status: Mapped[str] = mapped_column(String(8))  # held | revoked
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    source: Mapped[str] = mapped_column(String(8))  # event | backfill


class BadgeTurn(Base):
    """One row per (merchant, member): an evaluation of the member's badges locks it first,
    so two sales of one sharer handled at once never each miss the other's GMV."""

    __tablename__ = "badge_turns"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)


class BadgeCheck(Base):
    """One nightly backfill of one merchant (a Shanghai day): what it changed — the grants
    and revocations the events had missed (or a changed threshold asked for)."""

    __tablename__ = "badge_checks"
    __table_args__ = (UniqueConstraint("merchant_id", "day"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"))
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD, Asia/Shanghai
    ran_at: Mapped[datetime] = mapped_column(UTCDateTime)
    granted: Mapped[int] = mapped_column(Integer)
    revoked: Mapped[int] = mapped_column(Integer)
    changes: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [[member_id, badge, "granted" | "revoked"]], the first 200


class StarterKit(Base):
    """The 新手礼包 a member got on becoming an active sharer: once per (merchant, member),
    whatever reinstatements or replays follow. ``coupon_id`` the coupon the rewards domain
    granted (none when the shop had no starter coupon set; ``failure`` why it gave none)."""

    __tablename__ = "starter_kits"

    merchant_id: Mapped[int] = mapped_column(ForeignKey("merchants.id"), primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id"), primary_key=True)
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)
    template_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    coupon_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    failure: Mapped[str | None] = mapped_column(String(32), nullable=True)
    dismissed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
