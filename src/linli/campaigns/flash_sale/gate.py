"""Flash sales: an optional Redis gate in front of the database.

Without ``LINLI_REDIS_URL`` the database alone decides (the offer's ``sold`` compare-and-
set). With it, a Lua script checks the member's limit and takes a unit atomically before
the database is touched, so thousands of buyers contend on Redis rather than on one row;
the database compare-and-set stays the final guard. A plain flash order goes further: the
gate also queues it and the buyer is answered at once (``flash_sale.queue``); this module's
``gate_take`` then finds the unit already taken (``pregate``) when the order is placed.

One ``FlashGate`` per process, set by ``configure`` (the package's entry, called at start-up)
and read through ``current()``: its client, key prefix, keys per offer and scripts are
public, so the queue and the checkout step use the gate without reaching into this module.

Keys per offer (``{id}`` is a Redis Cluster hash tag, so both keys live on one node):

- ``<prefix>{id}`` — a hash: ``left`` units, ``quota``, ``ver`` (bumped by every move) and
  ``at`` (unix time of the last move). Created on the first take from the database
  (``left = quota − sold``) and kept until a day after the campaign ends.
- ``<prefix>{id}:m`` — a hash member id → units held (only for offers with a per-member limit).

Redis may drift from the database only towards *more* units left (a process killed between
the gate and its rollback compensation is the exception: ``reconcile`` repairs that), and
then the database refuses what the gate let through. ``reconcile`` resets an offer's keys
from the database when it has been quiet.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from redis import RedisError
from sqlalchemy import select
from sqlalchemy.orm import Session

from linli import db as dbmod
from linli.campaigns import rules
from linli.campaigns.models import Campaign, Offer, OfferCounter
from linli.db import Database, utcnow
from linli.errors import Conflict
from linli.jobs import job

log = logging.getLogger("linli.campaigns.flash")

PREFIX = "linli:flash:"
KEEP_AFTER_END = timedelta(days=1)  # unpaid orders expire after the end: their units come back here
QUIET_SECONDS = 30.0  # the reconcile job leaves an offer alone while it moved this recently
PAUSE_SECONDS = 10.0  # after Redis fails to answer, the database decides alone this long

# KEYS: state, members. ARGV: member, qty, limit (0 = none), left if new, quota, ttl, now.
# Returns units left after the take, -1 over the member's limit, -2 sold out.
_TAKE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'left', ARGV[4], 'quota', ARGV[5], 'ver', 0, 'at', ARGV[7])
  redis.call('EXPIRE', KEYS[1], ARGV[6])
end
local qty = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if limit > 0 and tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') + qty > limit then
  return -1
end
local left = tonumber(redis.call('HGET', KEYS[1], 'left'))
if left < qty then
  return -2
end
redis.call('HINCRBY', KEYS[1], 'left', -qty)
redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HSET', KEYS[1], 'at', ARGV[7])
if limit > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
  if redis.call('TTL', KEYS[2]) < 0 then
    redis.call('EXPIRE', KEYS[2], ARGV[6])
  end
end
return left - qty
"""

# KEYS: state, members. ARGV: member, qty, now. Nothing happens to keys that are gone.
_GIVE = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return -1
end
local qty = tonumber(ARGV[2])
local quota = tonumber(redis.call('HGET', KEYS[1], 'quota'))
local left = math.min(tonumber(redis.call('HGET', KEYS[1], 'left')) + qty, quota)
redis.call('HSET', KEYS[1], 'left', left, 'at', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'ver', 1)
local had = tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0')
if had > qty then
  redis.call('HINCRBY', KEYS[2], ARGV[1], -qty)
elseif had > 0 then
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return left
"""

# KEYS: state, members. ARGV: expected ver, left, quota, ttl, now, member, qty, member, qty…
# Replaces both keys only if no take or give-back happened since ``ver`` was read.
_RESET = """
if redis.call('HGET', KEYS[1], 'ver') ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1], KEYS[2])
redis.call('HSET', KEYS[1], 'left', ARGV[2], 'quota', ARGV[3], 'ver', tonumber(ARGV[1]) + 1, 'at', ARGV[5])
redis.call('EXPIRE', KEYS[1], ARGV[4])
for i = 6, #ARGV, 2 do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
end
if #ARGV > 5 then
  redis.call('EXPIRE', KEYS[2], ARGV[4])
