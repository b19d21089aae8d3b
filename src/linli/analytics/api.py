"""The analytics endpoints (API.md "Analytics"): a merchant's overview and contribution
tables for a range of Shanghai days, read from the rollups on the replica session."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date
from typing import Annotated, Literal

from fastapi import Query
from fastapi.responses import StreamingResponse

from linli.analytics import exports, member_reads, reads, rules
from linli.analytics.schemas import CohortOut, ContributionOut, FunnelOut, FunnelRowOut, MyDashboardOut, OverviewOut
from linli.identity import service as identity
from linli.schema import Id
from linli.web.deps import Now, ReplicaDB, Who
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["analytics"])
From = Annotated[date | None, Query(alias="from", description="First day (Asia/Shanghai), default: 6 days before `to`")]
To = Annotated[date | None, Query(alias="to", description="Last day (Asia/Shanghai), default: today")]
Period = Annotated[Literal["today", "7d", "30d"] | None, Query(description="Instead of from/to: today, the last 7 or 30 days")]


def day_range(start: date | None, end: date | None, period: str | None, now) -> tuple[date, date]:
    """The days asked for: a preset period, or from/to (each defaulting around today)."""
    today = rules.local_day(now)
    if period:
        return rules.preset_range(period, today)
    return reads.asked_range(start, end, today)


@router.get("/merchants/{mid}/analytics/overview", response_model=OverviewOut, responses=PROBLEMS)
def overview(mid: Id, s: ReplicaDB, who: Who, now: Now, start: From = None, end: To = None, period: Period = None) -> OverviewOut:
    o = reads.overview(s, who, mid, *day_range(start, end, period, now))
    k = o.k_factor
    return OverviewOut.model_validate({**asdict(o), "k_factor": {**asdict(k), "value": k.value, "invites_per_sharer": k.invites_per_sharer}})


def _table(by: str):
    def table(mid: Id, s: ReplicaDB, who: Who, now: Now, start: From = None, end: To = None, period: Period = None,
              sort: Annotated[Literal["gmv", "orders", "new_members", "refund_rate_bp"], Query()] = "gmv",
              limit: Annotated[int, Query(ge=1, le=500)] = 100, offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0) -> list[ContributionOut]:
        rows = reads.contributions(s, who, mid, by, *day_range(start, end, period, now), sort=sort, limit=limit, offset=offset)
        return [ContributionOut.model_validate(asdict(r)) for r in rows]

    table.__name__ = f"{by}_contributions"
    return table


for _by, _path in (("community", "communities"), ("leader", "leaders"), ("sharer", "sharers")):
    router.get(f"/merchants/{{mid}}/analytics/{_path}", response_model=list[ContributionOut], responses=PROBLEMS, summary=f"Contribution per {_by}")(_table(_by))


@router.get("/me/dashboard", response_model=MyDashboardOut, responses=PROBLEMS)
def my_dashboard(s: ReplicaDB, who: Who, now: Now, merchant_id: Annotated[Id, Query()]) -> MyDashboardOut:
    """The caller's own figures at a merchant: their team's sales by level, commission by
    state and invitees (masked); a leader's communities too."""
    identity.public_merchant(s, merchant_id)
    today = rules.local_day(now)
    week, month = member_reads.week_and_month(today)
    sharer = member_reads.sharer_figures(s, merchant_id, who.member_id, today)
    leader = member_reads.leader_figures(s, merchant_id, who.member_id, today)
    return MyDashboardOut.model_validate({"merchant_id": merchant_id, "week_start": week, "month_start": month, "sharer": asdict(sharer), "leader": asdict(leader) if leader else None})


@router.get("/merchants/{mid}/analytics/funnel", response_model=FunnelOut, responses=PROBLEMS)
def funnel(mid: Id, s: ReplicaDB, who: Who, now: Now, start: From = None, end: To = None, period: Period = None,
           by: Annotated[Literal["sharer", "campaign"], Query()] = "sharer", limit: Annotated[int, Query(ge=1, le=500)] = 100) -> FunnelOut:
    """Share → visit → order → paid → received of what sharers bring, per sharer or campaign."""
    first, last = day_range(start, end, period, now)
    totals, rows = reads.funnel(s, who, mid, first, last, by, limit)
    return FunnelOut(start=first, end=last, by=by, totals=FunnelRowOut.model_validate(asdict(totals)), rows=[FunnelRowOut.model_validate(asdict(r)) for r in rows])


@router.get("/merchants/{mid}/analytics/cohorts", response_model=list[CohortOut], responses=PROBLEMS)
def cohorts(mid: Id, s: ReplicaDB, who: Who, now: Now, months: Annotated[int, Query(ge=1, le=24)] = 12) -> list[CohortOut]:
    """First-order cohorts of the last ``months`` months, newest first, with LTV per member
    after 1, 3, 6 and 12 months (null until that many months have passed)."""
    return [CohortOut(month=c.month, members=c.members, ltv={str(n): v for n, v in c.ltv.items()}) for c in reads.cohorts(s, who, mid, rules.local_day(now), months)]


@router.get("/merchants/{mid}/analytics/export", responses={**PROBLEMS, 200: {"content": {"text/csv": {}, exports.XLSX: {}}}}, response_class=StreamingResponse)
def export(mid: Id, s: ReplicaDB, who: Who, now: Now, report: Annotated[Literal["daily", "communities", "leaders", "sharers", "cohorts", "funnel"], Query()],
           format: Annotated[Literal["csv", "xlsx"], Query()] = "csv", start: From = None, end: To = None, period: Period = None) -> StreamingResponse:
    """A dashboard table as CSV (streamed) or XLSX, with the numbers the screen shows."""
    first, last = day_range(start, end, period, now)
    t = exports.table(s, who, mid, report, first, last, rules.local_day(now))
    name = f"linli-{mid}-{report}-{first.isoformat()}-{last.isoformat()}.{format}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if format == "csv":
        return StreamingResponse(exports.csv_chunks(t), media_type="text/csv; charset=utf-8", headers=headers)
    return StreamingResponse(exports.file_chunks(exports.xlsx_path(t)), media_type=exports.XLSX, headers=headers)
