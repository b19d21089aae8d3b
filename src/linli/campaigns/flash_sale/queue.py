"""Flash-sale intake through a queue (秒杀排队下单), when the Redis gate is on.

In a rush the database cannot write an order per request as fast as buyers arrive, and
every request that waits for it holds a server thread. So with Redis, ``POST /orders``
for a plain flash-sale order (one item of an offer open to everyone, no coupon, points or
team) never touches the database: one Lua script checks the member's limit, takes the
unit *and* appends the order request to the offer's stream, atomically, and the buyer is
answered at once — ``202`` with a ticket, or ``409`` sold out / over the limit. A drainer
(a thread of ``linli serve`` in embedded mode, and of ``linli worker``) reads the streams
and places the orders through the normal checkout, up to ``BATCH`` in one transaction with
a savepoint each, the database compare-and-set still the final guard. The buyer polls
``GET /orders/tickets/{ticket}``: ``queued`` → ``created`` (with the order id) or
``refused`` (with the reason; the unit went back to the gate).

Nothing is lost between the gate and the queue (one script). A ticket is placed at most
once: its key is claimed in ``idempotency_keys`` inside the order's transaction, so a
drainer that dies after the commit and before the acknowledgement is replayed harmlessly
by the next one, which takes over entries left pending for ``CLAIM_IDLE_MS``. Entries are
deleted once answered, so a non-empty stream means work in flight: the reconcile job leaves
such an offer alone. The campaign is judged, and the order dated, when the buyer was
accepted; the time to pay starts when the order is placed, so a long queue does not eat it.

Keys per offer, all under the offer's hash tag (see ``gate``): ``<prefix>{id}:q`` the
stream, ``<prefix>{id}:t`` ticket → answer (JSON), ``<prefix>{id}:k:<member>:<key>`` an
``Idempotency-Key`` → ticket. ``<prefix>queues`` lists the streams to drain.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import socket
import threading
import time
import weakref
from dataclasses import dataclass
from datetime import datetime

import redis
import redis.asyncio
from redis import RedisError
from redis.exceptions import ResponseError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from linli import idempotency, jobs
from linli.campaigns import rules
from linli.campaigns.flash_sale import gate as flash
from linli.campaigns.flash_sale.gate import FlashGate
from linli.campaigns.models import Campaign, Offer
from linli.campaigns.service import offer_view
from linli.db import Database, utcnow
from linli.errors import Conflict, DomainError
from linli.orders import service as orders
from linli.orders.ports import Ticket

log = logging.getLogger("linli.campaigns.flash_queue")

GROUP = "linli-flash"
PROFILE_SECONDS = 2.0  # how long a server process trusts its copy of a campaign's offers
CLAIM_IDLE_MS = 60_000  # a pending entry this old belongs to a drainer that died
TICKET_RE = re.compile(r"^(\d{1,18})\.(\d{1,20}-\d{1,20})$")

# KEYS: state, members, stream, tickets, idem ('' for none).
# ARGV: member, qty, limit (0 = none), left if new, quota, ttl, now, request JSON, at (ISO).
# Returns {0, entry id, stream length} queued, {1, entry id} replay of the key, {-1} over the
# limit, {-2} sold out.
_ENQUEUE = """
if KEYS[5] ~= '' then
  local had = redis.call('GET', KEYS[5])
  if had then return {1, had} end
end
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], 'left', ARGV[4], 'quota', ARGV[5], 'ver', 0, 'at', ARGV[7])
  redis.call('EXPIRE', KEYS[1], ARGV[6])
end
local qty = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
if limit > 0 and tonumber(redis.call('HGET', KEYS[2], ARGV[1]) or '0') + qty > limit then
  return {-1}
end
if tonumber(redis.call('HGET', KEYS[1], 'left')) < qty then
  return {-2}
end
redis.call('HINCRBY', KEYS[1], 'left', -qty)
redis.call('HINCRBY', KEYS[1], 'ver', 1)
redis.call('HSET', KEYS[1], 'at', ARGV[7])
if limit > 0 then
  redis.call('HINCRBY', KEYS[2], ARGV[1], qty)
  if redis.call('TTL', KEYS[2]) < 0 then redis.call('EXPIRE', KEYS[2], ARGV[6]) end
