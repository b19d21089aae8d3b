"""The broker path of background work: the outbox relayed to Dramatiq on RabbitMQ.

With ``LINLI_BROKER_URL`` set, events still start life as rows in ``outbox_events``
written in the transaction that caused them (``linli.events.emit``). Getting them to the
handlers is split in two, and Dramatiq does all of the delivery (no home-made queue):

* **Relay** (``Relay``, run by ``linli worker``): claims unpublished rows
  (``published_at IS NULL AND done_at IS NULL``) in id order, sends one Dramatiq message
  per event (publisher confirms on, so ``send`` returns once RabbitMQ holds the message),
  then sets ``published_at`` and commits. On PostgreSQL the claim is
  ``FOR NO KEY UPDATE SKIP LOCKED``, so any number of relays (one per worker process)
  share the outbox without sending the same row twice in the normal case. On SQLite (one
  file, one write lock) the relay reads the rows, sends, then marks them in a second
  short transaction, so it never holds the write lock during network calls; two relays
  there may send an event twice. A crash between send and commit leaves the row
  unpublished and it is sent again. Either way the result is a duplicate message, which
  the idempotent handlers absorb (``process_event`` returns at once for a done event and
  skips every handler whose ``(event_id, handler)`` row exists).
  Safety net for a lost message (a broker that lost a queue, a message dead-lettered
  after its retries ran out): an event published more than ``stale_after`` (10 minutes)
  ago that is still not done, and that has not failed within that window either (so a
  Dramatiq retry chain that is still running is not doubled), is published again.
* **Actor** ``linli_handle_event(event_id)`` on the ``LINLI_BROKER_QUEUE`` queue (default
  ``linli_events``): its body is ``events.process_event(db, event_id)``. Each handler
  commits its own transaction inside ``process_event``; the actor returns only after
  that, and Dramatiq acks a message only after the actor returned, so a worker killed
  mid-handler leaves the message unacked and RabbitMQ redelivers it to another consumer
  (the killed transaction rolled back with its ``handled_events`` row, so the handler
  runs again from scratch). A handler that raises makes ``process_event`` raise
  ``HandlerFailed``; Dramatiq's ``Retries`` middleware re-enqueues the message with
  exponential backoff (1 s doubling to 5 min, ``MAX_RETRIES`` times; after that the
  message is dead-lettered and the relay's safety net sends the event again once it has
  been quiet for ``stale_after``, so a failing event is retried until it succeeds). The
  handlers that already succeeded are not run again.

Ordering: none is promised across events (several relays, several worker threads);
handlers must not depend on it.

Latency: only ``linli worker`` runs the relay. API processes in broker mode neither
dispatch nor publish (``settings.dispatch_inline`` is off); their events reach RabbitMQ
within one relay poll (``Relay.interval``, 0.25 s by default) of their commit. Events
emitted inside the worker (by handlers and due jobs) wake the relay at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import dramatiq
from dramatiq.brokers.rabbitmq import RabbitmqBroker
from sqlalchemy import event as sa_event
from sqlalchemy import or_, select, update

from linli import events
from linli.db import Database, utcnow
from linli.events import OutboxEvent

log = logging.getLogger("linli.broker")

ACTOR_NAME = "linli_handle_event"
DEFAULT_QUEUE = "linli_events"
STALE_AFTER = timedelta(minutes=10)
# Dramatiq retry policy for an event whose handler raised (milliseconds).
MIN_BACKOFF_MS = 1_000
MAX_BACKOFF_MS = 5 * 60_000
MAX_RETRIES = 10


def build_broker(url: str) -> RabbitmqBroker:
    """A RabbitMQ broker with Dramatiq's default middleware (Retries, TimeLimit, …) and
    publisher confirms, so a sent message is one RabbitMQ has taken responsibility for."""
    return RabbitmqBroker(url=url, confirm_delivery=True)


def declare_actor(broker: RabbitmqBroker, db: Database, queue_name: str = DEFAULT_QUEUE) -> dramatiq.Actor:
    """Declare ``linli_handle_event`` on ``broker``; its body runs the event's handlers."""

    def linli_handle_event(event_id: int) -> None:
        # Raises HandlerFailed when a handler failed: Dramatiq retries with backoff.
        events.process_event(db, event_id)

    return dramatiq.actor(
        linli_handle_event,
        broker=broker,
        actor_name=ACTOR_NAME,
        queue_name=queue_name,
        max_retries=MAX_RETRIES,
        min_backoff=MIN_BACKOFF_MS,
        max_backoff=MAX_BACKOFF_MS,
    )


