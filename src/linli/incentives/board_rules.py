"""The rules of leaderboards and honours (RULES.md "Growth incentives" → Leaderboards): pure
functions and value objects, the clock passed in. No I/O.

Periods. A week starts on Monday 00:00 Asia/Shanghai, a month on the 1st 00:00; an instant
belongs to the period whose start is at or before it and whose end is after it. Starts
and ends are returned in UTC.

Metrics. ``referrals``: a member's friends whose referral was granted in the period (a
friend counts once, however many programmes rewarded the same first order).
``gmv``: the member's referred sales received in the period, at their net paid now (fen,
refunds taken off: a refunded order leaves the board).

Ranking. Higher score first; among equal scores the one who reached the score first
(``reached_at``: when the score last went up to its current value — the latest grant, or
the latest receipt still paying, of the period), then the lower member id. Competition
ranks: equal scores share a rank and the next rank skips (1, 2, 2, 4). A zero or negative
score is not listed. ``reached_at`` is kept to the whole second on both stores (the
Redis order below has one-second resolution), so the database and Redis agree.

Redis order. One sorted-set member per board member, its score ``offset - score·2^22``
(``offset``: seconds from the period's start to ``reached_at``, < 2^22 since a month has
at most 2,678,400 s), read in ascending order: higher scores first, earlier first among
equals, then the member (zero-padded ids compare as numbers). A double holds it exactly
while ``score < 2^31`` (¥21,474,836.47 a member in a period); a board with a score past
that is served from the database (``encodable``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from enum import StrEnum

from linli.errors import Invalid
from linli.timeutil import SHANGHAI


class Period(StrEnum):
    week = "week"
    month = "month"


class Metric(StrEnum):
    referrals = "referrals"
    gmv = "gmv"


class Scope(StrEnum):
    merchant = "merchant"  # scope_id 0
    community = "community"  # scope_id: the community


TOP = 50  # entries a board lists
HONOURS_TOP = 10  # ranks frozen into an honour (all those sharing rank 10 included)
YEARS = (2000, 2100)  # an ``at`` outside these years is refused before any arithmetic
OFFSET_BITS = 22
OFFSET_SPAN = 1 << OFFSET_BITS
MAX_ENCODABLE = (1 << 31) - 1
MEMBER_DIGITS = 19  # ids up to 2^63-1


def parse_period(raw: str) -> Period:
    if raw not in Period.__members__:
        raise Invalid("leaderboard.period_invalid", "The period is week or month.", field="period")
    return Period(raw)


def parse_metric(raw: str) -> Metric:
    if raw not in Metric.__members__:
        raise Invalid("leaderboard.metric_invalid", "The metric is referrals or gmv.", field="metric")
    return Metric(raw)


def check_at(at: datetime) -> datetime:
    """``at`` as an aware instant inside ``YEARS`` (a naive one is refused)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise Invalid("leaderboard.at_invalid", "at is an ISO 8601 instant with its offset, e.g. 2026-11-22T10:00:00+08:00.", field="at")
    if not YEARS[0] <= at.year <= YEARS[1] or not YEARS[0] <= at.astimezone(SHANGHAI).year <= YEARS[1]:
        raise Invalid("leaderboard.at_out_of_range", f"at falls in the years {YEARS[0]} to {YEARS[1]}.", field="at")
    return at


def period_start(period: Period, at: datetime) -> datetime:
    """The start (UTC) of the period ``at`` falls in."""
    local = at.astimezone(SHANGHAI).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == Period.week:
        local -= timedelta(days=local.weekday())
    else:
        local = local.replace(day=1)
    return local.astimezone(timezone.utc)


def period_end(period: Period, start: datetime) -> datetime:
    """The end (UTC, exclusive) of the period starting at ``start``: the next one's start."""
    local = start.astimezone(SHANGHAI)
    if period == Period.week:
        nxt = local + timedelta(days=7)
    else:
        nxt = local.replace(year=local.year + (local.month == 12), month=local.month % 12 + 1)
    return nxt.astimezone(timezone.utc)


def previous_start(period: Period, at: datetime) -> datetime:
    """The start of the period before the one ``at`` falls in (the last closed one)."""
    return period_start(period, period_start(period, at) - timedelta(seconds=1))


