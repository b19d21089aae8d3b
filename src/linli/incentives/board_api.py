"""Leaderboard and honour endpoints (API.md "Growth incentives"), public like the shop: a
board shows nicknames and masked phones only, members under a risk hold left out.

Bad query values are 422 problems with their own codes (``leaderboard.period_invalid``,
``leaderboard.metric_invalid``, ``leaderboard.at_invalid``, ``leaderboard.at_out_of_range``);
an unknown shop or another shop's community 404 (``merchant.not_found``,
``community.not_found``); an honour of a period still running 404 ``honours.not_closed``,
of a closed one not frozen 404 ``honours.not_frozen``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import Query
from pydantic import Field

from linli.errors import Invalid
from linli.incentives import board_rules, boards, honours
from linli.incentives.board_rules import period_end
from linli.schema import Id, Output
from linli.web.deps import DB, Now
from linli.web.deps import router as deps_router
from linli.web.problems import PROBLEMS

router = deps_router(prefix="/api/v1", tags=["incentives"])

PeriodQ = Annotated[str, Query(max_length=16, description="week (from Monday 00:00 Asia/Shanghai) | month (from the 1st)")]
AtQ = Annotated[str | None, Query(max_length=40, description="an ISO 8601 instant in the period (default: now; for honours, the last closed period)")]


def parse_at(raw: str | None) -> datetime | None:
    if raw is None or raw == "":
        return None
    try:
        at = datetime.fromisoformat(raw.strip().replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Invalid("leaderboard.at_invalid", "at is an ISO 8601 instant with its offset, e.g. 2026-11-22T10:00:00+08:00.", field="at") from None
    return board_rules.check_at(at)


class EntryOut(Output):
    rank: int = Field(description="competition rank: ties share it (1, 2, 2, 4)")
    member_id: int
    name: str = Field(description="the member's nickname")
    phone_masked: str = Field(description="138****1234")
    score: int = Field(description="granted referrals (friends), or referred GMV in fen (received, net of refunds)")


class BoardOut(Output):
    period: str
    metric: str
    scope: str = Field(description="merchant | community")
    community_id: int | None
    period_start: datetime
    period_end: datetime
    entries: list[EntryOut]


def entry_out(e: boards.Entry) -> EntryOut:
    return EntryOut(rank=e.rank, member_id=e.member_id, name=e.name, phone_masked=e.phone_masked, score=e.score)


@router.get("/merchants/{mid}/leaderboards", response_model=BoardOut, responses=PROBLEMS)
def leaderboard(mid: Id, s: DB, now: Now, period: PeriodQ = "week", metric: Annotated[str, Query(max_length=16, description="referrals | gmv")] = "gmv",
                community_id: Annotated[Id | None, Query()] = None, at: AtQ = None) -> BoardOut:
    """The board of the period ``at`` falls in: the shop's, or one of its communities'."""
    p, m = board_rules.parse_period(period), board_rules.parse_metric(metric)
    when = parse_at(at) or now
    b = boards.read(s, boards.board_key(s, mid, p, m, community_id, when))
    k = b.key
    return BoardOut(period=p.value, metric=m.value, scope=k.scope.value, community_id=community_id, period_start=k.period_start,
                    period_end=period_end(p, k.period_start), entries=[entry_out(e) for e in b.entries])


class HonourBoardOut(Output):
    metric: str
    entries: list[EntryOut]


class HonourOut(Output):
    period: str
    title: str = Field(description="周度分享之星 (a week) | 月度金牌分享官 (a month)")
    period_start: datetime
    period_end: datetime
    frozen_at: datetime
    boards: list[HonourBoardOut] = Field(description="per metric, the top ranks frozen when the period closed")


@router.get("/merchants/{mid}/honours", response_model=HonourOut, responses=PROBLEMS)
def honour(mid: Id, s: DB, now: Now, period: PeriodQ = "week", at: AtQ = None) -> HonourOut:
    """The frozen honour of the period ``at`` falls in (default: the last closed one)."""
    snap = honours.snapshot(s, mid, board_rules.parse_period(period), parse_at(at), now)
    return HonourOut(period=snap.period.value, title=snap.title, period_start=snap.period_start, period_end=snap.period_end, frozen_at=snap.frozen_at.astimezone(timezone.utc),
                     boards=[HonourBoardOut(metric=m.value, entries=[entry_out(e) for e in rows]) for m, rows in snap.boards.items()])
