"""Honours (RULES.md "Growth incentives" → Leaderboards): once a week or a month has closed,
the merchant's boards of that period are frozen into a snapshot — 周度分享之星 for a week,
月度金牌分享官 for a month — the top ``HONOURS_TOP`` ranks of each metric (all who share the
last rank), members under a risk hold at that moment left out.

``freeze_due`` (a due job) freezes every closed period of the last few (``LOOKBACK``) in
which a merchant had a board, ``GRACE`` after it closed (the events of its last minutes
handled first). A snapshot is written once, its close row and its rows in one transaction
under a unique key: a re-run, or a refund that lands later, changes nothing in it.

Names and masked phones are read when shown (a member who changes a nickname is shown
under the new one); ranks, scores and who is on it never change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli.commission import service as commission
from linli.db import Database, insert_ignore
from linli.errors import NotFound
from linli.identity import service as identity
from linli.incentives.board_rules import BoardKey, Metric, Period, Ranked, Scope, honour_rows, period_end, period_start, previous_start
from linli.incentives.boards import Entry, db_top, entries
from linli.incentives.models import BoardScore, Honour, HonourClose

GRACE = timedelta(hours=1)
LOOKBACK = {Period.week: 8, Period.month: 3}  # closed periods the job looks back over
TITLES = {Period.week: "周度分享之星", Period.month: "月度金牌分享官"}


def _closed_starts(period: Period, as_of: datetime) -> list[datetime]:
    """The starts of the last ``LOOKBACK`` periods closed ``GRACE`` before ``as_of``."""
    start = previous_start(period, as_of - GRACE)
    out = []
    for _ in range(LOOKBACK[period]):
        out.append(start)
        start = previous_start(period, start)
    return out


def freeze(s: Session, merchant_id: int, period: Period, start: datetime, now: datetime) -> bool:
    """Freeze one merchant's period (True if this call wrote it)."""
    row = {"merchant_id": merchant_id, "period": period.value, "period_start": start, "frozen_at": now}
    if s.execute(insert_ignore(s, HonourClose, row, ["merchant_id", "period", "period_start"]).returning(HonourClose.merchant_id)).scalar() is None:
        return False
    held = commission.held(s, merchant_id)
    for metric in Metric:
        k = BoardKey(merchant_id, Scope.merchant, 0, metric, period, start)
        rows = db_top(s, k, None)  # the database, the source of truth (not Redis)
        for position, r in enumerate(honour_rows(rows, held), start=1):
            s.add(Honour(merchant_id=merchant_id, period=period.value, period_start=start, metric=metric.value, position=position, rank=r.rank,
                         member_id=r.member_id, score=r.score, reached_at=r.reached_at or start))
    s.flush()
    return True


def freeze_due(db: Database, as_of: datetime) -> int:
    """Freeze every closed period not frozen yet; each merchant's period in its own transaction."""
    frozen = 0
    for period in Period:
        for start in _closed_starts(period, as_of):
            with db.transaction() as s:
                had = set(s.scalars(select(BoardScore.merchant_id).where(BoardScore.period == period.value, BoardScore.period_start == start).distinct()))
                done = set(s.scalars(select(HonourClose.merchant_id).where(HonourClose.period == period.value, HonourClose.period_start == start)))
            for merchant_id in sorted(had - done):
                with db.transaction() as s:
                    frozen += freeze(s, merchant_id, period, start, as_of)
    return frozen


# --- reading -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    merchant_id: int
    period: Period
    period_start: datetime
    period_end: datetime
    title: str
    frozen_at: datetime
    boards: dict[Metric, list[Entry]]


def _snapshot(s: Session, close: HonourClose) -> Snapshot:
    period = Period(close.period)
    rows = list(s.scalars(select(Honour).where(Honour.merchant_id == close.merchant_id, Honour.period == close.period, Honour.period_start == close.period_start)
                          .order_by(Honour.metric, Honour.position)))
    boards = {m: entries(s, [Ranked(r.rank, r.member_id, r.score, r.reached_at) for r in rows if r.metric == m.value]) for m in Metric}
    return Snapshot(close.merchant_id, period, close.period_start, period_end(period, close.period_start), TITLES[period], close.frozen_at, boards)


def snapshot(s: Session, merchant_id: int, period: Period, at: datetime | None, now: datetime) -> Snapshot:
    """The frozen honour of the period ``at`` falls in (default: the last closed one).
    404 ``honours.not_closed`` while it runs, ``honours.not_frozen`` until it is frozen
    (within ``GRACE`` of its close; never, for a period with no board at all)."""
    identity.public_merchant(s, merchant_id)
    start = period_start(period, at) if at is not None else previous_start(period, now)
    if period_end(period, start) > now:
        raise NotFound("honours.not_closed", "This period has not closed yet: its honours are frozen after it closes.", period_start=start.isoformat())
    close = s.get(HonourClose, (merchant_id, period.value, start))
    if close is None:
        raise NotFound("honours.not_frozen", "No honours were frozen for this period.", period_start=start.isoformat())
    return _snapshot(s, close)


def recent(s: Session, merchant_id: int, limit: int = 6) -> list[Snapshot]:
    """The merchant's latest frozen honours, newest first (weeks and months together)."""
    identity.public_merchant(s, merchant_id)
    closes = s.scalars(select(HonourClose).where(HonourClose.merchant_id == merchant_id).order_by(HonourClose.period_start.desc(), HonourClose.period).limit(limit))
    return [_snapshot(s, c) for c in closes]

