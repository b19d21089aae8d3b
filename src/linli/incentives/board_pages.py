"""Leaderboard pages: the member H5's board of this week or month (``/m/boards/{mid}``: tabs
for the period and the metric, a community filter when the shop has communities, the
viewer's own place), the shop's frozen honours (``/m/honours/{mid}``), the sharer centre's
我的榜单 section (``share_block``: the member's rank and score on this week's and this
month's boards, of the shop and of their community) and the shop page's card linking the
board (``shop_block``) — and the console merchant page's honours section. Public like the
shop: nicknames and masked phones only, members under a risk hold left out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Query
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy.orm import Session

from linli.commission import service as commission
from linli.community import service as community
from linli.i18n import N_
from linli.identity import service as identity
from linli.incentives import board_rules, boards, honours
from linli.incentives.board_rules import BoardKey, Metric, Period, Scope, label, period_end, period_start
from linli.money import format_yuan
from linli.schema import Id
from linli.timeutil import local_time
from linli.web import templating
from linli.web.console import MerchantView, merchant_section
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.member import share_block, shop_block
from linli.web.pages import Page, PageDep, error_messages

router = deps_router(include_in_schema=False)

error_messages(
    {
        "leaderboard.period_invalid": N_("Choose this week or this month."),
        "leaderboard.metric_invalid": N_("Choose friends invited or referred sales."),
        "leaderboard.at_invalid": N_("Enter a time like 2026-11-22T10:00:00+08:00."),
        "leaderboard.at_out_of_range": N_("Dates fall in the years 2000 to 2100."),
        "honours.not_closed": N_("This period has not closed yet: its honours are frozen once it closes."),
        "honours.not_frozen": N_("No honours were frozen for this period."),
    }
)

PERIODS = {Period.week: N_("This week"), Period.month: N_("This month")}
METRICS = {Metric.gmv: N_("Referred sales"), Metric.referrals: N_("Friends invited")}
TITLES = {Period.week: N_("Weekly sharing star"), Period.month: N_("Monthly gold sharer")}
SHOP_CARD_SHOWN = 3


def _render(page: Page, name: str, **context) -> Markup:
    return Markup(templating.render(name, {"page": page, "translations": page.translations, **context}))


def score_text(page: Page, metric: Metric | str, score: int) -> str:
    """¥68.00 of referred sales, or 3 friends."""
    if Metric(metric) == Metric.gmv:
        return f"¥{format_yuan(score)}"
    return page.translations.ngettext("%(num)s friend", "%(num)s friends", score) % {"num": score}


def span(period: Period, start) -> str:
    """11-16 – 11-22 (a week) or 2026-11 (a month), in Shanghai days."""
    if period == Period.month:
        return label(period, start)
    return f"{local_time(start, '%m-%d')} – {local_time(period_end(period, start) - timedelta(seconds=1), '%m-%d')}"


# --- the member's board page --------------------------------------------------------------------


@router.get("/m/boards/{mid}")
def board_page(mid: Id, page: PageDep, s: DB, now: Now, period: Annotated[str, Query(max_length=16)] = "week", metric: Annotated[str, Query(max_length=16)] = "gmv",
               community_id: Annotated[Id | None, Query(alias="community")] = None) -> Response:
    p, m = board_rules.parse_period(period), board_rules.parse_metric(metric)
    merchant = identity.public_merchant(s, mid)
    k = boards.board_key(s, mid, p, m, community_id, now)
    board = boards.read(s, k)
    me = boards.standing(s, k, page.who.member_id) if page.who else None
    places = community.public_communities(s, mid)
    return page.render("incentives/board.html", merchant=merchant, board=board, key=k, period=p, metric=m, community_id=community_id, communities=places,
                       periods=PERIODS, metrics=METRICS, span=span(p, k.period_start), me=me, score_text=lambda metric, sc: score_text(page, metric, sc),
                       viewer=page.who.member_id if page.who else None)


# --- the shop's honours ----------------------------------------------------------------------------


@router.get("/m/honours/{mid}")
def honours_page(mid: Id, page: PageDep, s: DB) -> Response:
    merchant = identity.public_merchant(s, mid)
    return page.render("incentives/honours.html", merchant=merchant, snapshots=honours.recent(s, mid, limit=8), titles=TITLES, metrics=METRICS,
                       span=span, score_text=lambda metric, sc: score_text(page, metric, sc))


# --- the sharer centre's section and the shop's card ----------------------------------------------


@dataclass(frozen=True)
class Place:
    name: str  # the shop, or the community
    community_id: int | None
    standings: dict[tuple[Period, Metric], boards.Standing]


@share_block(order=30)
def my_boards(page: Page, s: Session, merchant_id: int, member_id: int) -> Markup | None:
    """我的榜单: the member's rank and score on this week's and this month's boards."""
    now = page.ctx.now()
    held = commission.held(s, merchant_id)
    home = community.home_community(s, member_id, merchant_id)
    scopes: list[tuple[str, Scope, int]] = [(page._(N_("The whole shop")), Scope.merchant, 0)]
    if home is not None and home.merchant_id == merchant_id:
        scopes.append((home.name, Scope.community, home.id))
    places = []
    for name, scope, sid in scopes:
        standings = {(p, m): boards.standing(s, BoardKey(merchant_id, scope, sid, m, p, period_start(p, now)), member_id, held) for p in Period for m in Metric}
        places.append(Place(name, sid or None, standings))
    return _render(page, "incentives/_share_boards.html", merchant_id=merchant_id, places=places, periods=PERIODS, metrics=METRICS, Period=Period, Metric=Metric,
                   score_text=lambda metric, sc: score_text(page, metric, sc))


@shop_block(order=30)
def shop_board(page: Page, s: Session, merchant_id: int, product_id: int | None) -> Markup | None:
    """The shop page's 分享榜 card: this week's first few by referred sales, and the links."""
    if product_id is not None:
        return None
    now = page.ctx.now()
    k = BoardKey(merchant_id, Scope.merchant, 0, Metric.gmv, Period.week, period_start(Period.week, now))
    board = boards.read(s, k, limit=SHOP_CARD_SHOWN)
    return _render(page, "incentives/_shop_board.html", merchant_id=merchant_id, board=board, metric=Metric.gmv, score_text=lambda metric, sc: score_text(page, metric, sc))


# --- the console ----------------------------------------------------------------------------------


@merchant_section(order=39)
def honours_section(page: Page, s: Session, view: MerchantView, state: dict) -> Markup:
    snaps = honours.recent(s, view.merchant.id, limit=4)
    return _render(page, "incentives/_honours_section.html", view=view, snapshots=snaps, titles=TITLES, metrics=METRICS, span=span,
                   score_text=lambda metric, sc: score_text(page, metric, sc))
