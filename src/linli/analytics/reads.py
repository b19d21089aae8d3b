"""What the dashboards show, read from the rollups only (never the orders), on the session
the caller gives: the read-replica session (``LINLI_DATABASE_REPLICA_URL``) for the console.

Every figure is one of RULES.md's definitions ("Analytics"), for a range of Shanghai days
``start``..``end`` inclusive:
- ``gmv``: paid by payment day, less refunds on the day they were paid back (finance);
- ``orders``: orders paid in the range; ``customers``: members who paid one;
- ``new_members``: members who joined in the range (see ``rules.joined_day``);
- distribution share: received orders' net paid brought by someone else ÷ all of it, by day
  of receipt (restated by later refunds);
- K-factor: new members whose first received order (in the range) someone else brought ÷
  members whose code was used in the range (a member bound through it, or an order came
  through it — an order through a binding alone uses no code);
- repurchase 30 / 90 days: of the customers with a received order in the window ending on
  ``end``, those with two or more;
- refund rate: what buyers asked back ÷ paid, of the orders paid in the range (restated on
  the order's day; a campaign's own refunds are not a buyer's: ``rules``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import Select, and_, case, func, select
from sqlalchemy.orm import Session

from linli.analytics import rules
from linli.analytics.models import AnalyticsCodeDay, AnalyticsDay, AnalyticsFunnelDay, AnalyticsMember, AnalyticsMemberDay
from linli.analytics.rules import NONE, KFactor
from linli.campaigns import service as campaigns
from linli.community import service as community
from linli.errors import Invalid
from linli.identity import service as identity
from linli.identity.rules import Permission, mask_phone
from linli.identity.service import Principal


@dataclass(frozen=True)
class DayPoint:
    day: date
    gmv: int
    orders: int


@dataclass(frozen=True)
class Overview:
    start: date
    end: date
    gmv: int
    orders: int
    customers: int
    new_members: int
    distribution_gmv_share_bp: int
    k_factor: KFactor
    repurchase_30d_bp: int
    repurchase_90d_bp: int
    refund_rate_bp: int
    series: list[DayPoint]


def check_range(start: date, end: date) -> None:
    try:
        rules.check_range(start, end)
    except rules.RangeError as exc:
        raise Invalid("analytics.bad_range", str(exc)) from None


def asked_range(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    try:
        return rules.asked_range(start, end, today)
    except rules.RangeError as exc:
        raise Invalid("analytics.bad_range", str(exc)) from None


def _days(merchant_id: int, start: date, end: date):
    return and_(AnalyticsDay.merchant_id == merchant_id, AnalyticsDay.day >= start, AnalyticsDay.day <= end)


def _sum(col):
    return func.coalesce(func.sum(col), 0)


def repurchase_bp(s: Session, merchant_id: int, end: date, days: int) -> int:
    start, end = rules.window(end, days)
    per_member = (select(func.sum(AnalyticsMemberDay.received_orders).label("n"))
                  .where(AnalyticsMemberDay.merchant_id == merchant_id, AnalyticsMemberDay.day >= start, AnalyticsMemberDay.day <= end, AnalyticsMemberDay.received_orders > 0)
                  .group_by(AnalyticsMemberDay.member_id).subquery())
    once, twice = s.execute(select(func.count(), _sum(case((per_member.c.n >= 2, 1), else_=0))).select_from(per_member)).one()
    return rules.bp(int(twice), int(once))


def k_factor(s: Session, merchant_id: int, start: date, end: date) -> KFactor:
    code_days = and_(AnalyticsCodeDay.merchant_id == merchant_id, AnalyticsCodeDay.day >= start, AnalyticsCodeDay.day <= end)
    sharers = set(s.scalars(select(AnalyticsCodeDay.sharer_id).where(code_days, AnalyticsCodeDay.invites > 0).distinct()))
    sharers |= set(s.scalars(select(AnalyticsDay.sharer_id).where(_days(merchant_id, start, end), AnalyticsDay.sharer_id != NONE, AnalyticsDay.code_orders > 0).distinct()))
    invites = s.scalar(select(_sum(AnalyticsCodeDay.invites)).where(code_days))
    converted = s.scalar(select(func.count()).select_from(AnalyticsMember).where(
        AnalyticsMember.merchant_id == merchant_id, AnalyticsMember.first_received_day >= start, AnalyticsMember.first_received_day <= end,
        AnalyticsMember.first_received_attributed.is_(True)))
    return rules.k_factor(len(sharers), int(invites), int(converted))


def overview(s: Session, who: Principal, merchant_id: int, start: date, end: date) -> Overview:
    identity.require_permission(s, who, merchant_id, Permission.view)
    check_range(start, end)
    where = _days(merchant_id, start, end)
    orders, gmv, refunds, asked_back, received_net, received_attributed = s.execute(select(
        _sum(AnalyticsDay.orders), _sum(AnalyticsDay.gmv), _sum(AnalyticsDay.refunds), _sum(AnalyticsDay.buyer_refunded_of_day),
        _sum(AnalyticsDay.received_net), _sum(AnalyticsDay.received_attributed_net)).where(where)).one()
    by_day = {d: (int(g) - int(r), int(n)) for d, g, r, n in s.execute(
        select(AnalyticsDay.day, _sum(AnalyticsDay.gmv), _sum(AnalyticsDay.refunds), _sum(AnalyticsDay.orders)).where(where).group_by(AnalyticsDay.day))}
    customers = s.scalar(select(func.count(func.distinct(AnalyticsMemberDay.member_id))).where(
        AnalyticsMemberDay.merchant_id == merchant_id, AnalyticsMemberDay.day >= start, AnalyticsMemberDay.day <= end, AnalyticsMemberDay.orders > 0))
    new_members = s.scalar(select(func.count()).select_from(AnalyticsMember).where(
        AnalyticsMember.merchant_id == merchant_id, AnalyticsMember.joined_day >= start, AnalyticsMember.joined_day <= end))
    return Overview(
        start, end, int(gmv) - int(refunds), int(orders), int(customers), int(new_members), rules.bp(int(received_attributed), int(received_net)),
        k_factor(s, merchant_id, start, end), repurchase_bp(s, merchant_id, end, 30), repurchase_bp(s, merchant_id, end, 90),
        rules.bp(int(asked_back), int(gmv)), [DayPoint(d, *by_day.get(d, (0, 0))) for d in rules.days_between(start, end)],
    )


# --- contribution tables ---------------------------------------------------------------------

BY = {"community": AnalyticsDay.community_id, "leader": AnalyticsDay.leader_id, "sharer": AnalyticsDay.sharer_id}
JOINED_BY = {"community": AnalyticsMember.community_id, "leader": AnalyticsMember.community_id, "sharer": AnalyticsMember.inviter_id}
SORTS = ("gmv", "orders", "new_members", "refund_rate_bp")


@dataclass(frozen=True)
class Contribution:
    id: int
    name: str
    gmv: int  # finance GMV (refunds on the day paid back)
    orders: int
    new_members: int
    refund_rate_bp: int


def _named(s: Session, who: Principal, merchant_id: int, by: str, ids: list[int]) -> dict[int, str]:
    if by == "community":
        return {c.id: c.name for c in community.list_communities(s, who, merchant_id) if c.id in set(ids)}
    return {i: (m.nickname or mask_phone(m.phone)) if by == "leader" else mask_phone(m.phone) for i, m in identity.members_by_ids(s, ids).items()}


def contributions(s: Session, who: Principal, merchant_id: int, by: str, start: date, end: date, *, sort: str = "gmv", limit: int = 100, offset: int = 0) -> list[Contribution]:
    """Each community, leader or sharer with figures in the range, best first by ``sort``.
    Sharers and leaders are shown by masked phone (a leader by nickname when set)."""
    identity.require_permission(s, who, merchant_id, Permission.view)
    check_range(start, end)
    col = BY[by]
    q: Select = (select(col, _sum(AnalyticsDay.gmv), _sum(AnalyticsDay.refunds), _sum(AnalyticsDay.orders), _sum(AnalyticsDay.buyer_refunded_of_day))
                 .where(_days(merchant_id, start, end), col != NONE).group_by(col))
    sums = {i: (int(g), int(r), int(n), int(rd)) for i, g, r, n, rd in s.execute(q)}
    jcol = JOINED_BY[by]
    joined = dict(s.execute(select(jcol, func.count()).where(
        AnalyticsMember.merchant_id == merchant_id, AnalyticsMember.joined_day >= start, AnalyticsMember.joined_day <= end, jcol != NONE).group_by(jcol)).all())
    if by == "leader":  # a leader's new members are those of the communities they lead now (as on the leader desk)
        led: dict[int, int] = {}
        for c in community.list_communities(s, who, merchant_id):
            if c.leader_member_id:
                led[c.leader_member_id] = led.get(c.leader_member_id, 0) + int(joined.get(c.id, 0))
        joined = led
    # A leader is one with sales in the range (anyone may have invited someone).
    ids = sorted(set(sums) | (set() if by == "leader" else set(joined)))
    rows = []
    for i in ids:
        g, r, n, rd = sums.get(i, (0, 0, 0, 0))
        rows.append(Contribution(i, "", g - r, n, int(joined.get(i, 0)), rules.bp(rd, g)))
    rows.sort(key=lambda c: (-getattr(c, sort), c.id))
    page = rows[offset:offset + limit]
    names = _named(s, who, merchant_id, by, [c.id for c in page])
    return [Contribution(c.id, names.get(c.id, f"#{c.id}"), c.gmv, c.orders, c.new_members, c.refund_rate_bp) for c in page]


# --- first-order cohorts -------------------------------------------------------------------

LTV_MONTHS = (1, 3, 6, 12)


@dataclass(frozen=True)
class Cohort:
    month: date  # the first day of the month of the members' first paid order
    members: int
    ltv: dict[int, int | None]  # n → cumulative net paid per member (fen, rounded half up) after n months; None until n months have passed


def cohorts(s: Session, who: Principal, merchant_id: int, today: date, months: int = 12) -> list[Cohort]:
    """The first-order cohorts of the last ``months`` months (this one included), newest
    first. Refunds are restated on the order's day, so a late refund lowers its cohort."""
    identity.require_permission(s, who, merchant_id, Permission.view)
    this_month = today.replace(day=1)
    first = rules.add_months(this_month, -(months - 1))
    sizes: dict[date, int] = {}
    for day, n in s.execute(select(AnalyticsMember.first_day, func.count()).where(AnalyticsMember.merchant_id == merchant_id, AnalyticsMember.first_day >= first)
                            .group_by(AnalyticsMember.first_day)):
        sizes[day.replace(day=1)] = sizes.get(day.replace(day=1), 0) + int(n)
    net: dict[tuple[date, int], int] = {}  # (cohort month, months after its start, 1-based) → fen
    q = (select(AnalyticsMember.first_day, AnalyticsMemberDay.day, func.sum(AnalyticsMemberDay.paid - AnalyticsMemberDay.refunded))
         .join(AnalyticsMemberDay, and_(AnalyticsMemberDay.merchant_id == AnalyticsMember.merchant_id, AnalyticsMemberDay.member_id == AnalyticsMember.member_id))
         .where(AnalyticsMember.merchant_id == merchant_id, AnalyticsMember.first_day >= first, AnalyticsMemberDay.orders > 0)
         .group_by(AnalyticsMember.first_day, AnalyticsMemberDay.day))
    for cohort_day, day, fen in s.execute(q):
        month = cohort_day.replace(day=1)
        after = (day.year - month.year) * 12 + day.month - month.month + 1  # spent in the cohort's month n (1: its own month)
        net[(month, after)] = net.get((month, after), 0) + int(fen or 0)
    out = []
    for i in range(months):
        month = rules.add_months(this_month, -i)
        size = sizes.get(month, 0)
        ltv: dict[int, int | None] = {}
        for n in LTV_MONTHS:
            if rules.add_months(month, n) > today + timedelta(days=1):
                ltv[n] = None  # the n months have not passed yet
            else:
                ltv[n] = rules.per_member(sum(v for (m, k), v in net.items() if m == month and k <= n), size)
        out.append(Cohort(month, size, ltv))
    return out


