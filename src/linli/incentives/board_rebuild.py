"""``linli leaderboard rebuild``: every leaderboard score recomputed from the facts — the
referred sales (``ReferredSale``: received, at their net now) and the granted referrals
(``ProgrammeReferral``, a friend counted once, at their first grant) — compared with the
rollup and repaired, then the Redis sorted sets compared with the repaired rollup and
rewritten from it. Returns how many (board, member) scores differed, in the database and in
Redis together: 0 when the incremental upkeep is right.

Repairs never overwrite a concurrent change: the rollup is read first, the facts after,
and a row is set only if its ``version`` is still the one read (a fact that landed in
between moved it, and is in what the handler wrote). Redis boards checked are those it
holds and those whose keys should still live (``board_store.KEEP``); a board rewritten
keeps the time its keys had left."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from redis import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linli.db import Database, insert_ignore
from linli.incentives import board_store
from linli.incentives.board_rules import BoardKey, Metric, Score, differences, keys_for, second
from linli.incentives.boards import UNIQUE, db_top, key_of, rows_of
from linli.incentives.models import BoardScore, ProgrammeReferral, ReferredSale
from linli.orders import service as orders

Facts = dict[tuple[BoardKey, int], tuple[int, datetime]]


def _add(acc: Facts, keys: list[BoardKey], member_id: int, score: int, at: datetime) -> None:
    for k in keys:
        had = acc.get((k, member_id))
        acc[(k, member_id)] = (score, at) if had is None else (had[0] + score, max(had[1], at))


def expected(s: Session, merchant_id: int) -> Facts:
    """(board, member) → (score, reached_at) as the facts say, listed scores only."""
    acc: Facts = {}
    sales = select(ReferredSale.sharer_id, ReferredSale.community_id, ReferredSale.received_at, ReferredSale.net).where(ReferredSale.merchant_id == merchant_id, ReferredSale.net > 0)
    for sharer_id, community_id, received_at, net in s.execute(sales.order_by(ReferredSale.order_id)):
        _add(acc, keys_for(merchant_id, community_id, Metric.gmv, received_at), sharer_id, net, second(received_at))
    granted = (select(ProgrammeReferral.invitee_id, ProgrammeReferral.inviter_id, ProgrammeReferral.order_id, ProgrammeReferral.granted_at)
               .where(ProgrammeReferral.merchant_id == merchant_id, ProgrammeReferral.status == "granted")
               .order_by(ProgrammeReferral.invitee_id, ProgrammeReferral.granted_at, ProgrammeReferral.id))
    first: dict[int, tuple[int, int, datetime]] = {}
    for invitee_id, inviter_id, order_id, granted_at in s.execute(granted):
        first.setdefault(invitee_id, (inviter_id, order_id, granted_at))
    refs = orders.order_refs(s, [order_id for _, order_id, _ in first.values()])
    for inviter_id, order_id, granted_at in first.values():
        ref = refs.get(order_id)
        _add(acc, keys_for(merchant_id, ref.community_id if ref else None, Metric.referrals, granted_at), inviter_id, 1, second(granted_at))
    return acc


def repair_rollup(db: Database, merchant_id: int) -> int:
    """The merchant's rollup set to what the facts say; returns the scores that differed."""
    with db.transaction() as s:
        rows = {(key_of(r), r.member_id): r for r in s.scalars(select(BoardScore).where(BoardScore.merchant_id == merchant_id))}
        seen = {key: (r.id, r.score, r.reached_at, r.version) for key, r in rows.items()}
        facts = expected(s, merchant_id)
        found = 0
        for key in sorted(seen.keys() | facts.keys()):
            want = facts.get(key, (0, None))
            row = seen.get(key)
            if row is not None and (row[1], row[2]) == want:
                continue
            found += 1
            k, member_id = key
            if row is None:
                values = {"merchant_id": k.merchant_id, "scope": k.scope.value, "scope_id": k.scope_id, "metric": k.metric.value, "period": k.period.value,
                          "period_start": k.period_start, "member_id": member_id, "score": want[0], "reached_at": want[1], "version": 1}
                s.execute(insert_ignore(s, BoardScore, values, UNIQUE))
            else:
                s.execute(update(BoardScore).where(BoardScore.id == row[0], BoardScore.version == row[3]).values(score=want[0], reached_at=want[1], version=row[3] + 1))
        return found


def _boards_to_check(s: Session, store: board_store.Store, merchant_id: int, now: datetime) -> list[BoardKey]:
    in_redis = set(store.boards(merchant_id))
    starts = select(BoardScore.merchant_id, BoardScore.scope, BoardScore.scope_id, BoardScore.metric, BoardScore.period, BoardScore.period_start).where(
        BoardScore.merchant_id == merchant_id, BoardScore.score > 0).distinct()
    live = set()
    for row in s.execute(starts):
        k = key_of(row)
        if board_store.ttl(k, now) > 0:
            live.add(k)
    return sorted(in_redis | live)


def repair_redis(db: Database, store: board_store.Store, merchant_id: int, now: datetime) -> int:
    """Each board Redis holds or should hold compared with the rollup and rewritten whole
    from it; returns the scores that differed."""
    found = 0
    with db.transaction() as s:
        for k in _boards_to_check(s, store, merchant_id, now):
            want = db_top(s, k, None)
            try:
                have: list[Score] = store.top(k, None)
            except board_store.NotLoaded:
                have = []
            left = store.ttl_of(k) or board_store.ttl(k, now)
            if left <= 0:
                continue
            found += differences(want, have)
            try:
                store.write(k, rows_of(s, k), left, mode="replace")
            except ValueError:  # a score past the Redis order's bounds: the database serves this board
                store.drop(k)
            store.dirty.discard(k)
    return found


def merchants(db: Database) -> Iterator[int]:
    with db.transaction() as s:
        ids = set(s.scalars(select(ReferredSale.merchant_id).distinct())) | set(s.scalars(select(ProgrammeReferral.merchant_id).where(ProgrammeReferral.status == "granted").distinct()))
        ids |= set(s.scalars(select(BoardScore.merchant_id).distinct()))
    yield from sorted(ids)


def rebuild(db: Database, now: datetime, merchant_id: int | None = None) -> int:
    """Rollup from the facts, then Redis from the rollup (when configured); the differences."""
    store = board_store.current()
    found = 0
    for mid in [merchant_id] if merchant_id is not None else list(merchants(db)):
        found += repair_rollup(db, mid)
        if store is not None:
            try:
                found += repair_redis(db, store, mid, now)
            except RedisError as exc:
                store.pause(exc)
                raise
    return found
