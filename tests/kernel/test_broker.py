"""The broker path: the outbox relay, and ``linli worker`` on Dramatiq + RabbitMQ.

The relay's claim logic is tested against the database with a fake ``send`` (no
RabbitMQ). The tests marked ``broker`` start ``linli worker`` as real subprocesses against
a real RabbitMQ (``LINLI_TEST_BROKER_URL``; skipped locally without it, failed in CI), each
test on its own queue (``LINLI_BROKER_QUEUE``), deleted at teardown, so messages left by
another run can never reach it. They run on both backends: SQLite works across processes
because the database is one file.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from linli import events
from linli.broker import Relay
from linli.config import Settings
from linli.db import Database, utcnow
from linli.events import HandledEvent, OutboxEvent
from tests import plugin
from tests.services import service_url

REPO_ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0  # seconds: generous upper bound for anything to happen; never a pass condition


def emit_committed(db: Database, name: str, payload: dict | None = None, *, count: int = 1) -> list[int]:
    with db.transaction() as s:
        rows = [events.emit(s, plugin.PAYLOADS[name](**(payload or {}))) for _ in range(count)]
        s.flush()
        return [r.id for r in rows]


# --------------------------------------------------------------------------------------
# The relay's claims, with a fake send (no RabbitMQ needed)
# --------------------------------------------------------------------------------------


class Recorder:
    def __init__(self, fail_on: int | None = None) -> None:
        self.sent: list[int] = []
        self.fail_on = fail_on
        self._lock = threading.Lock()

    def __call__(self, event_id: int) -> None:
        if event_id == self.fail_on:
            raise ConnectionError("RabbitMQ went away")
        with self._lock:
            self.sent.append(event_id)


def published(db: Database) -> dict[int, bool]:
    with db.transaction() as s:
        return {i: p is not None for i, p in s.execute(select(OutboxEvent.id, OutboxEvent.published_at).order_by(OutboxEvent.id))}


def test_api_processes_do_not_dispatch_in_broker_mode():
    assert Settings(broker_url="amqp://guest:guest@127.0.0.1:5672/%2F").dispatch_inline is False
    assert Settings().dispatch_inline is True


def test_relay_publishes_unpublished_undone_events_once_in_id_order(db):
    ids = emit_committed(db, "test.ping", count=5)
    with db.transaction() as s:  # already handled in-process (e.g. `linli worker --once`)
        s.execute(update(OutboxEvent).where(OutboxEvent.id == ids[1]).values(done_at=utcnow()))
    send = Recorder()
    relay = Relay(db, send, batch=2)

    assert relay.relay_once() == 4
    assert send.sent == [ids[0], ids[2], ids[3], ids[4]]
    assert published(db) == {ids[0]: True, ids[1]: False, ids[2]: True, ids[3]: True, ids[4]: True}
    assert relay.relay_once() == 0
    assert send.sent == [ids[0], ids[2], ids[3], ids[4]]


def test_relay_keeps_what_was_sent_when_the_broker_fails_midway(db):
    ids = emit_committed(db, "test.ping", count=4)
    send = Recorder(fail_on=ids[2])
    relay = Relay(db, send)

    with pytest.raises(ConnectionError):
        relay.relay_once()
    assert published(db) == {ids[0]: True, ids[1]: True, ids[2]: False, ids[3]: False}

    send.fail_on = None
    assert relay.relay_once() == 2
    assert send.sent == ids


def test_relay_republishes_events_whose_message_looks_lost(db):
    now = utcnow()
    lost, recent, failing, done = emit_committed(db, "test.ping", count=4)
    with db.transaction() as s:
        long_ago = now - timedelta(minutes=11)
        s.execute(update(OutboxEvent).values(published_at=long_ago))
        s.execute(update(OutboxEvent).where(OutboxEvent.id == recent).values(published_at=now - timedelta(minutes=1)))
        # A Dramatiq retry chain is still running: it failed a minute ago.
        s.execute(update(OutboxEvent).where(OutboxEvent.id == failing).values(attempts=3, next_attempt_at=now - timedelta(minutes=1)))
        s.execute(update(OutboxEvent).where(OutboxEvent.id == done).values(done_at=now))
    send = Recorder()
    relay = Relay(db, send)

    assert relay.relay_once(now=now) == 1
    assert send.sent == [lost]
    assert relay.relay_once(now=now) == 0  # published again just now: not stale any more
    # Once the failing event has been quiet for the whole window (its retries ran out),
    # it is sent again too.
    with db.transaction() as s:
        s.execute(update(OutboxEvent).where(OutboxEvent.id == failing).values(next_attempt_at=now - timedelta(minutes=10)))
    assert relay.republish_stale(now=now) == 1
    assert send.sent == [lost, failing]


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)  # SKIP LOCKED is PostgreSQL's; on SQLite a duplicate send is possible and absorbed
def test_two_relays_never_claim_the_same_events(db, backend):
    ids = emit_committed(db, "test.ping", count=12)
    a_holds_its_claim = threading.Event()
    b_is_done = threading.Event()
    sent_by_a: list[int] = []

    def send_a(event_id: int) -> None:
        sent_by_a.append(event_id)
        a_holds_its_claim.set()
        assert b_is_done.wait(timeout=DEADLINE)

    errors: list[BaseException] = []

    def run_a() -> None:
        try:
            Relay(db, send_a, batch=5).publish_new()
        except BaseException as exc:
            errors.append(exc)

    a = threading.Thread(target=run_a)
    a.start()
    assert a_holds_its_claim.wait(timeout=DEADLINE)
    b = Recorder()
    try:
        assert Relay(db, b, batch=5).publish_new() == 5  # skips A's locked rows
    finally:
        b_is_done.set()
        a.join(timeout=DEADLINE)
    assert errors == []
    assert sent_by_a == ids[:5]
    assert b.sent == ids[5:10]
    c = Recorder()
    assert Relay(db, c).relay_once() == 2
    assert c.sent == ids[10:]


# --------------------------------------------------------------------------------------
# `linli worker` in broker mode, as real processes
# --------------------------------------------------------------------------------------


@pytest.fixture
def broker_url() -> str:
    return service_url("rabbitmq", 5672)


@pytest.fixture
def queue_name(broker_url: str) -> Iterator[str]:
    name = f"linli_test_{uuid.uuid4().hex[:12]}"
    yield name
    import pika

    connection = pika.BlockingConnection(pika.URLParameters(broker_url))
    try:
        channel = connection.channel()
        for q in (name, f"{name}.DQ", f"{name}.XQ"):
            channel.queue_delete(queue=q)
    finally:
        connection.close()


@pytest.fixture
def peek(db: Database) -> Iterator[Engine]:
    """An engine for looking at the database while workers run. On SQLite the app's
    engine starts every transaction with BEGIN IMMEDIATE, so reading through it would queue
    behind a worker holding the write lock; this one reads without taking it."""
    engine = create_engine(db.url, poolclass=NullPool)
    yield engine
    engine.dispose()


class Workers:
    """``linli worker`` subprocesses for one test; stopped (and their logs shown) at teardown."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env = env
        self.log_dir = log_dir
        self.procs: list[tuple[subprocess.Popen, Path]] = []

    def start(self, *args: str) -> subprocess.Popen:
        log = self.log_dir / f"worker-{len(self.procs)}.log"
        cmd = [sys.executable, "-m", "linli.cli", "worker", "--threads", "4", "--interval", "0.5", *args]
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, env=self.env, cwd=REPO_ROOT, stdout=out, stderr=subprocess.STDOUT)
        self.procs.append((proc, log))
        return proc

    def stop(self, proc: subprocess.Popen) -> int:
        """SIGTERM once the worker has started (a loaded machine may still be importing the
        second one when the first has handled everything), then wait for a clean exit."""
        log = next(path for p, path in self.procs if p is proc)
        wait_until(lambda: b"worker started" in log.read_bytes() or proc.poll() is not None, what=f"worker {proc.pid} to start", procs=[])
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            pytest.fail(f"worker {proc.pid} did not stop within {DEADLINE}s of SIGTERM")

    def close(self) -> None:
        for proc, log in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            print(f"----- {log.name} (pid {proc.pid}, exit {proc.returncode}) -----")
            print(log.read_text(errors="replace")[-6000:])