# --- the sharing funnel ----------------------------------------------------------------------

FUNNEL_BY = ("sharer", "campaign")


@dataclass(frozen=True)
class FunnelRow:
    id: int  # the sharer or the campaign; 0 in the totals
    name: str
    shares: int  # posters taken
    visits: int  # invite links opened
    orders: int  # orders placed that the sharer would be paid for
    paid: int  # of those, paid (on the day paid)
    received: int  # received (on the day received)


def funnel(s: Session, who: Principal, merchant_id: int, start: date, end: date, by: str = "sharer", limit: int = 100) -> tuple[FunnelRow, list[FunnelRow]]:
    """Share → visit → order → paid → received of the orders sharers bring, per sharer or per
    campaign, each stage counted on the day it happened (RULES.md's 7-day window is the
    invite's: the invite link's code waits a week for the visitor to log in and order; an
    order carries the code it came with, or the binding it made). The totals first, then the
    rows with the most visits."""
    identity.require_permission(s, who, merchant_id, Permission.view)
    check_range(start, end)
    fcol = AnalyticsFunnelDay.sharer_id if by == "sharer" else AnalyticsFunnelDay.campaign_id
    dcol = AnalyticsDay.sharer_id if by == "sharer" else AnalyticsDay.campaign_id
    first = {i: (int(a), int(b), int(c)) for i, a, b, c in s.execute(
        select(fcol, _sum(AnalyticsFunnelDay.shares), _sum(AnalyticsFunnelDay.visits), _sum(AnalyticsFunnelDay.placed))
        .where(AnalyticsFunnelDay.merchant_id == merchant_id, AnalyticsFunnelDay.day >= start, AnalyticsFunnelDay.day <= end, AnalyticsFunnelDay.sharer_id != NONE, fcol != NONE)
        .group_by(fcol))}
    later = {i: (int(a), int(b)) for i, a, b in s.execute(
        select(dcol, _sum(AnalyticsDay.orders), _sum(AnalyticsDay.received_orders))
        .where(_days(merchant_id, start, end), AnalyticsDay.sharer_id != NONE, dcol != NONE).group_by(dcol))}
    rows = [FunnelRow(i, "", *first.get(i, (0, 0, 0)), *later.get(i, (0, 0))) for i in set(first) | set(later)]
    totals = FunnelRow(0, "", *(sum(getattr(r, f) for r in rows) for f in ("shares", "visits", "orders", "paid", "received")))
    rows.sort(key=lambda r: (-r.visits, -r.paid, r.id))
    page = rows[:limit]
    if by == "sharer":
        names = {i: mask_phone(m.phone) for i, m in identity.members_by_ids(s, [r.id for r in page]).items()}
    else:
        names = {c.id: c.name for c in campaigns.list_campaigns(s, who, merchant_id, limit=1000)}
    return totals, [FunnelRow(r.id, names.get(r.id, f"#{r.id}"), r.shares, r.visits, r.orders, r.paid, r.received) for r in page]