end
local id = redis.call('XADD', KEYS[3], '*', 'm', ARGV[1], 'q', ARGV[2], 'r', ARGV[8], 'at', ARGV[9])
redis.call('HSET', KEYS[4], id, cjson.encode({s = 'queued', m = tonumber(ARGV[1])}))
if redis.call('TTL', KEYS[4]) < 0 then redis.call('EXPIRE', KEYS[4], ARGV[6]) end
if KEYS[5] ~= '' then redis.call('SET', KEYS[5], id, 'EX', ARGV[6]) end
return {0, id, redis.call('XLEN', KEYS[3])}
"""


@dataclass(frozen=True)
class _Profile:
    """What intake needs of a campaign, cached per process for ``PROFILE_SECONDS``."""

    merchant_id: int
    kind: str
    status: str
    starts_at: datetime
    ends_at: datetime
    early_access_minutes: int
    offers: dict[int, rules.OfferView]  # sku → its one open offer (SKUs with several are left to checkout)


_profiles: dict[tuple[int, int], tuple[float, _Profile | None]] = {}  # (gate, campaign) → (until, profile)
_loading: dict[tuple[int, int], threading.Lock] = {}


def _current() -> FlashGate:
    """The gate in use (callers checked ``flash.enabled()``)."""
    return flash.current()


def _keys(offer_id: int) -> tuple[str, str, str, str]:
    state, members = _current().keys(offer_id)
    return state, members, state + ":q", state + ":t"


def _queues_key() -> str:
    return _current().prefix + "queues"


def _profile(s: Session | None, campaign_id: int) -> _Profile | None:
    key = (id(flash.current()), campaign_id)  # a new gate (another deployment, a test) starts afresh
    hit = _profiles.get(key)
    if hit is not None and hit[0] > time.monotonic():
        return hit[1]
    if s is None:
        return None
    # At the start of a sale every request misses at once: one of them reads, the rest wait.
    with _loading.setdefault(key, threading.Lock()):
        hit = _profiles.get(key)
        if hit is not None and hit[0] > time.monotonic():
            return hit[1]
        prof = _load_profile(s, campaign_id)
        if len(_profiles) > 1000:
            _profiles.clear()
            _loading.clear()
        _profiles[key] = (time.monotonic() + PROFILE_SECONDS, prof)
    return prof


def _load_cached(db: Database, campaign_id: int) -> None:
    with db.transaction() as s:
        _profile(s, campaign_id)


def _load_profile(s: Session, campaign_id: int) -> _Profile | None:
    c = s.get(Campaign, campaign_id)
    if c is None:
        return None
    by_sku: dict[int, list[Offer]] = {}
    for o in s.scalars(select(Offer).where(Offer.campaign_id == c.id)):
        by_sku.setdefault(o.sku_id, []).append(o)
    open_ = {}
    for sku, group in by_sku.items():
        o = group[0]
        if len(group) == 1 and o.community_id is None and o.leader_id is None and o.quota is not None:
            open_[sku] = offer_view(o)
    return _Profile(c.merchant_id, c.kind, c.status, c.starts_at, c.ends_at, c.early_access_minutes, open_)


@dataclass(frozen=True)
class _Plan:
    """One script call that queues an order (or refuses it)."""

    offer: rules.OfferView
    keys: list[str]
    args: list

    def answer(self, got: list) -> str:
        """The ticket, or the gate's refusal raised."""
        if got[0] == -1:
            raise Conflict("campaign.member_limit", f"You may buy at most {self.offer.limit_per_member} at this price.", limit=self.offer.limit_per_member, offer_id=self.offer.id)
        if got[0] == -2:
            raise Conflict("campaign.sold_out", "This offer is sold out.", offer_id=self.offer.id)
        return f"{self.offer.id}.{got[1].decode()}"

    @property
    def stream(self) -> str:
        return self.keys[2]


