"""A plugin loaded by the test suite (as LINLI_PLUGINS would load one): handlers and jobs
that let the kernel's tests observe delivery.

Every handler writes one row into ``test_effects`` in its own transaction, so a test
counts effects per ``(event_id, handler)``: exactly one row each means exactly-once effect.
The tables live on their own ``MetaData`` (not ``linli.db.Base``): migrations and the
conftest wipe ignore them; the tests that use them ``create_all`` and clear them.

Events (all names start with ``test.``, so no domain ever emits them; their payload
types are below, ``PAYLOADS`` finds one by name):

* ``test.ping`` — handlers ``record_a`` and ``record_b`` record an effect.
* ``test.flaky`` — ``flaky_ok`` records an effect; ``flaky_fail`` raises while the file
  named by ``payload["fail_while"]`` exists, then records its effect.
* ``test.block`` — ``blocking`` records its effect (uncommitted), touches
  ``payload["started"]`` and waits until ``payload["release"]`` exists before returning
  (and committing), so a test can kill the process mid-handler.
* ``test.tick`` — ``record_tick`` records an effect; emitted by the ``tests.tick`` job.

Job ``tests.tick``: completes every ``test_ticks`` row due at ``as_of`` (compare-and-set on
``done_at``, one transaction per row) and emits ``test.tick`` for each. It does nothing
when the tables are absent, so other tests running due jobs are unaffected.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, timezone

from sqlalchemy import Column, Integer, MetaData, String, Table, insert, inspect, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from linli.db import BigId, Database, UTCDateTime
from linli.events import Event, EventPayload, emit, on
from linli.jobs import job

metadata = MetaData()

test_effects = Table(
    "test_effects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", BigId, nullable=True),
    Column("handler", String(80), nullable=False),
    Column("note", String(200), nullable=True),
    # Deliberately no unique constraint: a duplicate effect must show up as a second row.
)

test_ticks = Table(
    "test_ticks",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("due_at", UTCDateTime, nullable=False),
    Column("done_at", UTCDateTime, nullable=True),
    Column("done_as_of", String(40), nullable=True),
)

BLOCK_LIMIT_SECONDS = 120.0


def create_tables(db: Database) -> None:
    metadata.create_all(db.engine)


def clear_tables(db: Database) -> None:
    with db.engine.begin() as conn:
        for table in metadata.sorted_tables:
            conn.execute(table.delete())


def _record(s: Session, event: Event | None, handler: str, note: str | None = None) -> None:
    s.execute(insert(test_effects).values(event_id=event.id if event else None, handler=handler, note=note))


def _engine(bind: Database | Engine) -> Engine:
    return bind.engine if isinstance(bind, Database) else bind


def effects(bind: Database | Engine, **where) -> list[tuple[int | None, str]]:
    """``(event_id, handler)`` of every effect, in insertion order. ``bind`` may be a plain
    engine: on SQLite a ``Database`` takes the write lock even to read (BEGIN IMMEDIATE)."""
    q = select(test_effects.c.event_id, test_effects.c.handler).order_by(test_effects.c.id)
    for column, value in where.items():
        q = q.where(test_effects.c[column] == value)
    with _engine(bind).connect() as conn:
        return [tuple(r) for r in conn.execute(q)]


class Ping(EventPayload):
    NAME = "test.ping"


class Flaky(EventPayload):
    NAME = "test.flaky"
    fail_while: str


class Block(EventPayload):
    NAME = "test.block"
    started: str
    release: str


class Tick(EventPayload):
    NAME = "test.tick"
    tick_id: int
    as_of: str


PAYLOADS: dict[str, type[EventPayload]] = {t.NAME: t for t in (Ping, Flaky, Block, Tick)}


@on(Ping, name="tests.record_a")
def record_a(s: Session, event: Event[Ping]) -> None:
    _record(s, event, "record_a")


@on(Ping, name="tests.record_b")
def record_b(s: Session, event: Event[Ping]) -> None:
    _record(s, event, "record_b")


@on(Flaky, name="tests.flaky_ok")
def flaky_ok(s: Session, event: Event[Flaky]) -> None:
    _record(s, event, "flaky_ok")


@on(Flaky, name="tests.flaky_fail")
def flaky_fail(s: Session, event: Event[Flaky]) -> None:
    _record(s, event, "flaky_fail")  # rolled back with the raise below
    if os.path.exists(event.payload.fail_while):
        raise RuntimeError("flaky_fail: told to fail")


@on(Block, name="tests.blocking")
def blocking(s: Session, event: Event[Block]) -> None:
    _record(s, event, "blocking")
    s.flush()  # the effect and the (event_id, handler) row are written, not committed
    with open(event.payload.started, "a") as f:
        f.write(f"{os.getpid()}\n")
    deadline = time.monotonic() + BLOCK_LIMIT_SECONDS
    while not os.path.exists(event.payload.release):
        if time.monotonic() > deadline:
            raise TimeoutError("blocking handler was never released")
        time.sleep(0.05)


@on(Tick, name="tests.record_tick")
def record_tick(s: Session, event: Event[Tick]) -> None:
    _record(s, event, "record_tick", note=event.payload.as_of)


@job("tests.tick")
def tick(db: Database, as_of: datetime) -> int:
    with db.engine.connect() as conn:
        if not inspect(conn).has_table("test_ticks"):
            return 0
    with db.transaction() as s:
        due = list(s.scalars(select(test_ticks.c.id).where(test_ticks.c.done_at.is_(None), test_ticks.c.due_at <= as_of).order_by(test_ticks.c.id)))
    stamp = as_of.astimezone(timezone.utc).isoformat()
    handled = 0
    for tick_id in due:
        with db.transaction() as s:
            moved = s.execute(
                update(test_ticks)
                .where(test_ticks.c.id == tick_id, test_ticks.c.done_at.is_(None))
                .values(done_at=as_of, done_as_of=stamp)
            ).rowcount
            if moved == 1:
                emit(s, Tick(tick_id=tick_id, as_of=stamp))
                handled += 1
    return handled
