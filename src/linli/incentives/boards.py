"""Leaderboards (RULES.md "Growth incentives" → Leaderboards): the rollup kept from the facts,
and the boards and a member's standing as pages and the API read them.

Kept in the fact's own transaction, so a fact and its score change together or not at all:
- a referred sale's net moves (``sales.SaleChange``, from the sale handlers): its sharer's
  ``gmv`` on the week's and the month's boards of its receipt, merchant and community, by
  the change. A receipt (a rise) moves ``reached_at`` up to the receipt; a sale refunded to
  nothing takes it back to the latest receipt of the period still paying.
- a referral granted (``referrals.grant``): its inviter's ``referrals`` +1 on the boards of
  the grant's week and month (the community of the friend's order), unless the same friend
  was already counted (another programme's referral of the same first order).
Each is applied once: the sale's change is the difference between two nets (a replay finds
none), a grant happens once (its compare-and-set). ``board_rebuild.py`` recomputes every
score from the facts and must find no difference.

Redis (``board_store``), when configured, gets the rows a transaction changed once it
commits (read inside it, so the copy needs no second database connection; never before the
commit: Redis cannot get ahead of the database); reads use Redis when it holds the board,
else the database — same answer.

Reads leave out members under a risk hold (``commission.service.held``), show nicknames and
masked phones only, and rank with ``board_rules.rank``."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from redis import RedisError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from linli.commission import service as commission
from linli.community import service as community
from linli.db import after_commit, after_rollback, insert_ignore
from linli.errors import NotFound
from linli.identity import service as identity
from linli.identity.rules import mask_phone
from linli.incentives import board_store
from linli.incentives.board_rules import TOP, BoardKey, Metric, Period, Scope, Score, keys_for, period_end, period_start, rank, second
from linli.incentives.models import BoardScore, ProgrammeReferral, ReferredSale
from linli.incentives.sales import SaleChange
from linli.orders import service as orders

UNIQUE = ["merchant_id", "scope", "scope_id", "metric", "period", "period_start", "member_id"]
_PENDING = "linli_boards"  # session.info: the (board, members) to copy to Redis after commit


def where(k: BoardKey):
    return (BoardScore.merchant_id == k.merchant_id, BoardScore.scope == k.scope.value, BoardScore.scope_id == k.scope_id, BoardScore.metric == k.metric.value,
            BoardScore.period == k.period.value, BoardScore.period_start == k.period_start)


def key_of(row: BoardScore) -> BoardKey:
    return BoardKey(row.merchant_id, Scope(row.scope), row.scope_id, Metric(row.metric), Period(row.period), row.period_start)


# --- keeping the rollup ------------------------------------------------------------------------


def _add(s: Session, k: BoardKey, member_id: int, delta: int, rise: datetime | None) -> None:
    """``delta`` onto the member's score (the row made at 0 first); a rise moves
    ``reached_at`` up to ``rise``. One UPDATE takes the row's lock, so concurrent changes
    of one member's score add up."""
    values = {"merchant_id": k.merchant_id, "scope": k.scope.value, "scope_id": k.scope_id, "metric": k.metric.value, "period": k.period.value,
              "period_start": k.period_start, "member_id": member_id, "score": 0, "reached_at": None, "version": 0}
    s.execute(insert_ignore(s, BoardScore, values, UNIQUE))
    row = s.execute(update(BoardScore).where(*where(k), BoardScore.member_id == member_id).values(score=BoardScore.score + delta, version=BoardScore.version + 1)
                    .returning(BoardScore.id, BoardScore.reached_at)).one()
    if rise is not None and (row.reached_at is None or row.reached_at < rise):
        s.execute(update(BoardScore).where(BoardScore.id == row.id).values(reached_at=rise))


def _reached_gmv(s: Session, k: BoardKey, sharer_id: int) -> datetime | None:
    """The latest receipt of the board's period still paying (None: none is)."""
    q = select(func.max(ReferredSale.received_at)).where(ReferredSale.merchant_id == k.merchant_id, ReferredSale.sharer_id == sharer_id, ReferredSale.net > 0,
                                                         ReferredSale.received_at >= k.period_start, ReferredSale.received_at < period_end(k.period, k.period_start))
    if k.scope == Scope.community:
        q = q.where(ReferredSale.community_id == k.scope_id)
    at = s.scalar(q)
    return second(at) if at is not None else None


