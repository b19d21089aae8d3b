"""Domain events through a transactional outbox, and idempotent handlers.

``emit(session, name, payload)`` adds a row to ``outbox_events`` in the caller's
transaction, so an event exists if and only if the change that caused it committed.

Handlers register with ``@on("order.paid")``. ``process_event`` runs each handler of an
event in its own transaction that first inserts ``(event_id, handler)`` into
``handled_events`` (unique): a handler whose row exists is skipped, and a handler killed
halfway leaves no row and no effect, so at-least-once delivery gives exactly-once effect.

Delivery: embedded, an in-process ``Dispatcher`` thread polls the outbox (and is woken on
commit); with ``LINLI_BROKER_URL`` the relay in ``linli.broker`` publishes events to
Dramatiq on RabbitMQ and workers call the same ``process_event``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from linli.db import Base, BigId, Database, UTCDateTime, is_unique_violation, utcnow

log = logging.getLogger("linli.events")


class OutboxEvent(Base):
    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(80), index=True)
    merchant_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by the broker relay once the event is on RabbitMQ.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Set once every handler has recorded success.
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # An embedded dispatcher's lease: other processes leave the event alone until then.
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)


class HandledEvent(Base):
    __tablename__ = "handled_events"
    __table_args__ = (UniqueConstraint("event_id", "handler"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_events.id", ondelete="CASCADE"))
    handler: Mapped[str] = mapped_column(String(200))
    handled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True)
class Event:
    id: int
    name: str
    merchant_id: int | None
    payload: dict[str, Any]
    created_at: datetime


Handler = Callable[[Session, Event], None]
_handlers: dict[str, list[tuple[str, Handler]]] = {}


def on(event_name: str, *, name: str | None = None) -> Callable[[Handler], Handler]:
    """Register a handler. Its key (module.function) must stay stable across releases."""

    def register(fn: Handler) -> Handler:
        key = name or f"{fn.__module__}.{fn.__qualname__}"
        entries = _handlers.setdefault(event_name, [])
        if all(k != key for k, _ in entries):
            entries.append((key, fn))
        return fn

    return register


def handlers_for(event_name: str) -> list[tuple[str, Handler]]:
    return list(_handlers.get(event_name, []))


def emit(session: Session, name: str, payload: dict[str, Any], *, merchant_id: int | None = None, at: datetime | None = None) -> OutboxEvent:
    """Record an event in the caller's transaction. ``at`` is when it happened (the use
    case's clock); handlers see it as ``event.created_at``."""
    row = OutboxEvent(name=name, payload=payload, merchant_id=merchant_id, created_at=at or utcnow())
    session.add(row)
    session.info["linli_emitted"] = True
    return row


def _to_event(row: OutboxEvent) -> Event:
    return Event(row.id, row.name, row.merchant_id, dict(row.payload), row.created_at)


class HandlerFailed(RuntimeError):
    pass


def _record_failure(db: Database, event_id: int, failures: list[str]) -> None:
    with db.transaction() as s:
        attempts = (s.get(OutboxEvent, event_id).attempts or 0) + 1
        backoff = timedelta(seconds=min(2**attempts, 600))
        s.execute(
            update(OutboxEvent)
            .where(OutboxEvent.id == event_id)
            .values(attempts=attempts, last_error="\n".join(failures)[:4000], next_attempt_at=utcnow() + backoff, claimed_until=None)
        )


def _mark_done(s: Session, event_id: int) -> None:
    s.execute(update(OutboxEvent).where(OutboxEvent.id == event_id, OutboxEvent.done_at.is_(None)).values(done_at=utcnow(), last_error=None))