def _plan(s: Session | None, member_id: int, req: orders.NewOrder, key: str | None, now: datetime) -> _Plan | None:
    """How to queue ``req``, if it is a plain flash-sale order and the gate is on (else None;
    also None without ``s`` when this process does not know the campaign yet)."""
    if not flash.enabled() or flash.paused() or req.campaign_id is None or req.team_id is not None or req.coupon_id is not None or req.points or req.stored_value:
        return None
    if len(req.items) != 1 or (req.pickup_point_id is None) == (req.address is None):
        return None
    if key is not None and not 1 <= len(key.strip()) <= 120:
        return None  # checkout answers the bad key
    prof = _profile(s, req.campaign_id)
    if prof is None or prof.kind != rules.Kind.flash or prof.merchant_id != req.merchant_id or prof.status == "cancelled":
        return None
    sku_id, qty = req.items[0]
    offer = prof.offers.get(sku_id)
    if offer is None:
        return None
    if rules.in_early_window(prof.starts_at, prof.early_access_minutes, now):
        return None  # checkout asks whether this member has early access (the database guards the stock)
    rules.require_open(prof.starts_at, prof.ends_at, prof.status, now, prof.kind)
    a = req.address
    request = {"merchant_id": req.merchant_id, "sku_id": sku_id, "qty": qty, "pickup_point_id": req.pickup_point_id, "invite_code": req.invite_code,
               "address": [a.name, a.phone, a.text, a.lat, a.lng] if a else None, "campaign_id": req.campaign_id}
    state, members, stream, tickets = _keys(offer.id)
    idem = f"{state}:k:{member_id}:{key.strip()}" if key else ""
    args = [member_id, qty, offer.limit_per_member or 0, max(offer.quota - offer.sold, 0), offer.quota, flash.ttl(prof.ends_at), time.time(), json.dumps(request), now.isoformat()]
    return _Plan(offer, [state, members, stream, tickets, idem], args)


def _failed() -> None:
    flash.pause()
    log.exception("flash queue: Redis did not answer; checkout decides alone")


def try_queue(s: Session, member_id: int, req: orders.NewOrder, key: str | None, now: datetime) -> str | None:
    """Queue ``req`` if it is a plain flash-sale order and the gate is on; returns its
    ticket, raises the gate's refusal, or returns None for checkout to handle as usual.
    ``s`` (the request's session) is read only when this process's copy of the campaign
    is missing or older than ``PROFILE_SECONDS``; a queued order writes nothing to it."""
    plan = _plan(s, member_id, req, key, now)
    if plan is None:
        return None
    try:
        got = _current().script(_ENQUEUE)(keys=plan.keys, args=plan.args)
        if got[0] == 0 and got[2] == 1:  # the stream was empty: make sure the drainers list it
            _current().redis.sadd(_queues_key(), plan.stream)
    except RedisError:
        _failed()
        return None
    return plan.answer(got)


async def try_queue_now(db: Database, member_id: int, req: orders.NewOrder, key: str | None, now: datetime) -> str | None:
    """``try_queue`` on the event loop, without a thread: None when it cannot decide, and
    the order goes to ``try_queue`` and checkout in a thread. In a rush this is nearly every
    request, and skipping the thread pool doubles what a process answers
    (bench/flash_sale.py). The campaign is read (in a thread, once per process every
    ``PROFILE_SECONDS``, however many buyers tap at that moment) when it is not known yet."""
    if req.campaign_id is not None and flash.enabled() and _profile(None, req.campaign_id) is None:
        await run_in_threadpool(_load_cached, db, req.campaign_id)
    plan = _plan(None, member_id, req, key, now)
    if plan is None:
        return None
    client = _async_gate()
    if client is None:
        return None
    r, script = client
    try:
        got = await script(keys=plan.keys, args=plan.args)
        if got[0] == 0 and got[2] == 1:
            await r.sadd(_queues_key(), plan.stream)
    except RedisError:
        _failed()
        return None
    return plan.answer(got)


_ASYNC_KWARGS = ("host", "port", "db", "username", "password", "socket_timeout", "socket_connect_timeout")
_async_clients: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # event loop → {gate id: (client, script)}