end
return 1
"""


@dataclass(frozen=True)
class GateState:
    left: int
    quota: int
    members: dict[int, int]

    @property
    def sold(self) -> int:
        return self.quota - self.left


class FlashGate:
    """The gate on one Redis: its client and key prefix, the keys of an offer, the scripts
    registered on the client, and whether it failed a moment ago (``pause``)."""

    def __init__(self, redis_client, prefix: str = PREFIX) -> None:
        self.redis = redis_client
        self.prefix = prefix
        self._scripts: dict[str, object] = {}
        self._paused_until = 0.0  # a gate that just failed is not asked again (each failure costs its retries)

    def keys(self, offer_id: int) -> list[str]:
        """The offer's state and members keys (more keys of the offer extend its state key)."""
        base = f"{self.prefix}{{{offer_id}}}"
        return [base, base + ":m"]

    def script(self, lua: str):
        """``lua`` registered on this gate's client (once per gate)."""
        got = self._scripts.get(lua)
        if got is None:
            got = self._scripts[lua] = self.redis.register_script(lua)
        return got

    def paused(self) -> bool:
        """Redis failed to answer a moment ago: the database decides alone for now."""
        return time.monotonic() < self._paused_until

    def pause(self) -> None:
        self._paused_until = time.monotonic() + PAUSE_SECONDS

    def take(self, offer_id: int, member_id: int, qty: int, *, limit: int, left_if_new: int, quota: int, ttl: int) -> int:
        """Take ``qty`` units for ``member_id`` (``limit`` 0: no per-member limit); the
        offer's keys start at ``left_if_new`` units and live ``ttl`` seconds. Returns the
        units left after the take, -1 over the member's limit, -2 sold out."""
        return self.script(_TAKE)(keys=self.keys(offer_id), args=[member_id, qty, limit, left_if_new, quota, ttl, time.time()])

    def give(self, offer_id: int, member_id: int, qty: int) -> None:
        """Give ``qty`` units of an offer back, with the member's share of the limit."""
        self.script(_GIVE)(keys=self.keys(offer_id), args=[member_id, qty, time.time()])

    def reset(self, offer_id: int, ver: bytes, left: int, quota: int, ttl: int, members: list[tuple[int, int]]) -> bool:
        """Replace the offer's keys (``left`` units, ``members`` as (member, units)) unless
        it moved since its ``ver`` was read. True if they were replaced."""
        flat = [v for mid, q in members for v in (mid, q)]
        return bool(self.script(_RESET)(keys=self.keys(offer_id), args=[ver, left, quota, ttl, time.time(), *flat]))

    def state(self, offer_id: int) -> GateState | None:
        """What the gate holds for an offer (None before its first take)."""
        state, members = self.keys(offer_id)
        h = self.redis.hgetall(state)
        if not h:
            return None
        m = self.redis.hgetall(members)
        return GateState(int(h[b"left"]), int(h[b"quota"]), {int(k): int(v) for k, v in m.items()})


_gate: FlashGate | None = None


def configure(redis_client, prefix: str = PREFIX) -> None:
    """Use ``redis_client`` as the gate, its keys under ``prefix`` (None turns the gate off)."""
    global _gate
    _gate = None if redis_client is None else FlashGate(redis_client, prefix)


def current() -> FlashGate | None:
    """The gate in use (None: the database decides alone)."""
    return _gate


def configuration() -> tuple[object | None, str]:
    """(the Redis client, the key prefix) in use, to restore after a test."""
    return (_gate.redis, _gate.prefix) if _gate else (None, PREFIX)


def enabled() -> bool:
    return _gate is not None


def ttl(ends_at: datetime) -> int:
    """Seconds an offer's keys live: until a day after its campaign ends."""
    return max(int((ends_at + KEEP_AFTER_END - utcnow()).total_seconds()), int(KEEP_AFTER_END.total_seconds()))


def paused() -> bool:
    """Redis failed to answer a moment ago: the database decides alone for now."""
    return _gate is not None and _gate.paused()


def pause() -> None:
    if _gate is not None:
        _gate.pause()


def give(offer_id: int, member_id: int, qty: int) -> None:
    """Give ``qty`` units of an offer back to the gate, with the member's share of the limit."""
    # Units not given back leave the gate holding too few: reconcile puts them back.
    gate = _gate
    if gate is None:
        return
    if gate.paused():
        log.warning("flash gate paused: %s of offer %s not given back", qty, offer_id)
        return
    try:
        gate.give(offer_id, member_id, qty)
    except RedisError:
        gate.pause()
        log.exception("flash gate: giving back %s of offer %s failed", qty, offer_id)


@dataclass
class Pregated:
    """Units the queue's gate already took for the order being placed (``flash_sale.queue``)."""

    offer_id: int
    member_id: int
    qty: int
    used: bool = False


def pregate(s: Session, pre: Pregated) -> None:
    """The order placed in this transaction holds ``pre``: ``gate_take`` takes it from here."""
    s.info["linli_flash_pregated"] = pre


