"""``linli worker``: runs event handlers and due jobs outside the API processes.

Two modes, picked by ``LINLI_BROKER_URL``:

* **Embedded** (no broker): an in-process ``events.Dispatcher`` thread drains the outbox,
  and the main thread runs the due jobs every ``interval`` seconds.
* Either way, an ``SmsSender`` thread sends the queued SMS (one-time codes) through the
  channel ``LINLI_SMS_*`` configures; several workers share the messages by compare-and-set.
* **Broker** (``LINLI_BROKER_URL`` set): three parts in one process —

  1. the outbox relay thread (``linli.broker.Relay``), publishing events to RabbitMQ;
  2. a Dramatiq ``Worker`` with ``threads`` worker threads consuming the
     ``linli_handle_event`` actor's queue (``LINLI_BROKER_QUEUE``);
  3. the due-jobs scheduler in the main thread: ``jobs.run_due(dispatch=False)`` every
     ``interval`` seconds (the events the jobs emit go through the relay like any other).

  Only ``linli worker`` relays: API processes in broker mode do not dispatch or publish
  (``settings.dispatch_inline`` is off), so run at least one worker. Run as many as you
  like: relays share the outbox through ``SKIP LOCKED`` claims and consumers share the
  queue; due jobs are idempotent, so concurrent schedulers only repeat no-ops.

SIGTERM or SIGINT stops cleanly: the relay stops, the Dramatiq worker lets in-flight
handlers finish (up to ``shutdown_timeout`` seconds) and returns prefetched messages to
RabbitMQ, connections close. A second signal exits at once; that too is safe, because a
message is acked only after its handlers committed, so RabbitMQ redelivers what was cut.

``--once`` (either mode) drains the outbox in this process, runs the due jobs once and
exits. In broker mode that is still correct: handlers are idempotent, so an event that is
also on RabbitMQ is skipped when its message arrives.
"""

from __future__ import annotations

import logging
import signal
import threading

from linli import events, jobs
from linli import logging as linli_logging
from linli.channels import outbox as sms_outbox
from linli.channels.sms import build_sms_channel
from linli.config import Settings
from linli.db import Database, utcnow

log = logging.getLogger("linli.worker")


def run(
    settings: Settings,
    db: Database,
    *,
    threads: int = 4,
    interval: float = 30.0,
    once: bool = False,
    shutdown_timeout: float = 30.0,
) -> None:
    channel = build_sms_channel(settings)
    if once:
        events.drain(db)
        jobs.run_due(db, utcnow(), dispatch=True)
        sms_outbox.send_due(db, channel)
        return
    linli_logging.configure(settings.log_json)
    logging.getLogger("pika").setLevel(logging.WARNING)  # one INFO line per connection step
    stop = threading.Event()
    previous = _install_signal_handlers(stop)
    loops = jobs.start_loops(db)  # e.g. the flash-sale queue's drainer
    sender = sms_outbox.SmsSender(db, channel)
    sender.start()
    try:
        if settings.broker_url:
            _run_broker(settings, db, stop, threads=threads, interval=interval, shutdown_timeout=shutdown_timeout)
        else:
            _run_embedded(db, stop, interval=interval)
    finally:
        jobs.stop_loops(loops)
        sender.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _install_signal_handlers(stop: threading.Event) -> dict:
    def handle(signum, _frame) -> None:
        if stop.is_set():  # second signal: stop waiting for in-flight handlers
            raise KeyboardInterrupt
        log.info("signal %s received; shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {}
    for sig in (signal.SIGINT, signal.SIGTERM):
        previous[sig] = signal.getsignal(sig)
        signal.signal(sig, handle)
    return previous


def _run_due_jobs_until(db: Database, stop: threading.Event, *, interval: float, dispatch: bool) -> None:
    while not stop.is_set():
        try:
            jobs.run_due(db, utcnow(), dispatch=dispatch)
        except Exception:
            log.exception("due jobs failed; retrying next round")
        stop.wait(interval)


def _run_embedded(db: Database, stop: threading.Event, *, interval: float) -> None:
    dispatcher = events.Dispatcher(db, interval=0.5)
    dispatcher.start()
    log.info("worker started (embedded outbox dispatch)")
    try:
        _run_due_jobs_until(db, stop, interval=interval, dispatch=False)
    finally:
        dispatcher.stop()


def _run_broker(
    settings: Settings, db: Database, stop: threading.Event, *, threads: int, interval: float, shutdown_timeout: float
) -> None:
    from dramatiq import Worker

    from linli import broker as broker_mod

    assert settings.broker_url
    path = broker_mod.connect(settings.broker_url, db, queue_name=settings.broker_queue)
    worker = Worker(path.broker, queues={path.queue_name}, worker_threads=threads)
    unlisten = path.wake_relay_on_commit(db)
    worker.start()
    path.relay.start()
    log.info("worker started (Dramatiq on RabbitMQ, queue %s, %d threads)", path.queue_name, threads)
    try:
        _run_due_jobs_until(db, stop, interval=interval, dispatch=False)
    finally:
        path.relay.stop()
        worker.stop(timeout=int(shutdown_timeout * 1000))
        unlisten()
        path.broker.close()
        log.info("worker stopped")
