"""Leaderboards on Redis (optional): one sorted set per board, holding only rows a database
transaction has committed, so Redis is never ahead of the database (``boards.py`` reads the
rows it changed inside its transaction and writes them once it commits;
``board_rebuild.py`` repairs any drift).

Per board two keys under the merchant's hash tag: ``…:z``, the sorted set (member → the
order value of ``board_rules.encode``), and ``…:v``, a hash of each member's rollup
``version`` plus the field ``_`` that says the board was loaded whole. A write carries the
rows' versions and a member moves only to a newer version, so commits racing to Redis
cannot leave an older row. Modes: ``move`` the members given (refused for a board not
loaded: its other members are missing), ``load`` a whole board (replacing it only if it was
not loaded, else merged member by member), ``replace`` it whatever it held (the rebuild).
A board not loaded (never written, expired, Redis flushed) is read from the database, as
it is when Redis fails a moment (``pause``). A change this process could not copy (Redis
failing, or paused) leaves its board ``dirty``: read from the database here, and its keys
dropped at the next write that reaches Redis, so it is loaded whole again rather than
served stale (another process may read the stale copy until then; ``linli leaderboard
rebuild`` repairs what a crash leaves).

Keys live until ``KEEP`` after their period ends: older boards are read from the database.
``configure(redis_client, prefix)`` is called once at start-up (incentives' ``wire``)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from linli.incentives.board_rules import BoardKey, Metric, Period, Scope, Score, above, decode, encode, member_key, period_end
from linli.timeutil import SHANGHAI

log = logging.getLogger("linli.incentives.boards")

PREFIX = "linli:board:"
KEEP = timedelta(days=35)  # after a period ends, its keys live this long (the last month's board)
PAUSE_SECONDS = 5.0

# KEYS: the sorted set, the versions hash. ARGV: ttl, the mode (move | load | replace), then
# (member, version, value or '' to remove) triples.
_WRITE = """
local loaded = redis.call('HEXISTS', KEYS[2], '_') == 1
if ARGV[2] == 'replace' or (ARGV[2] == 'load' and not loaded) then
  redis.call('DEL', KEYS[1], KEYS[2])
elseif not loaded then
  return -1
end
local moved = 0
for i = 3, #ARGV, 3 do
  local had = tonumber(redis.call('HGET', KEYS[2], ARGV[i]) or '-1')
  local ver = tonumber(ARGV[i + 1])
  if ver > had then
    redis.call('HSET', KEYS[2], ARGV[i], ver)
    if ARGV[i + 2] == '' then redis.call('ZREM', KEYS[1], ARGV[i]) else redis.call('ZADD', KEYS[1], ARGV[i + 2], ARGV[i]) end
    moved = moved + 1
  end
