"""``linli worker``: runs event handlers and due jobs outside the API processes."""

from __future__ import annotations

import logging
import signal
import threading

from linli import events, jobs
from linli.config import Settings
from linli.db import Database, utcnow

log = logging.getLogger("linli.worker")


def run(settings: Settings, db: Database, *, threads: int = 4, interval: float = 30.0, once: bool = False) -> None:
    if once:
        events.drain(db)
        jobs.run_due(db, utcnow(), dispatch=True)
        return
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    dispatcher = events.Dispatcher(db, interval=0.5)
    dispatcher.start()
    log.info("worker started (embedded outbox dispatch)")
    while not stop.is_set():
        try:
            jobs.run_due(db, utcnow(), dispatch=False)
        except Exception:
            log.exception("due jobs failed; retrying next round")
        stop.wait(interval)
    dispatcher.stop()