def _async_gate():
    """An asyncio client (and the script) for the gate's Redis, one per event loop; None
    when the gate's connection is not plain TCP (then the thread path serves)."""
    gate = _current()
    pool = gate.redis.connection_pool
    kwargs = pool.connection_kwargs
    if "host" not in kwargs or pool.connection_class is not redis.Connection:
        return None
    per_loop = _async_clients.setdefault(asyncio.get_running_loop(), {})
    got = per_loop.get(id(gate))
    if got is None:
        r = redis.asyncio.Redis(**{k: kwargs[k] for k in _ASYNC_KWARGS if k in kwargs})
        got = per_loop[id(gate)] = (r, r.register_script(_ENQUEUE))
    return got


def ticket(member_id: int, raw: str) -> Ticket | None:
    """The answer to a queued order, for the member who placed it (None if unknown)."""
    m = TICKET_RE.match(raw)
    if m is None or not flash.enabled():
        return None
    offer_id, entry = int(m.group(1)), m.group(2)
    got = _current().redis.hget(_keys(offer_id)[3], entry)
    if got is None:
        return None
    d = json.loads(got)
    if d.get("m") != member_id:
        return None
    return Ticket(raw, d["s"], d.get("o"), d.get("c"), d.get("d"))


# --- the drainer -------------------------------------------------------------------------------


BATCH = 50  # queued orders placed per transaction (one savepoint each)


@dataclass
class _Queued:
    stream: str
    entry: str
    offer_id: int
    member_id: int
    qty: int
    request: dict
    at: datetime

    @classmethod
    def of(cls, stream: str, entry: str, fields: dict[bytes, bytes]) -> _Queued:
        offer_id = int(stream.rsplit("{", 1)[1].split("}", 1)[0])
        return cls(stream, entry, offer_id, int(fields[b"m"]), int(fields[b"q"]), json.loads(fields[b"r"]), datetime.fromisoformat(fields[b"at"].decode()))

    def new_order(self) -> orders.NewOrder:
        r, a = self.request, self.request["address"]
        return orders.NewOrder(
            merchant_id=r["merchant_id"], items=[(r["sku_id"], r["qty"])], pickup_point_id=r["pickup_point_id"],
            address=orders.Address(*a) if a else None, campaign_id=r["campaign_id"], invite_code=r["invite_code"],
        )


def _place_one(s: Session, q: _Queued, pre: flash.Pregated, now: datetime) -> dict:
    """Place one queued order in its own savepoint; its answer for the ticket."""
    flash.pregate(s, pre)
    try:
        with s.begin_nested():
            claim = idempotency.claim(s, f"member:{q.member_id}", "orders.flash", f"{q.offer_id}.{q.entry}", q.request, q.at)
            if claim.replay is not None:  # placed by a drainer that died before answering
                pre.used = True
                order_id = claim.replay["id"]
            else:
                order_id = orders.create_order(s, q.member_id, q.new_order(), now, accepted_at=q.at).id
                claim.store(s, {"id": order_id}, 201)
        return {"s": "created", "m": q.member_id, "o": order_id}
    except DomainError as exc:
        return {"s": "refused", "m": q.member_id, "c": exc.code, "d": exc.detail or exc.title}


def _place(db: Database, batch: list[_Queued], now: datetime) -> None:
    """Place a batch of queued orders in one transaction, then answer their tickets; a
    refused order's unit goes back to the gate. If the transaction itself fails (not a
    refusal: the database went away, a bug), nothing is answered and the entries stay
    pending for a retry; the batch is first retried one by one so that one bad entry
    cannot hold the others back."""
    pres = [flash.Pregated(q.offer_id, q.member_id, q.qty) for q in batch]
    try:
        with db.transaction() as s:
            answers = [_place_one(s, q, pre, now) for q, pre in zip(batch, pres, strict=True)]
    except Exception:
        if len(batch) == 1:
            raise
        log.exception("flash queue: a batch of %s failed; placing them one by one", len(batch))
        for q in batch:
            try:
                _place(db, [q], now)
            except Exception:  # left pending: a later drain takes it over after CLAIM_IDLE_MS
                log.exception("flash queue: ticket %s.%s could not be placed", q.offer_id, q.entry)
        return
    for q, pre, answer in zip(batch, pres, answers, strict=True):
        if answer["s"] != "created" or not pre.used:  # refused, or it took another offer's unit
            flash.give(q.offer_id, q.member_id, q.qty)
    _answer(batch, answers)


