"""Domain events through a transactional outbox, and idempotent handlers.

``emit(session, payload)`` adds a row to ``outbox_events`` in the caller's transaction,
so an event exists if and only if the change that caused it committed.

Typed payloads. Every event is a frozen pydantic model, a subclass of ``EventPayload``
with the event's ``NAME`` and ``VERSION`` (an int, from 1). Each producing domain declares
its events in ONE module, ``linli.<domain>.events``: that module is the domain's public
contract, which consumers import (it is pure: pydantic and this kernel only, no I/O, no
models, no services — a contract in pyproject checks it). The row stores
``payload.to_json()``: the fields under the keys they always had, plus ``"v"`` (the
version). Rows written before payloads were typed have no ``"v"``: they are version 1.
Validation is strict (no coercion) and exact (an unknown key is refused), so a type is
the whole truth about what its producer writes; any change of shape bumps ``VERSION``.

Handlers register with ``@on(OrderPaid)`` and receive ``Event[OrderPaid]``, whose
``payload`` is the parsed model (attributes, not dict keys). ``process_event`` runs each
handler of an event in its own transaction that first inserts ``(event_id, handler)``
into ``handled_events`` (unique): a handler whose row exists is skipped, and a handler
killed halfway leaves no row and no effect, so at-least-once delivery gives exactly-once
effect.

A payload its handler cannot read is refused, never guessed at. The payload is parsed
with the handler's declared type before the handler runs; if that fails — above all a
``"v"`` newer than the type's ``VERSION`` (a newer producer deployed before this worker)
— the handler does not run, no ``handled_events`` row is written, the refusal is logged
and recorded as the event's ``last_error``, and the event is retried with the usual
backoff (through the broker: retried, then dead-lettered and sent again by the relay's
safety net) until a worker that understands it takes it. A row of an *older* version
than the handler's type is refused the same way: whoever bumps a ``VERSION`` keeps
reading the older rows still in the outbox (override ``from_json``).

Delivery: embedded, an in-process ``Dispatcher`` thread polls the outbox (and is woken on
commit); with ``LINLI_BROKER_URL`` the relay in ``linli.broker`` publishes events to
Dramatiq on RabbitMQ and workers call the same ``process_event``.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, PlainSerializer, ValidationError
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


# A moment in a payload: stored as ``datetime.isoformat()`` (what the rows have always
# held, e.g. ``2026-11-22T02:00:00+00:00``), read back as a datetime.
IsoDatetime = Annotated[datetime, PlainSerializer(lambda d: d.isoformat(), return_type=str, when_used="json")]

VERSION_KEY = "v"


class EventPayloadError(ValueError):
    """A stored payload its reader cannot take (wrong shape, or a version it does not know)."""


class EventVersionTooNew(EventPayloadError):
    """The row was written by a newer producer than this reader understands."""


class PayloadPart(BaseModel):
    """A nested part of a payload (an order line…): frozen, strict (no coercion: ids and
    fen are ints, sequences are tuples), exact (unknown keys are refused)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class EventPayload(PayloadPart):
    """The payload of one event: subclass it with ``NAME`` and ``VERSION`` in the producing
    domain's ``events`` module (a subclass without ``NAME`` is a shared base, never
    emitted). A field with a default is stored only when the producer sets it, so a
    payload whose parts depend on a kind keeps exactly the keys it always had."""

    NAME: ClassVar[str]
    VERSION: ClassVar[int] = 1

    def to_json(self) -> dict[str, Any]:
        """What the outbox row stores: the fields and ``"v"``."""
        return {**self.model_dump(mode="json", exclude_unset=True), VERSION_KEY: self.VERSION}

    @classmethod
    def from_json(cls, payload: Mapping[str, Any]) -> Self:
        """Parse a stored payload (no ``"v"``: version 1) as JSON is read: strictly and
        exactly. Raises ``EventVersionTooNew`` for a newer version, ``EventPayloadError``
        for anything else it cannot take."""
        data = dict(payload)
        version = data.pop(VERSION_KEY, 1)
        if type(version) is not int or version < 1:
            raise EventPayloadError(f"{cls.NAME}: version {version!r} is not a version")
        if version > cls.VERSION:
            raise EventVersionTooNew(f"{cls.NAME} v{version} is newer than {cls.__module__}.{cls.__qualname__} (v{cls.VERSION}) understands")
        if version < cls.VERSION:
            raise EventPayloadError(f"{cls.NAME} v{version} is older than {cls.__module__}.{cls.__qualname__} (v{cls.VERSION}) reads")
        try:
            return cls.model_validate_json(json.dumps(data), strict=True)
        except ValidationError as exc:
            raise EventPayloadError(f"{cls.NAME} v{version}: {exc}") from None