def label(period: Period, start: datetime) -> str:
    """How pages name a period: 2026-11-16 (a week's Monday) or 2026-11 (a month)."""
    local = start.astimezone(SHANGHAI)
    return local.strftime("%Y-%m-%d") if period == Period.week else local.strftime("%Y-%m")


def second(at: datetime) -> datetime:
    """``at`` to the whole second (what a board keeps as ``reached_at``)."""
    return at.replace(microsecond=0)


@dataclass(frozen=True, order=True)
class BoardKey:
    """One board: a metric over a period, for a merchant or one of its communities."""

    merchant_id: int
    scope: Scope
    scope_id: int
    metric: Metric
    period: Period
    period_start: datetime


def keys_for(merchant_id: int, community_id: int | None, metric: Metric, at: datetime) -> list[BoardKey]:
    """The boards a fact at ``at`` counts on: the week's and the month's, of the merchant
    and (when the order had one) of its community."""
    scopes = [(Scope.merchant, 0)] + ([(Scope.community, community_id)] if community_id else [])
    return [BoardKey(merchant_id, scope, sid, metric, p, period_start(p, at)) for p in Period for scope, sid in scopes]


@dataclass(frozen=True)
class Score:
    member_id: int
    score: int
    reached_at: datetime | None


@dataclass(frozen=True)
class Ranked:
    rank: int
    member_id: int
    score: int
    reached_at: datetime | None


def order_key(row: Score) -> tuple:
    return (-row.score, row.reached_at or datetime.max.replace(tzinfo=timezone.utc), row.member_id)


def rank(rows: Iterable[Score], *, leave_out: Iterable[int] = (), limit: int | None = None) -> list[Ranked]:
    """The listed rows in board order with competition ranks: positive scores only, members
    in ``leave_out`` (under a risk hold) not listed and not counted."""
    out = set(leave_out)
    listed = sorted((r for r in rows if r.score > 0 and r.member_id not in out), key=order_key)
    ranked: list[Ranked] = []
    for i, r in enumerate(listed):
        if limit is not None and i >= limit:
            break
        shared = ranked[-1].rank if ranked and ranked[-1].score == r.score else i + 1
        ranked.append(Ranked(shared, r.member_id, r.score, r.reached_at))
    return ranked


def honour_rows(rows: Iterable[Score], leave_out: Iterable[int] = ()) -> list[Ranked]:
    """What an honour freezes: the listed members ranked up to ``HONOURS_TOP`` (ties at the
    last rank all in)."""
    return [r for r in rank(rows, leave_out=leave_out) if r.rank <= HONOURS_TOP]


# --- the Redis order ----------------------------------------------------------------------


def encodable(score: int) -> bool:
    return 0 < score <= MAX_ENCODABLE


def encode(score: int, reached_at: datetime, start: datetime) -> int:
    """The sorted-set score of a listed row (see the module's docstring)."""
    offset = int((second(reached_at) - start).total_seconds())
    if not encodable(score) or not 0 <= offset < OFFSET_SPAN:
        raise ValueError(f"cannot encode score {score} reached {offset}s into its period")
    return offset - score * OFFSET_SPAN


def decode(value: float, start: datetime) -> tuple[int, datetime]:
    """(score, reached_at) back from a sorted-set score."""
    v = int(value)
    high = v // OFFSET_SPAN  # floor: -score
    return -high, start + timedelta(seconds=v - high * OFFSET_SPAN)


def above(score: int) -> int:
    """The largest sorted-set value of a row scoring more than ``score`` (ZCOUNT -inf..it)."""
    return -score * OFFSET_SPAN - 1


def member_key(member_id: int) -> str:
    return f"{member_id:0{MEMBER_DIGITS}d}"


def differences(a: Sequence[Score], b: Sequence[Score]) -> int:
    """How many members differ between two views of one board (listed rows only)."""
    x = {r.member_id: (r.score, r.reached_at) for r in a if r.score > 0}
    y = {r.member_id: (r.score, r.reached_at) for r in b if r.score > 0}
    return sum(1 for m in x.keys() | y.keys() if x.get(m) != y.get(m))
