"""Due jobs: work that becomes due with time (auto-confirm, settlement, team deadlines…).

A domain registers ``@job("name")`` functions taking ``(db, as_of)`` and returning how many
items they handled. Each job is idempotent: it picks the items due at ``as_of`` and moves
each in its own transaction guarded by compare-and-set, so running it twice, or again
after a crash, changes nothing more. ``linli jobs run-due --as-of`` and the worker's
scheduler call ``run_due``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from linli import events
from linli.db import Database, utcnow

log = logging.getLogger("linli.jobs")

JobFn = Callable[[Database, datetime], int]


@dataclass(frozen=True)
class Job:
    name: str
    fn: JobFn
    order: int


_jobs: dict[str, Job] = {}


def job(name: str, *, order: int = 100) -> Callable[[JobFn], JobFn]:
    """Register a due job; lower ``order`` runs first (e.g. expiry before settlement)."""

    def register(fn: JobFn) -> JobFn:
        _jobs[name] = Job(name, fn, order)
        return fn

    return register


class Loop:
    """A background loop a domain runs next to the due jobs (``start`` / ``stop``)."""

    def start(self) -> None: ...

    def stop(self) -> None: ...


_loops: dict[str, Callable[[Database], Loop]] = {}


def loop(name: str) -> Callable[[Callable[[Database], Loop]], Callable[[Database], Loop]]:
    """Register a factory of a background loop (e.g. the flash-sale queue's drainer), started
    by the embedded server and by ``linli worker``."""

    def register(factory: Callable[[Database], Loop]) -> Callable[[Database], Loop]:
        _loops[name] = factory
        return factory

    return register


def start_loops(db: Database) -> list[Loop]:
    started = []
    for name in sorted(_loops):
        lp = _loops[name](db)
        lp.start()
        started.append(lp)
    return started


def stop_loops(loops: list[Loop]) -> None:
    for lp in loops:
        lp.stop()


def registered() -> list[Job]:
    return sorted(_jobs.values(), key=lambda j: (j.order, j.name))


def run_due(db: Database, as_of: datetime, *, dispatch: bool = True) -> dict[str, int]:
    """Run every registered job at ``as_of``; embedded, also drain the events they emit."""
    results: dict[str, int] = {}
    if dispatch:
        results["events"] = events.drain(db)
    for j in registered():
        results[j.name] = j.fn(db, as_of)
        if dispatch:
            results["events"] += events.drain(db)
    return results


class Scheduler:
    """Runs ``run_due`` every ``interval`` seconds on a daemon thread (the embedded server
    and ``linli worker`` use it; jobs are idempotent, so several schedulers are safe)."""

    def __init__(self, db: Database, interval: float = 30.0, *, dispatch: bool = False) -> None:
        self.db = db
        self.interval = interval
        self.dispatch = dispatch
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="linli-jobs", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                run_due(self.db, utcnow(), dispatch=self.dispatch)
            except Exception:  # a failed round is retried at the next tick
                log.exception("due jobs failed")