def worker_env(db: Database, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("LINLI_INLINE_DISPATCH", "LINLI_BROKER_URL", "LINLI_BROKER_QUEUE")}
    env.update(
        LINLI_ENV="test",
        LINLI_DATABASE_URL=db.url,
        LINLI_PLUGINS="tests.plugin",
        LINLI_LOG_JSON="false",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p),
        **extra,
    )
    return env


@pytest.fixture
def workers(effects: Database, broker_url: str, queue_name: str, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(worker_env(effects, LINLI_BROKER_URL=broker_url, LINLI_BROKER_QUEUE=queue_name), tmp_path)
    yield w
    w.close()


@pytest.fixture
def embedded_workers(effects: Database, tmp_path: Path) -> Iterator[Workers]:
    w = Workers(worker_env(effects), tmp_path)
    yield w
    w.close()


def wait_until(predicate: Callable[[], object], *, what: str, procs: list[subprocess.Popen] = ()) -> object:
    """Poll ``predicate`` until it is truthy; fail after ``DEADLINE`` or if a worker died."""
    deadline = time.monotonic() + DEADLINE
    while True:
        value = predicate()
        if value:
            return value
        for p in procs:
            if p.poll() is not None:
                pytest.fail(f"worker {p.pid} exited ({p.returncode}) while waiting for {what}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {DEADLINE}s waiting for {what}")
        time.sleep(0.1)


def outbox(engine: Engine, event_ids: list[int]) -> dict[int, dict]:
    cols = (OutboxEvent.id, OutboxEvent.published_at, OutboxEvent.done_at, OutboxEvent.attempts)
    with engine.connect() as conn:
        rows = conn.execute(select(*cols).where(OutboxEvent.id.in_(event_ids)))
        return {r.id: r._asdict() for r in rows}


def all_done(engine: Engine, event_ids: list[int]) -> bool:
    rows = outbox(engine, event_ids)
    return len(rows) == len(event_ids) and all(r["done_at"] is not None for r in rows.values())


def handled_rows(engine: Engine, event_id: int) -> int:
    with engine.connect() as conn:
        return conn.scalar(select(func.count()).select_from(HandledEvent).where(HandledEvent.event_id == event_id))


@pytest.mark.broker
def test_workers_handle_every_event_exactly_once_and_stop_cleanly(effects, workers, peek):
    db = effects
    with db.engine.begin() as conn:
        conn.execute(insert(plugin.test_ticks).values(due_at=utcnow() - timedelta(minutes=1)))
    procs = [workers.start(), workers.start()]  # two relays, two consumers, two schedulers

    ids: list[int] = []
    for _ in range(10):
        ids += emit_committed(db, "test.ping", count=3)

    wait_until(lambda: all_done(peek, ids), what="all events to be handled", procs=procs)
    effects_seen = Counter(plugin.effects(peek))
    assert {k: n for k, n in effects_seen.items() if k[1] != "record_tick"} == {
        (eid, h): 1 for eid in ids for h in ("record_a", "record_b")
    }
    # They went through the relay (on SQLite it marks them just after sending).
    wait_until(
        lambda: all(r["published_at"] is not None for r in outbox(peek, ids).values()),
        what="the relay to mark the events published",
        procs=procs,
    )

    # The scheduler ran the due job once (both workers tried); its event went the same way.
    wait_until(lambda: plugin.effects(peek, handler="record_tick"), what="the due job's event", procs=procs)
    assert len(plugin.effects(peek, handler="record_tick")) == 1

    for p in procs:
        assert workers.stop(p) == 0


@pytest.mark.broker
def test_failing_handler_is_retried_by_dramatiq_without_rerunning_the_others(effects, workers, peek, tmp_path):
    db = effects
    fail_flag = tmp_path / "fail"
    fail_flag.touch()
    proc = workers.start()
    [eid] = emit_committed(db, "test.flaky", {"fail_while": str(fail_flag)})

    wait_until(lambda: outbox(peek, [eid])[eid]["attempts"] >= 2, what="the handler to fail twice", procs=[proc])
    assert plugin.effects(peek) == [(eid, "flaky_ok")]

    fail_flag.unlink()
    wait_until(lambda: all_done(peek, [eid]), what="the retry to succeed", procs=[proc])
    assert Counter(plugin.effects(peek)) == Counter({(eid, "flaky_ok"): 1, (eid, "flaky_fail"): 1})
    assert workers.stop(proc) == 0


@pytest.mark.broker
def test_worker_killed_mid_handler_leaves_the_event_to_be_redelivered_and_handled_once(effects, workers, peek, tmp_path, backend):
    db = effects
    started, release = tmp_path / "started", tmp_path / "release"
    first = workers.start()
    [eid] = emit_committed(db, "test.block", {"started": str(started), "release": str(release)})

    wait_until(started.exists, what="the handler to start in the first worker", procs=[first])
    assert started.read_text().split() == [str(first.pid)]
    # Mid-handler: the effect is written inside its transaction, not committed.
    assert plugin.effects(peek) == []
    published_at = None
    if backend == "postgresql":
        # (On SQLite the relay marks after sending, and the blocked handler now holds the
        # write lock, so the mark may be lost with the worker: the next relay sends the
        # event again, a duplicate the handlers absorb.)
        published_at = wait_until(
            lambda: outbox(peek, [eid])[eid]["published_at"], what="the relay to commit published_at", procs=[first]
        )

    first.kill()  # SIGKILL: no clean-up of any kind
    assert first.wait(timeout=DEADLINE) == -signal.SIGKILL
    assert plugin.effects(peek) == []
    assert handled_rows(peek, eid) == 0
    assert outbox(peek, [eid])[eid]["done_at"] is None

    started.unlink()
    second = workers.start()
    # RabbitMQ redelivers the unacked message to the new worker, whose handler starts over.
    wait_until(started.exists, what="the redelivered message to reach the second worker", procs=[second])
    assert started.read_text().split() == [str(second.pid)]
    release.touch()

    wait_until(lambda: all_done(peek, [eid]), what="the event to be handled", procs=[second])
    assert plugin.effects(peek) == [(eid, "blocking")]
    assert handled_rows(peek, eid) == 1
    if backend == "postgresql":
        # It was RabbitMQ's redelivery, not a second send by a relay.
        assert outbox(peek, [eid])[eid]["published_at"] == published_at
    assert workers.stop(second) == 0


def test_embedded_worker_handles_events_and_stops_cleanly(effects, embedded_workers, peek):
    """Without a broker, ``linli worker`` runs the same handlers through its in-process
    dispatcher (no RabbitMQ needed)."""
    db = effects
    proc = embedded_workers.start()
    ids = emit_committed(db, "test.ping", count=5)

    wait_until(lambda: all_done(peek, ids), what="all events to be handled", procs=[proc])
    assert Counter(plugin.effects(peek)) == Counter({(eid, h): 1 for eid in ids for h in ("record_a", "record_b")})
    assert all(r["published_at"] is None for r in outbox(peek, ids).values())  # nothing was relayed
    assert embedded_workers.stop(proc) == 0


@pytest.mark.broker
def test_a_broker_outage_delays_events_and_loses_none(effects, broker_url, queue_name, tmp_path, peek):
    """RabbitMQ cut off (a real TCP cut between the worker and the broker) while events
    are emitted: the worker stays up, and once the broker is back every event is handled,
    each handler once."""
    from urllib.parse import urlsplit, urlunsplit

    from tests.proxy import Proxy

    db = effects
    parts = urlsplit(broker_url)
    proxy = Proxy(parts.port or 5672, parts.hostname or "127.0.0.1")
    proxied = urlunsplit(parts._replace(netloc=f"{parts.netloc.rsplit('@', 1)[0]}@127.0.0.1:{proxy.port}" if "@" in parts.netloc else f"127.0.0.1:{proxy.port}"))
    w = Workers(worker_env(db, LINLI_BROKER_URL=proxied, LINLI_BROKER_QUEUE=queue_name), tmp_path)
    try:
        proc = w.start()
        before = emit_committed(db, "test.ping", count=3)
        wait_until(lambda: all_done(peek, before), what="the events before the outage", procs=[proc])
        proxy.cut()
        during = emit_committed(db, "test.ping", count=3)  # the relay cannot publish these now
        proxy.restore()
        wait_until(lambda: all_done(peek, during), what="the events of the outage, once the broker is back", procs=[proc])
        seen = Counter(k for k in plugin.effects(peek) if k[1] != "record_tick")
        assert seen == {(eid, h): 1 for eid in before + during for h in ("record_a", "record_b")}
        assert w.stop(proc) == 0
    finally:
        w.close()
        proxy.close()