def _answer(batch: list[_Queued], answers: list[dict]) -> None:
    """Record the tickets' answers and take the entries off their streams."""
    with _current().redis.pipeline(transaction=False) as p:
        for q, answer in zip(batch, answers, strict=True):
            p.hset(q.stream[: -len(":q")] + ":t", q.entry, json.dumps(answer))
            p.xack(q.stream, GROUP, q.entry)
            p.xdel(q.stream, q.entry)
        p.execute()


def _place_all(db: Database, stream: str, entries, now: datetime | None) -> int:
    queued = [_Queued.of(stream, e.decode(), fields) for e, fields in entries if fields]  # no fields: deleted meanwhile
    for i in range(0, len(queued), BATCH):
        _place(db, queued[i : i + BATCH], now or utcnow())
    return len(queued)


def _ensure_group(stream: str) -> None:
    try:
        _current().redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def drain_once(db: Database, consumer: str, *, count: int = 200, block_ms: int | None = None, claim_idle_ms: int = CLAIM_IDLE_MS, now: datetime | None = None) -> int:
    """Place what is waiting (and what a dead drainer left pending) once, at ``now`` (the
    clock by default); returns how many entries were answered."""
    if not flash.enabled():
        return 0
    g = _current().redis
    streams = sorted(s.decode() for s in g.smembers(_queues_key()))
    done = 0
    for stream in streams:
        _ensure_group(stream)
        _, stale, _ = g.xautoclaim(stream, GROUP, consumer, claim_idle_ms, "0-0", count=count)
        done += _place_all(db, stream, stale, now)
    if not streams:
        return done
    got = g.xreadgroup(GROUP, consumer, {s: ">" for s in streams}, count=count, block=block_ms)
    for stream, entries in got or []:
        done += _place_all(db, stream.decode(), entries, now)
    for stream in streams:  # a sale that ended and drained leaves the list
        if g.xlen(stream) == 0 and not g.exists(stream[: -len(":q")]):
            g.srem(_queues_key(), stream)
    return done


def drain(db: Database, consumer: str = "drain", *, claim_idle_ms: int = CLAIM_IDLE_MS, now: datetime | None = None) -> int:
    """Drain until nothing is waiting (for jobs, the CLI and tests)."""
    total = 0
    while n := drain_once(db, consumer, claim_idle_ms=claim_idle_ms, now=now):
        total += n
    return total


@jobs.job("campaigns.flash_queue", order=5)
def place_queued(db: Database, as_of: datetime) -> int:
    """Place what waits in the flash-sale queues (the drainer loop normally has; this covers
    ``jobs run-due`` and ``worker --once``), before unpaid orders expire."""
    return drain(db, "jobs", now=as_of)


def waiting(offer_id: int) -> int:
    """Queued orders of an offer not yet answered."""
    return int(_current().redis.xlen(_keys(offer_id)[2])) if flash.enabled() else 0


@jobs.loop("campaigns.flash_drainer")
class Drainer:
    """A daemon thread that places queued flash-sale orders as they arrive."""

    def __init__(self, db: Database, block_ms: int = 1000) -> None:
        self.db = db
        self.block_ms = block_ms
        self.consumer = f"{socket.gethostname()}-{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and flash.enabled():
            self._thread = threading.Thread(target=self._run, name="linli-flash-drainer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                if not drain_once(self.db, self.consumer, block_ms=self.block_ms):
                    self._stop.wait(0.05 if _current().redis.scard(_queues_key()) else 1.0)
            except Exception:  # Redis or the database briefly away: entries stay pending
                log.exception("flash queue: draining failed")
                self._stop.wait(1.0)