def on_sale(s: Session, change: SaleChange, now: datetime) -> None:
    """A referred sale's net moved: its sharer's ``gmv`` on the boards of its receipt."""
    sale = change.sale
    keys = keys_for(sale.merchant_id, sale.community_id, Metric.gmv, sale.received_at)
    for k in keys:
        _add(s, k, sale.sharer_id, change.delta, second(sale.received_at) if change.delta > 0 else None)
        if change.after == 0:
            s.execute(update(BoardScore).where(*where(k), BoardScore.member_id == sale.sharer_id).values(reached_at=_reached_gmv(s, k, sale.sharer_id)))
    _copy_after_commit(s, keys, sale.sharer_id, now)


def on_granted(s: Session, r: ProgrammeReferral, now: datetime) -> None:
    """A referral was granted: its inviter's ``referrals`` +1, unless this friend counts
    already (another programme granted the same first order; ``granted_at`` is the grant's)."""
    other = select(ProgrammeReferral.id).where(ProgrammeReferral.merchant_id == r.merchant_id, ProgrammeReferral.invitee_id == r.invitee_id,
                                               ProgrammeReferral.status == "granted", ProgrammeReferral.id != r.id).limit(1)
    if s.scalars(other).first() is not None:
        return
    ref = orders.order_refs(s, [r.order_id]).get(r.order_id)
    keys = keys_for(r.merchant_id, ref.community_id if ref else None, Metric.referrals, r.granted_at)
    for k in keys:
        _add(s, k, r.inviter_id, 1, second(r.granted_at))
    _copy_after_commit(s, keys, r.inviter_id, now)


# --- Redis after commit ------------------------------------------------------------------------


@dataclass
class _Copy:
    """What one board gets in Redis once the transaction commits: the rows it changed, read
    in the transaction (or the whole board, when Redis did not hold it)."""

    rows: dict[int, board_store.Row] = field(default_factory=dict)
    whole: bool = False


def rows_of(s: Session, k: BoardKey, members: Iterable[int] | None = None) -> list[board_store.Row]:
    q = select(BoardScore.member_id, BoardScore.score, BoardScore.reached_at, BoardScore.version).where(*where(k))
    if members is not None:
        q = q.where(BoardScore.member_id.in_(sorted(members)))
    return [board_store.Row(*r) for r in s.execute(q.order_by(BoardScore.member_id))]


def _copy_after_commit(s: Session, keys: Iterable[BoardKey], member_id: int, now: datetime) -> None:
    """Read the member's rows of ``keys`` now (what this transaction will commit; the whole
    board when Redis does not hold it yet) and write them to Redis once it commits — never
    before, and with no database connection needed after the commit."""
    store = board_store.configured()
    if store is None:
        return
    keys = list(keys)
    if s.in_nested_transaction():  # a savepoint may still roll back what was read: drop the boards instead
        after_commit(s, lambda: store.dirty.update(keys))
        return
    pending: dict[BoardKey, _Copy] | None = s.info.get(_PENDING)
    if pending is None:
        pending = s.info[_PENDING] = {}

        def copy() -> None:
            s.info.pop(_PENDING, None)
            copy_to_redis(store, pending, now)

        after_commit(s, copy)
        after_rollback(s, lambda: s.info.pop(_PENDING, None))
    for k in keys:
        c = pending.setdefault(k, _Copy())
        if not c.whole and not store.paused():
            try:  # a dirty board is dropped before this copy is written: it goes whole too
                c.whole = k in store.dirty or not store.loaded(k)
            except RedisError as exc:
                store.pause(exc)
        c.rows.update({r.member_id: r for r in rows_of(s, k, None if c.whole else [member_id])})


def copy_to_redis(store: board_store.Store, boards: dict[BoardKey, _Copy], now: datetime) -> None:
    """The committed rows onto Redis (a board past keeping is dropped; one whose scores Redis
    cannot order is dropped too and served from the database). What cannot be written —
    Redis failing, or paused — leaves its board dirty (``board_store``)."""
    todo = sorted(boards)
    if store.paused():
        store.dirty.update(todo)
        return
    try:
        store.clean()
        while todo:
            k, c = todo[0], boards[todo[0]]
            ttl = board_store.ttl(k, now)
            try:
                if ttl <= 0:
                    store.drop(k)
                else:
                    store.write(k, list(c.rows.values()), ttl, mode="load" if c.whole else "move")
            except board_store.NotLoaded:
                pass  # it left Redis since (expired, flushed): read from the database; the next change loads it
            except ValueError:
                store.drop(k)
            todo.pop(0)
    except RedisError as exc:
        store.dirty.update(todo)
        store.pause(exc)