end
redis.call('HSET', KEYS[2], '_', '1')
local ttl = tonumber(ARGV[1])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
return moved
"""


@dataclass(frozen=True)
class Row:
    """A rollup row as Redis takes it."""

    member_id: int
    score: int
    reached_at: datetime | None
    version: int


class NotLoaded(Exception):
    """The board is not (wholly) in Redis: send it whole, or read the database."""


class Store:
    def __init__(self, redis_client, prefix: str = PREFIX) -> None:
        self.redis = redis_client
        self.prefix = prefix
        self._write = redis_client.register_script(_WRITE)
        self._paused_until = 0.0
        # Boards this process changed while it could not write them (Redis failed or was
        # paused): their keys are dropped at the next chance, so no one reads them stale.
        self.dirty: set[BoardKey] = set()

    # --- keys -------------------------------------------------------------------------------

    def base(self, k: BoardKey) -> str:
        day = k.period_start.astimezone(SHANGHAI).strftime("%Y%m%d")
        return f"{self.prefix}{{{k.merchant_id}}}:{k.scope.value}:{k.scope_id}:{k.metric.value}:{k.period.value}:{day}"

    def keys(self, k: BoardKey) -> list[str]:
        b = self.base(k)
        return [b + ":z", b + ":v"]

    def board_of(self, key: str) -> BoardKey | None:
        """The board a ``…:z`` key holds (None for a key that is not one)."""
        if not key.startswith(self.prefix) or not key.endswith(":z"):
            return None
        try:
            tag, scope, scope_id, metric, period, day = key[len(self.prefix):-2].split(":")
            start = datetime.strptime(day, "%Y%m%d").replace(tzinfo=SHANGHAI).astimezone(timezone.utc)
            return BoardKey(int(tag.strip("{}")), Scope(scope), int(scope_id), Metric(metric), Period(period), start)
        except ValueError:
            return None

    def boards(self, merchant_id: int | None = None) -> list[BoardKey]:
        """Every board held now (of ``merchant_id`` when given)."""
        match = f"{self.prefix}{{{merchant_id}}}:*:z" if merchant_id is not None else f"{self.prefix}*:z"
        found = (self.board_of(k.decode() if isinstance(k, bytes) else k) for k in self.redis.scan_iter(match=match, count=500))
        return sorted({b for b in found if b is not None})

    # --- health -----------------------------------------------------------------------------

    def paused(self) -> bool:
        return time.monotonic() < self._paused_until

    def pause(self, exc: Exception) -> None:
        log.warning("leaderboards: Redis failed (%s); the database answers for %ss", exc.__class__.__name__, PAUSE_SECONDS)
        self._paused_until = time.monotonic() + PAUSE_SECONDS

    def clean(self) -> None:
        """Drop the keys of the boards left dirty (raises ``RedisError`` if Redis still fails)."""
        while self.dirty:
            k = min(self.dirty)
            self.drop(k)
            self.dirty.discard(k)

    # --- writes -----------------------------------------------------------------------------

    @staticmethod
    def _args(k: BoardKey, rows: Iterable[Row]) -> list:
        out: list = []
        for r in rows:
            value = encode(r.score, r.reached_at, k.period_start) if r.score > 0 and r.reached_at is not None else ""
            out += [member_key(r.member_id), r.version, value]
        return out

    def write(self, k: BoardKey, rows: Sequence[Row], ttl: int, mode: str = "move") -> int:
        """``rows`` onto the board in ``mode`` (move | load | replace); how many members
        moved. Raises ``NotLoaded`` for ``move`` on a board not loaded; ``ValueError`` for a
        score past the Redis order's bounds (the caller drops the board: the database answers)."""
        assert mode in ("move", "load", "replace"), mode
        got = self._write(keys=self.keys(k), args=[ttl, mode, *self._args(k, rows)])
        if got == -1:
            raise NotLoaded(self.base(k))
        return int(got)

    def drop(self, k: BoardKey) -> None:
        self.redis.delete(*self.keys(k))

    def ttl_of(self, k: BoardKey) -> int:
        """Seconds the board's keys have left (0: none, or no expiry)."""
        return max(int(self.redis.ttl(self.keys(k)[0])), 0)

    # --- reads ------------------------------------------------------------------------------

    def loaded(self, k: BoardKey) -> bool:
        return bool(self.redis.hexists(self.keys(k)[1], "_"))

    def top(self, k: BoardKey, n: int | None) -> list[Score]:
        """The first ``n`` rows in board order (None: all of them). Raises ``NotLoaded``."""
        z, v = self.keys(k)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hexists(v, "_")
        pipe.zrange(z, 0, -1 if n is None else n - 1, withscores=True)
        loaded, rows = pipe.execute()
        if not loaded:
            raise NotLoaded(self.base(k))
        return [Score(int(m), *decode(val, k.period_start)) for m, val in rows]

    def standing(self, k: BoardKey, member_id: int, others: Sequence[int]) -> tuple[Score | None, list[Score]]:
        """(the member's row, or None if not listed; the rows of ``others`` that are listed)
        — a member's rank is counted from these. Raises ``NotLoaded``."""
        z, v = self.keys(k)
        ids = [member_id, *others]
        pipe = self.redis.pipeline(transaction=True)
        pipe.hexists(v, "_")
        pipe.zmscore(z, [member_key(m) for m in ids])
        loaded, values = pipe.execute()
        if not loaded:
            raise NotLoaded(self.base(k))
        rows = [Score(m, *decode(val, k.period_start)) if val is not None else None for m, val in zip(ids, values, strict=True)]
        return rows[0], [r for r in rows[1:] if r is not None]

    def count_above(self, k: BoardKey, score: int) -> int:
        """Listed members scoring more than ``score``."""
        return int(self.redis.zcount(self.keys(k)[0], "-inf", above(score)))


_store: Store | None = None


def configure(redis_client, prefix: str = PREFIX) -> None:
    """Keep boards on ``redis_client`` under ``prefix`` (None: the database alone)."""
    global _store
    _store = None if redis_client is None else Store(redis_client, prefix)


def current() -> Store | None:
    """The store to read now: None without Redis, or while Redis is paused after a failure."""
    return None if _store is None or _store.paused() else _store


def configured() -> Store | None:
    """The store configured (paused or not): writers mark what they could not write."""
    return _store


def configuration() -> tuple[object | None, str]:
    """(the Redis client, the prefix) in use, to restore after a test."""
    return (_store.redis, _store.prefix) if _store else (None, PREFIX)


def ttl(k: BoardKey, now: datetime) -> int:
    """Seconds a board's keys live from ``now`` (≤ 0: the board is past keeping)."""
    return int((period_end(k.period, k.period_start) + KEEP - now).total_seconds())