def process_event(db: Database, event_id: int) -> bool:
    """Run every handler of one event that has not run yet. True when all have run.

    Each handler runs in its own transaction; the last one also marks the event done, so
    an event with one handler costs one transaction. Raises ``HandlerFailed`` (after
    recording the error) if a handler raised, so a broker can retry; the handlers that
    succeeded stay recorded and are not run again.
    """
    with db.transaction() as s:
        row = s.get(OutboxEvent, event_id)
    if row is None or row.done_at is not None:
        return True
    event = _to_event(row)
    handlers = handlers_for(event.name)
    failures: list[str] = []
    if not handlers:
        with db.transaction() as s:
            _mark_done(s, event.id)
        return True
    for i, (key, fn) in enumerate(handlers):
        last = i == len(handlers) - 1
        try:
            with db.transaction() as s:
                s.add(HandledEvent(event_id=event.id, handler=key, handled_at=utcnow()))
                s.flush()  # takes the (event_id, handler) slot first: a rival blocks or fails here
                fn(s, event)
                if last and not failures:
                    _mark_done(s, event.id)
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                failures.append(f"{key}: {exc}")
            elif last and not failures:
                with db.transaction() as s:  # a rival ran it; the event may still be open
                    _mark_done(s, event.id)
        except Exception as exc:  # a handler's failure is recorded and retried, never lost
            log.exception("handler %s failed on event %s", key, event.id)
            failures.append(f"{key}: {exc!r}")
    if failures:
        _record_failure(db, event.id, failures)
        raise HandlerFailed("; ".join(failures))
    return True


def pending_events(db: Database, *, limit: int = 200, now: datetime | None = None) -> list[tuple[int, str]]:
    now = now or utcnow()
    with db.transaction() as s:
        q = (
            select(OutboxEvent.id, OutboxEvent.name)
            .where(OutboxEvent.done_at.is_(None))
            .where((OutboxEvent.next_attempt_at.is_(None)) | (OutboxEvent.next_attempt_at <= now))
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
        return [(i, n) for i, n in s.execute(q)]


def pending_event_ids(db: Database, *, limit: int = 200, now: datetime | None = None) -> list[int]:
    return [i for i, _ in pending_events(db, limit=limit, now=now)]


CLAIM_LEASE = timedelta(seconds=60)


def claim_events(db: Database, *, limit: int = 200, now: datetime | None = None) -> list[tuple[int, str]]:
    """Due events this dispatcher takes for itself, in id order. Several API processes
    each run a dispatcher; a lease (``claimed_until``, taken with SKIP LOCKED on
    PostgreSQL) keeps them from working on the same events, and expires if a process dies."""
    now = now or utcnow()
    with db.transaction() as s:
        due = (
            select(OutboxEvent.id)
            .where(OutboxEvent.done_at.is_(None))
            .where((OutboxEvent.next_attempt_at.is_(None)) | (OutboxEvent.next_attempt_at <= now))
            .where((OutboxEvent.claimed_until.is_(None)) | (OutboxEvent.claimed_until < now))
            .order_by(OutboxEvent.id)
            .limit(limit)
        )
        if not db.is_sqlite:
            due = due.with_for_update(skip_locked=True)
        rows = s.execute(
            update(OutboxEvent).where(OutboxEvent.id.in_(due.scalar_subquery())).values(claimed_until=now + CLAIM_LEASE).returning(OutboxEvent.id, OutboxEvent.name)
        ).all()
    return sorted((i, n) for i, n in rows)


def dispatch_pending(db: Database, *, limit: int = 200, now: datetime | None = None) -> int:
    """Process the due outbox events this dispatcher claims, in order; returns how many
    were completed. Events no handler listens to (yet) are closed in one statement."""
    pending = claim_events(db, limit=limit, now=now)
    idle = [i for i, name in pending if not handlers_for(name)]
    if idle:
        with db.transaction() as s:
            s.execute(update(OutboxEvent).where(OutboxEvent.id.in_(idle), OutboxEvent.done_at.is_(None)).values(done_at=utcnow()))
    done = len(idle)
    for event_id, name in pending:
        if not handlers_for(name):
            continue
        try:
            process_event(db, event_id)
            done += 1
        except HandlerFailed:
            continue
    return done


def drain(db: Database, *, rounds: int = 20) -> int:
    """Dispatch until no due event is left (handlers may emit more). For jobs and tests."""
    total = 0
    for _ in range(rounds):
        n = dispatch_pending(db)
        total += n
        if n == 0:
            break
    return total


class Dispatcher:
    """The embedded delivery: a daemon thread that drains the outbox when woken or every
    ``interval`` seconds. Other wake-or-poll loops (the SMS sender) override ``step``."""

    thread_name = "linli-dispatcher"

    def __init__(self, db: Database, interval: float = 1.0) -> None:
        self.db = db
        self.interval = interval
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def step(self) -> None:
        drain(self.db)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.interval)
            self._wake.clear()
            try:
                self.step()
            except Exception:  # the database may be briefly unavailable; try again later
                log.exception("%s failed", self.thread_name)