# --- reading boards ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    rank: int
    member_id: int
    name: str
    phone_masked: str
    score: int


@dataclass(frozen=True)
class Board:
    key: BoardKey
    entries: list[Entry]


def board_key(s: Session, merchant_id: int, period: Period, metric: Metric, community_id: int | None, at: datetime) -> BoardKey:
    """The board asked for: the merchant's (public) or one of its communities' (404 for
    another shop's community)."""
    identity.public_merchant(s, merchant_id)
    if community_id is not None:
        try:
            c = community.public_community(s, community_id)
        except NotFound:
            c = None
        if c is None or c.merchant_id != merchant_id:
            raise NotFound("community.not_found", "No such community in this shop.")
        return BoardKey(merchant_id, Scope.community, community_id, metric, period, period_start(period, at))
    return BoardKey(merchant_id, Scope.merchant, 0, metric, period, period_start(period, at))


def db_top(s: Session, k: BoardKey, n: int | None) -> list[Score]:
    """The first ``n`` listed rows of the rollup (None: all), in board order."""
    q = (select(BoardScore.member_id, BoardScore.score, BoardScore.reached_at).where(*where(k), BoardScore.score > 0)
         .order_by(BoardScore.score.desc(), BoardScore.reached_at, BoardScore.member_id))
    if n is not None:
        q = q.limit(n)
    return [Score(*r) for r in s.execute(q)]


def top_rows(s: Session, k: BoardKey, n: int | None) -> list[Score]:
    """The first ``n`` listed rows in board order: from Redis when the board is loaded
    there, else from the database."""
    store = board_store.current()
    if store is not None and k not in store.dirty:
        try:
            return store.top(k, n)
        except board_store.NotLoaded:
            pass
        except RedisError as exc:
            store.pause(exc)
    return db_top(s, k, n)


def entries(s: Session, ranked) -> list[Entry]:
    people = identity.members_by_ids(s, [r.member_id for r in ranked])
    return [Entry(r.rank, r.member_id, people[r.member_id].nickname if r.member_id in people else "", mask_phone(people[r.member_id].phone) if r.member_id in people else "****",
                  r.score) for r in ranked]


def read(s: Session, k: BoardKey, limit: int = TOP) -> Board:
    """The board's first ``limit`` listed members, those under a risk hold left out."""
    held = commission.held(s, k.merchant_id)
    return Board(k, entries(s, rank(top_rows(s, k, limit + len(held)), leave_out=held, limit=limit)))


@dataclass(frozen=True)
class Standing:
    key: BoardKey
    rank: int | None  # None: not listed (no score, or under a hold)
    score: int


def standing(s: Session, k: BoardKey, member_id: int, held: set[int] | None = None) -> Standing:
    """A member's own rank and score on a board (competition rank among those listed)."""
    held = commission.held(s, k.merchant_id) if held is None else held
    if member_id in held:
        return Standing(k, None, 0)
    store = board_store.current()
    if store is not None and k not in store.dirty:
        try:
            mine, others = store.standing(k, member_id, sorted(held))
            if mine is None or mine.score <= 0:
                return Standing(k, None, 0)
            higher = store.count_above(k, mine.score) - sum(1 for o in others if o.score > mine.score)
            return Standing(k, higher + 1, mine.score)
        except board_store.NotLoaded:
            pass
        except RedisError as exc:
            store.pause(exc)
    score = s.scalar(select(BoardScore.score).where(*where(k), BoardScore.member_id == member_id)) or 0
    if score <= 0:
        return Standing(k, None, 0)
    q = select(func.count()).select_from(BoardScore).where(*where(k), BoardScore.score > score)
    if held:
        q = q.where(BoardScore.member_id.not_in(sorted(held)))
    return Standing(k, int(s.scalar(q) or 0) + 1, int(score))
