"""A sharer's and a leader's own figures (``GET /me/dashboard``, the sharer centre and the
leader desk), from the rollups; the money by state is commission's own balance (its ledger
rollup), read through its service.

- Sharer: the sales their team brought this week and this month, by level (level 1: orders
  that came through them; level 2: through the people they invited), their commission by
  state, and the people they invited — masked phone, when they joined, orders and the last
  order's day (nothing else of a neighbour is shown).
- Leader: for each community they lead, GMV, orders and new members this week and month
  (Monday-based weeks and calendar months, Asia/Shanghai), and their commission by state.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from linli.analytics.models import AnalyticsDay, AnalyticsMember, AnalyticsMemberDay
from linli.commission import service as commission
from linli.community import service as community
from linli.identity import service as identity
from linli.identity.rules import mask_phone
from linli.referral import service as referral

DOWNLINE_SHOWN = 50


@dataclass(frozen=True)
class Sales:
    gmv: int  # finance GMV: paid by payment day, less refunds on the day paid back
    orders: int


@dataclass(frozen=True)
class Money:
    frozen: int
    available: int
    held: int
    withdrawn: int


@dataclass(frozen=True)
class Invitee:
    member_id: int
    phone_masked: str
    joined_day: date | None
    orders: int
    last_order_day: date | None


@dataclass(frozen=True)
class SharerFigures:
    week: list[Sales]  # by level, level 1 first
    month: list[Sales]
    money: Money
    invitees: list[Invitee]
    invitees_total: int


@dataclass(frozen=True)
class CommunityFigures:
    community_id: int
    name: str
    week: Sales
    month: Sales
    new_members_week: int
    new_members_month: int


@dataclass(frozen=True)
class LeaderFigures:
    communities: list[CommunityFigures]
    money: Money


def week_and_month(today: date) -> tuple[date, date]:
    return today - timedelta(days=today.weekday()), today.replace(day=1)


def _money(s: Session, merchant_id: int, member_id: int) -> Money:
    e = commission.earnings(s, member_id, merchant_id, limit=0)
    return Money(e.frozen, e.available, e.held, e.withdrawn)


def _sales(s: Session, merchant_id: int, col, ids: list[int], start: date, end: date) -> Sales:
    if not ids:
        return Sales(0, 0)
    g, r, n = s.execute(select(func.coalesce(func.sum(AnalyticsDay.gmv), 0), func.coalesce(func.sum(AnalyticsDay.refunds), 0), func.coalesce(func.sum(AnalyticsDay.orders), 0))
                        .where(AnalyticsDay.merchant_id == merchant_id, col.in_(ids), AnalyticsDay.day >= start, AnalyticsDay.day <= end)).one()
    return Sales(int(g) - int(r), int(n))


def sharer_figures(s: Session, merchant_id: int, member_id: int, today: date, levels: int = 2) -> SharerFigures:
    week, month = week_and_month(today)
    team = referral.team(s, identity.Principal(member_id, "", False), merchant_id, levels)
    tiers = [[member_id]] + team[:levels - 1]  # who brought level n's orders
    direct = team[0] if team else []
    shown = direct[-DOWNLINE_SHOWN:]  # the latest bindings
    rows = {m.member_id: m for m in s.scalars(select(AnalyticsMember).where(AnalyticsMember.merchant_id == merchant_id, AnalyticsMember.member_id.in_(shown)))} if direct else {}
    activity = dict((m, (int(n), last)) for m, n, last in s.execute(
        select(AnalyticsMemberDay.member_id, func.sum(AnalyticsMemberDay.orders), func.max(AnalyticsMemberDay.day))
        .where(AnalyticsMemberDay.merchant_id == merchant_id, AnalyticsMemberDay.member_id.in_(shown), AnalyticsMemberDay.orders > 0)
        .group_by(AnalyticsMemberDay.member_id))) if direct else {}
    phones = {i: mask_phone(m.phone) for i, m in identity.members_by_ids(s, shown).items()}
    invitees = [Invitee(i, phones.get(i, "****"), rows[i].joined_day if i in rows else None, activity.get(i, (0, None))[0], activity.get(i, (0, None))[1])
                for i in reversed(shown)]
    return SharerFigures(
        [_sales(s, merchant_id, AnalyticsDay.sharer_id, t, week, today) for t in tiers],
        [_sales(s, merchant_id, AnalyticsDay.sharer_id, t, month, today) for t in tiers],
        _money(s, merchant_id, member_id), invitees, len(direct),
    )


def _new_members(s: Session, merchant_id: int, community_id: int, start: date, end: date) -> int:
    return int(s.scalar(select(func.count()).select_from(AnalyticsMember).where(
        AnalyticsMember.merchant_id == merchant_id, AnalyticsMember.community_id == community_id, AnalyticsMember.joined_day >= start, AnalyticsMember.joined_day <= end)) or 0)


def leader_figures(s: Session, merchant_id: int, member_id: int, today: date) -> LeaderFigures | None:
    """None when the member leads no community of this merchant."""
    led = [c for c in community.communities_led_by(s, member_id) if c.merchant_id == merchant_id]
    if not led:
        return None
    week, month = week_and_month(today)
    out = [CommunityFigures(c.id, c.name, _sales(s, merchant_id, AnalyticsDay.community_id, [c.id], week, today), _sales(s, merchant_id, AnalyticsDay.community_id, [c.id], month, today),
                            _new_members(s, merchant_id, c.id, week, today), _new_members(s, merchant_id, c.id, month, today)) for c in led]
    return LeaderFigures(out, _money(s, merchant_id, member_id))