def gate_take(s: Session, offer: rules.OfferView, member_id: int, qty: int) -> bool:
    """Take ``qty`` units for ``member_id`` at the gate. False when there is no gate (or it
    does not answer: the database then decides alone for ``PAUSE_SECONDS``); a refusal raises
    ``campaign.sold_out`` or ``campaign.member_limit``. The units go back by themselves if
    the transaction rolls back. A unit the queue took already (``pregate``) is not taken
    again: the queue gives it back if the order is refused."""
    pre = s.info.get("linli_flash_pregated")
    if pre is not None and not pre.used and (pre.offer_id, pre.member_id, pre.qty) == (offer.id, member_id, qty):
        pre.used = True  # taken when the order was queued; the queue gives it back if the order fails
        return True
    gate = _gate
    if gate is None or offer.quota is None or gate.paused():
        return False
    row = s.get(Offer, offer.id)  # already in the session: no query
    c = s.get(Campaign, row.campaign_id)
    try:
        got = gate.take(offer.id, member_id, qty, limit=offer.limit_per_member or 0, left_if_new=max(offer.quota - offer.sold, 0), quota=offer.quota, ttl=ttl(c.ends_at))
    except RedisError:
        gate.pause()
        log.exception("flash gate: Redis did not answer; the database decides alone for %s s", PAUSE_SECONDS)
        return False
    if got == -1:
        raise Conflict("campaign.member_limit", f"You may buy at most {offer.limit_per_member} at this price.", limit=offer.limit_per_member, offer_id=offer.id)
    if got == -2:
        raise Conflict("campaign.sold_out", "This offer is sold out.", offer_id=offer.id)
    taken = [offer.id, member_id, qty]  # compared by identity: a take of its own
    pending = _pending(s)
    pending.append(taken)
    dbmod.after_rollback(s, lambda: give(*taken) if any(t is taken for t in pending) else None)
    return True


def _pending(s: Session) -> list[list[int]]:
    """Takes of this transaction still owed back if it rolls back (``gate_undo`` removes
    the ones it gave back already)."""
    if "linli_flash_pending" not in s.info:
        s.info["linli_flash_pending"] = []
        dbmod.after_commit(s, lambda: s.info.pop("linli_flash_pending", None))
        dbmod.after_rollback(s, lambda: s.info.pop("linli_flash_pending", None))
    return s.info["linli_flash_pending"]


def gate_undo(s: Session, offer_id: int, member_id: int, qty: int) -> None:
    """Give back at once what ``gate_take`` took in this still-open transaction."""
    pending = s.info.get("linli_flash_pending", [])
    for i in range(len(pending) - 1, -1, -1):
        if pending[i] == [offer_id, member_id, qty]:
            del pending[i]
            give(offer_id, member_id, qty)
            return


def gate_give_back(s: Session, offer_id: int, member_id: int, qty: int) -> None:
    """An order holding gated units was cancelled: give them back once that commits."""
    dbmod.after_commit(s, lambda: give(offer_id, member_id, qty))


# --- what the gate holds, and putting it right -----------------------------------------------


def gate_state(offer_id: int) -> GateState | None:
    """What the gate holds for an offer (None without a gate or before its first take)."""
    return None if _gate is None else _gate.state(offer_id)


def reconcile(db: Database, offer_ids: list[int], *, quiet_seconds: float | None = None) -> int:
    """Reset the gate's counters of ``offer_ids`` from the database (left = quota − sold,
    members from their counters). Safe to run while the sale is quiet: an offer that moved
    in the last ``quiet_seconds`` is skipped, and one that moves while the database is read
    is left as it is (the reset applies only if nothing moved meanwhile). Returns how many
    offers were reset (``QUIET_SECONDS`` when ``quiet_seconds`` is not given)."""
    gate = _gate
    if gate is None:
        return 0
    quiet = QUIET_SECONDS if quiet_seconds is None else quiet_seconds
    done = 0
    for offer_id in offer_ids:
        keys = gate.keys(offer_id)
        ver, at = gate.redis.hmget(keys[0], ["ver", "at"])
        if ver is None or time.time() - float(at) < quiet or gate.redis.xlen(keys[0] + ":q"):
            continue  # never taken (the first take initialises it), busy, or queued orders not yet placed
        with db.transaction() as s:
            o = s.get(Offer, offer_id)
            c = s.get(Campaign, o.campaign_id)
            members = [] if o.limit_per_member is None else list(s.execute(
                select(OfferCounter.member_id, OfferCounter.qty).where(OfferCounter.offer_id == offer_id, OfferCounter.qty > 0)
            ))
            left, quota, keep = o.quota - o.sold, o.quota, ttl(c.ends_at)
        done += int(gate.reset(offer_id, ver, left, quota, keep, members))
    return done


@job("campaigns.flash_reconcile", order=90)
def flash_reconcile(db: Database, as_of: datetime) -> int:
    """Put the gate of running flash sales right from the database, offer by offer, when
    each has been quiet for ``QUIET_SECONDS`` (after a Redis restart, or a process that died
    between the gate and its database transaction). Nothing to do without Redis."""
    if _gate is None:
        return 0
    with db.transaction() as s:
        ids = list(s.scalars(
            select(Offer.id).join(Campaign, Campaign.id == Offer.campaign_id)
            .where(Campaign.kind == rules.Kind.flash.value, Campaign.status == "active", Campaign.ends_at > as_of - KEEP_AFTER_END, Offer.quota.is_not(None))
            .order_by(Offer.id)
        ))
    return reconcile(db, ids)
