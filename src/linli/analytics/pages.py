"""The console's dashboard: the merchant page opens on this week's figures (a section at
the top), and ``/console/merchants/{mid}/analytics`` shows the overview for today, 7 or 30
days or a chosen range — the figures of RULES.md, a daily chart drawn on the server, and
the contribution tables of communities, leaders and sharers, sortable by links. It works
without JavaScript; it reads the rollups through the replica session."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from linli.analytics import charts, member_reads, reads, rules
from linli.community import service as community
from linli.errors import DomainError, Invalid
from linli.i18n import N_
from linli.schema import Id
from linli.web import templating
from linli.web.console import MerchantView, merchant_section, merchant_view
from linli.web.deps import ReplicaDB
from linli.web.deps import router as deps_router
from linli.web.member import leader_block, share_block
from linli.web.pages import ConsoleWho, Page, PageDep, error_messages

router = deps_router(include_in_schema=False)

error_messages({
    "analytics.bad_range": N_("Choose a range of at most 366 days between 2000 and 2099 that starts before it ends."),
    "analytics.date_format": N_("Use a date like 2026-11-22."),
})

PERIODS = {"today": N_("Today"), "7d": N_("Last 7 days"), "30d": N_("Last 30 days")}
TABLES = {"community": N_("Communities"), "leader": N_("Leaders"), "sharer": N_("Sharers")}
TABLE_REPORTS = {"community": "communities", "leader": "leaders", "sharer": "sharers"}  # their export's report
SORT_NAMES = {"gmv": N_("GMV"), "orders": N_("Orders"), "new_members": N_("New members"), "refund_rate_bp": N_("Refund rate")}


@merchant_section(order=0)
def dashboard_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    """This week at a glance, on top of the merchant page."""
    start, end = rules.preset_range("7d", rules.local_day(page.ctx.now()))
    o = reads.overview(s, page.who, view.merchant.id, start, end)
    return Markup(templating.render("analytics/_section.html", {"page": page, "translations": page.translations, "view": view, "o": o}))


def _day(raw: str) -> date:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise Invalid("analytics.date_format", "Use a date like 2026-11-22.") from None


def _choice(page: Page) -> tuple[str, date, date, str]:
    """(period, start, end, sort) from the query: a preset, or from/to."""
    q = page.request.query_params
    raw_from, raw_to = (q.get("from") or "").strip()[:10], (q.get("to") or "").strip()[:10]
    sort = q.get("sort") if q.get("sort") in SORT_NAMES else "gmv"
    today = rules.local_day(page.ctx.now())
    if raw_from or raw_to:
        return "", *reads.asked_range(_day(raw_from) if raw_from else None, _day(raw_to) if raw_to else None, today), sort
    period = q.get("period") if q.get("period") in PERIODS else "7d"
    return period, *rules.preset_range(period, today), sort


@router.get("/console/merchants/{mid}/analytics")
def dashboard(mid: Id, page: PageDep, s: ReplicaDB, who: ConsoleWho) -> Response:
    view = merchant_view(s, who, mid)
    error = None
    try:
        period, start, end, sort = _choice(page)
    except DomainError as exc:
        error = exc
        period, sort = "7d", "gmv"
        start, end = rules.preset_range(period, rules.local_day(page.ctx.now()))
    o = reads.overview(s, who, mid, start, end)
    tables = {by: reads.contributions(s, who, mid, by, start, end, sort=sort, limit=20) for by in TABLES}
    here = {"period": period} if period else {"from": start.isoformat(), "to": end.isoformat()}
    sort_links = {k: "?" + urlencode({**here, "sort": k}) for k in SORT_NAMES}
    chart = charts.daily_chart(o.series, page._(N_("GMV and orders by day")))
    cohorts = reads.cohorts(s, who, mid, rules.local_day(page.ctx.now()))
    funnel_totals, funnel_rows = reads.funnel(s, who, mid, start, end, "sharer", limit=20)
    return page.render("analytics/dashboard.html", status=error.status if error else 200, error=error, view=view, o=o, tables=tables, table_names=TABLES,
                       table_reports=TABLE_REPORTS, periods=PERIODS, period=period, sort=sort, sort_names=SORT_NAMES, sort_links=sort_links, chart=chart,
                       cohorts=cohorts, ltv_months=reads.LTV_MONTHS, funnel_totals=funnel_totals, funnel_rows=funnel_rows)


# --- the member's side: the sharer centre's 我的业绩 and the leader desk's figures -----------


@share_block(order=5)
def sharer_block(page: Page, s: Session, merchant_id: int, member_id: int) -> Markup | None:
    f = member_reads.sharer_figures(s, merchant_id, member_id, rules.local_day(page.ctx.now()))
    return Markup(templating.render("analytics/_sharer_block.html", {"page": page, "translations": page.translations, "f": f}))


@leader_block(order=10)
def leader_figures_block(page: Page, s: Session, member_id: int) -> Markup | None:
    today = rules.local_day(page.ctx.now())
    merchants = sorted({c.merchant_id for c in community.communities_led_by(s, member_id)})
    figures = [(mid, f) for mid in merchants if (f := member_reads.leader_figures(s, mid, member_id, today)) is not None]
    if not figures:
        return None
    return Markup(templating.render("analytics/_leader_block.html", {"page": page, "translations": page.translations, "figures": figures}))
