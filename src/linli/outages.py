"""Which errors mean a dependency is down (the database, Redis, the broker), not a bug.

A request that meets one gets a ``503`` problem with ``Retry-After`` (``web/problems.py``),
and a page a retry screen, so clients and the H5 pages try again instead of showing a
crash. What counts: lost or refused connections, pool and statement timeouts, and on
SQLite a lock held past the busy timeout or a file that cannot be read or written. Errors
that are the code's fault (a missing table, bad SQL) stay 500s.
"""

from __future__ import annotations

import redis.exceptions
from sqlalchemy import exc as sa

RETRY_AFTER_SECONDS = 5
# The base classes of what the database and Redis clients raise.
DEPENDENCY_ERRORS: tuple[type[BaseException], ...] = (sa.SQLAlchemyError, redis.exceptions.RedisError)

# SQLite raises OperationalError for bugs too ("no such table"): only these are outages.
_SQLITE_OUTAGES = ("database is locked", "database is busy", "disk i/o error", "unable to open database", "database or disk is full")


def _database_down(exc: BaseException) -> bool:
    if isinstance(exc, sa.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, sa.TimeoutError):  # no pooled connection came free in time
        return True
    if isinstance(exc, (sa.OperationalError, sa.InterfaceError)):
        orig = getattr(exc, "orig", None)
        if type(orig).__module__.startswith("sqlite3"):
            return any(m in str(orig).lower() for m in _SQLITE_OUTAGES)
        return True  # psycopg: connection lost or refused, server shutting down, timeouts
    return False


def _redis_down(exc: BaseException) -> bool:
    r = redis.exceptions
    return isinstance(exc, (r.ConnectionError, r.TimeoutError, r.BusyLoadingError))


def _broker_down(exc: BaseException) -> bool:
    try:
        from pika.exceptions import AMQPConnectionError
    except ImportError:  # pragma: no cover - pika comes with dramatiq[rabbitmq]
        return False
    return isinstance(exc, AMQPConnectionError)


def dependency_down(exc: BaseException) -> str | None:
    """``database``, ``redis`` or ``broker`` when ``exc`` (or what it was raised from) is
    that dependency being unreachable; None otherwise. Only explicit causes count: a bug
    raised while handling an outage stays a bug (a 500, logged with its traceback)."""
    seen = 0
    while exc is not None and seen < 5:
        for name, test in (("database", _database_down), ("redis", _redis_down), ("broker", _broker_down)):
            if test(exc):
                return name
        exc, seen = exc.__cause__, seen + 1
    return None
