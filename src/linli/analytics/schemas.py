"""The analytics endpoints' shapes (API.md "Analytics"): fen, basis points, Shanghai days."""

from __future__ import annotations

from datetime import date

from linli.schema import Output


class KFactorOut(Output):
    value: str  # new members converted ÷ sharers whose code was used, exact decimal text ("1.25")
    invites_per_sharer: str  # the same, of invites ÷ sharers
    value_bp: int  # the same two in basis points (10000 = 1)
    invites_per_sharer_bp: int
    conversion_bp: int
    sharers: int
    invites: int
    converted: int


class DayOut(Output):
    day: date
    gmv: int
    orders: int


class OverviewOut(Output):
    start: date  # the range shown, Shanghai days, both included
    end: date
    gmv: int
    orders: int
    customers: int
    new_members: int
    distribution_gmv_share_bp: int
    k_factor: KFactorOut
    repurchase_30d_bp: int
    repurchase_90d_bp: int
    refund_rate_bp: int
    series: list[DayOut]


class ContributionOut(Output):
    id: int
    name: str
    gmv: int
    orders: int
    new_members: int
    refund_rate_bp: int


class SalesOut(Output):
    gmv: int
    orders: int


class MoneyOut(Output):
    frozen: int
    available: int
    held: int
    withdrawn: int


class InviteeOut(Output):
    member_id: int
    phone_masked: str
    joined_day: date | None
    orders: int
    last_order_day: date | None


class SharerDashboardOut(Output):
    week: list[SalesOut]  # by level, level 1 first
    month: list[SalesOut]
    money: MoneyOut
    invitees: list[InviteeOut]  # the 50 latest
    invitees_total: int


class CommunityFiguresOut(Output):
    community_id: int
    name: str
    week: SalesOut
    month: SalesOut
    new_members_week: int
    new_members_month: int


class LeaderDashboardOut(Output):
    communities: list[CommunityFiguresOut]
    money: MoneyOut


class MyDashboardOut(Output):
    merchant_id: int
    week_start: date
    month_start: date
    sharer: SharerDashboardOut
    leader: LeaderDashboardOut | None  # only for a leader of one of the merchant's communities


class CohortOut(Output):
    month: date  # the first day of the first-order month
    members: int
    ltv: dict[str, int | None]  # "1", "3", "6", "12" → fen per member, null until that many months passed


class FunnelRowOut(Output):
    id: int
    name: str
    shares: int
    visits: int
    orders: int
    paid: int
    received: int


class FunnelOut(Output):
    start: date
    end: date
    by: str
    totals: FunnelRowOut
    rows: list[FunnelRowOut]