class Relay:
    """Publishes outbox events to the actor's queue (see the module docstring).

    ``send`` is any callable taking an event id (``actor.send`` in production), which keeps
    the claim logic testable without RabbitMQ.
    """

    def __init__(
        self,
        db: Database,
        send: Callable[[int], Any],
        *,
        batch: int = 100,
        interval: float = 0.25,
        stale_after: timedelta = STALE_AFTER,
        stale_check_every: float = 30.0,
    ) -> None:
        self.db = db
        self.send = send
        self.batch = batch
        self.interval = interval
        self.stale_after = stale_after
        self.stale_check_every = stale_check_every
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- one pass ---------------------------------------------------------------------

    def publish_new(self, *, now: datetime | None = None) -> int:
        """Publish one batch of never-published events; returns how many were sent."""
        q = (
            select(OutboxEvent.id)
            .where(OutboxEvent.published_at.is_(None), OutboxEvent.done_at.is_(None))
            .order_by(OutboxEvent.id)
            .limit(self.batch)
        )
        return self._claim_and_send(q, now)

    def republish_stale(self, *, now: datetime | None = None) -> int:
        """Publish again events whose message seems lost (published long ago, not done,
        no failure recorded recently)."""
        cutoff = (now or utcnow()) - self.stale_after
        q = (
            select(OutboxEvent.id)
            .where(
                OutboxEvent.done_at.is_(None),
                OutboxEvent.published_at <= cutoff,
                or_(OutboxEvent.next_attempt_at.is_(None), OutboxEvent.next_attempt_at <= cutoff),
            )
            .order_by(OutboxEvent.id)
            .limit(self.batch)
        )
        n = self._claim_and_send(q, now)
        if n:
            log.warning("re-published %d outbox events whose messages looked lost", n)
        return n

    def relay_once(self, *, now: datetime | None = None) -> int:
        """Publish every pending event and re-publish stale ones; returns messages sent."""
        total = 0
        while (n := self.publish_new(now=now)) > 0:
            total += n
            if n < self.batch:
                break
        return total + self.republish_stale(now=now)

    def _claim_and_send(self, query, now: datetime | None) -> int:
        if self.db.is_sqlite:
            # Never hold SQLite's database-wide write lock across network calls (API
            # writes would time out behind a slow broker): read, send, then mark. Two
            # relays may then send an event twice; the idempotent handlers absorb it.
            with self.db.transaction() as s:
                ids = list(s.scalars(query))
            sent, error = self._send_all(ids)
            if sent:
                with self.db.transaction() as s:
                    self._mark_published(s, sent, now)
        else:
            # PostgreSQL: the claimed rows stay locked until published_at is committed,
            # and rival relays skip them. NO KEY UPDATE (key_share) lets a handler that
            # already received the message insert its handled_events row meanwhile (the
            # foreign-key check only needs KEY SHARE).
            with self.db.transaction() as s:
                ids = list(s.scalars(query.with_for_update(skip_locked=True, key_share=True)))
                sent, error = self._send_all(ids)
                if sent:
                    self._mark_published(s, sent, now)
        if error is not None:
            raise error
        return len(sent)

    def _send_all(self, ids: list[int]) -> tuple[list[int], Exception | None]:
        sent: list[int] = []
        for event_id in ids:
            try:
                self.send(event_id)
            except Exception as exc:  # RabbitMQ unreachable: keep what went out, retry the rest
                return sent, exc
            sent.append(event_id)
        return sent, None

    @staticmethod
    def _mark_published(s, ids: list[int], now: datetime | None) -> None:
        s.execute(update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(published_at=now or utcnow()))

    # -- the loop ---------------------------------------------------------------------

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="linli-relay", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=timeout)
            self._thread = None

    def _run(self) -> None:
        failures = 0
        next_stale_check = 0.0
        self._wake.set()  # a first pass at start-up
        while not self._stop.is_set():
            delay = self.interval if failures == 0 else min(self.interval * 2**failures, 10.0)
            self._wake.wait(delay)
            self._wake.clear()
            if self._stop.is_set():
                break
            try:
                n = self.publish_new()
                if n >= self.batch:
                    self._wake.set()  # more are waiting
                clock = time.monotonic()
                if clock >= next_stale_check:
                    self.republish_stale()
                    next_stale_check = clock + self.stale_check_every
                failures = 0
            except Exception:  # database or RabbitMQ briefly unavailable: back off, retry
                failures = min(failures + 1, 8)
                log.exception("outbox relay failed; retrying")


@dataclass
class BrokerPath:
    """What a broker-mode worker process runs: the broker, the actor and the relay."""

    broker: RabbitmqBroker
    actor: dramatiq.Actor
    relay: Relay
    queue_name: str

    def wake_relay_on_commit(self, db: Database) -> Callable[[], None]:
        """Wake the relay when a session of ``db`` that emitted events commits (events
        from handlers and jobs run in this process). Returns the function undoing it."""

        def listener(session) -> None:
            if session.info.pop("linli_emitted", False):
                self.relay.wake()

        sa_event.listen(db.sessions, "after_commit", listener)
        return lambda: sa_event.remove(db.sessions, "after_commit", listener)


def connect(broker_url: str, db: Database, *, queue_name: str = DEFAULT_QUEUE, **relay_options: Any) -> BrokerPath:
    """Build the broker (made Dramatiq's global one), declare the actor, make a relay."""
    broker = build_broker(broker_url)
    dramatiq.set_broker(broker)
    actor = declare_actor(broker, db, queue_name)
    relay = Relay(db, actor.send, **relay_options)
    return BrokerPath(broker=broker, actor=actor, relay=relay, queue_name=queue_name)