P = TypeVar("P", bound=EventPayload)


@dataclass(frozen=True)
class Event(Generic[P]):
    """One event as a handler sees it: ``payload`` parsed with the handler's type."""

    id: int
    name: str
    merchant_id: int | None
    payload: P
    created_at: datetime


Handler = Callable[[Session, Event[Any]], None]


@dataclass(frozen=True)
class Registration:
    key: str
    handler: Handler
    payload_type: type[EventPayload]


_handlers: dict[str, list[Registration]] = {}


def on(payload_type: type[P], *, name: str | None = None) -> Callable[[Callable[[Session, Event[P]], None]], Callable[[Session, Event[P]], None]]:
    """Register a handler of the event ``payload_type`` describes (``@on(OrderPaid)``). Its
    key (module.function) must stay stable across releases."""
    if not (isinstance(payload_type, type) and issubclass(payload_type, EventPayload) and isinstance(getattr(payload_type, "NAME", None), str)):
        raise TypeError(f"on() takes an event's payload type (an EventPayload with a NAME), not {payload_type!r}")

    def register(fn: Callable[[Session, Event[P]], None]) -> Callable[[Session, Event[P]], None]:
        key = name or f"{fn.__module__}.{fn.__qualname__}"
        entries = _handlers.setdefault(payload_type.NAME, [])
        if all(r.key != key for r in entries):
            entries.append(Registration(key, fn, payload_type))
        return fn

    return register


def registrations(event_name: str) -> list[Registration]:
    return list(_handlers.get(event_name, []))


def handled_names() -> list[str]:
    """Every event name some handler listens to."""
    return sorted(n for n, entries in _handlers.items() if entries)


def emit(session: Session, payload: EventPayload, *, merchant_id: int | None = None, at: datetime | None = None) -> OutboxEvent:
    """Record an event in the caller's transaction. ``at`` is when it happened (the use
    case's clock); handlers see it as ``event.created_at``."""
    if not isinstance(payload, EventPayload):
        raise TypeError(f"emit() takes an EventPayload, not {type(payload).__name__}")
    row = OutboxEvent(name=payload.NAME, payload=payload.to_json(), merchant_id=merchant_id, created_at=at or utcnow())
    session.add(row)
    session.info["linli_emitted"] = True
    return row


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
    recording the error) if a handler raised or refused the payload (it cannot read it:
    see the module's docstring), so a broker can retry; the handlers that succeeded stay
    recorded and are not run again.
    """
    with db.transaction() as s:
        row = s.get(OutboxEvent, event_id)
    if row is None or row.done_at is not None:
        return True
    raw = dict(row.payload)
    entries = registrations(row.name)
    failures: list[str] = []
    if not entries:
        with db.transaction() as s:
            _mark_done(s, row.id)
        return True
    parsed: dict[type[EventPayload], Event[Any] | EventPayloadError] = {}
    for i, reg in enumerate(entries):
        last = i == len(entries) - 1
        if reg.payload_type not in parsed:
            try:
                parsed[reg.payload_type] = Event(row.id, row.name, row.merchant_id, reg.payload_type.from_json(raw), row.created_at)
            except EventPayloadError as exc:
                parsed[reg.payload_type] = exc
        event = parsed[reg.payload_type]
        if isinstance(event, EventPayloadError):
            # Refused unread (see the module's docstring): no handled row, retried later.
            log.error("handler %s refused event %s (%s): %s", reg.key, row.id, row.name, event)
            failures.append(f"{reg.key}: refused: {event}")
            continue
        try:
            with db.transaction() as s:
                s.add(HandledEvent(event_id=row.id, handler=reg.key, handled_at=utcnow()))
                s.flush()  # takes the (event_id, handler) slot first: a rival blocks or fails here
                reg.handler(s, event)
                if last and not failures:
                    _mark_done(s, row.id)
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                failures.append(f"{reg.key}: {exc}")
            elif last and not failures:
                with db.transaction() as s:  # a rival ran it; the event may still be open
                    _mark_done(s, row.id)
        except Exception as exc:  # a handler's failure is recorded and retried, never lost
            log.exception("handler %s failed on event %s", reg.key, row.id)
            failures.append(f"{reg.key}: {exc!r}")
    if failures:
        _record_failure(db, row.id, failures)
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
    idle = [i for i, name in pending if not registrations(name)]
    if idle:
        with db.transaction() as s:
            s.execute(update(OutboxEvent).where(OutboxEvent.id.in_(idle), OutboxEvent.done_at.is_(None)).values(done_at=utcnow()))
    done = len(idle)
    for event_id, name in pending:
        if not registrations(name):
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
