"""The data layer: one declarative base, engines for SQLite and PostgreSQL, sessions.

We use *synchronous* SQLAlchemy with psycopg 3 (see README, "Why sync"): FastAPI runs sync
endpoints in its thread pool, the CLI, jobs and Dramatiq workers are sync too, so one code
path serves every entry point, and contended writes are compare-and-set statements whose
cost is the database round trip, not the Python driver.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, MetaData, create_engine, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL, INTEGER on SQLite (only INTEGER PRIMARY KEY autoincrements there).
BigId = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on both backends (SQLite stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


BUSY_TIMEOUT_S = 60  # how long a SQLite writer waits for the write lock before giving up


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class _WriterTurns:
    """This process's SQLite writers take turns on a mutex, then ``BEGIN IMMEDIATE``.

    SQLite ignores FOR UPDATE; taking the write lock at BEGIN serialises writers so a
    compare-and-set never races with a read that a transaction already made. But a writer
    that finds the lock taken waits in SQLite's busy handler, which polls with sleeps of up
    to 100 ms: writers of one process waiting for each other sleep far longer than the
    lock is held. The mutex hands the turn to the next writer the moment a transaction
    commits or rolls back. Writers of other processes (the CLI, a worker) still meet at
    SQLite's own lock and its busy timeout."""

    def __init__(self, timeout: float) -> None:
        self._mutex = threading.Lock()
        self.timeout = timeout

    def install(self, engine: Engine) -> None:
        event.listen(engine, "begin", self.begin)
        event.listen(engine, "commit", self.commit)
        event.listen(engine, "rollback", self.rollback)
        for name in ("checkin", "invalidate", "close"):  # a connection lost mid-turn
            event.listen(engine, name, self._lost)

    def begin(self, conn) -> None:
        if not self._mutex.acquire(timeout=self.timeout):
            raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))
        conn.info["linli_turn"] = True
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self._end(conn.info)
            raise

    def commit(self, conn) -> None:
        if not conn.invalidated and conn.info.get("linli_turn"):
            try:
                conn.connection.dbapi_connection.commit()  # commit now, then pass the turn on
            finally:
                self._end(conn.info)

    def rollback(self, conn) -> None:
        if not conn.invalidated and conn.info.get("linli_turn"):
            try:
                conn.connection.dbapi_connection.rollback()
            finally:
                self._end(conn.info)

    def _lost(self, _dbapi_conn, record, *_args) -> None:
        self._end(record.info)

    def _end(self, info: dict) -> None:
        if info.pop("linli_turn", False):
            self._mutex.release()


def _sqlite_query_only(dbapi_conn, _record) -> None:
    dbapi_conn.execute("PRAGMA query_only=ON")


def _sqlite_begin_deferred(conn) -> None:
    # A read transaction: one snapshot for the whole request, no write lock. WAL lets it
    # run beside a writer instead of queueing behind the lock.
    conn.exec_driver_sql("BEGIN")


def make_engine(url: str, *, pool_size: int = 30, read_only: bool = False, busy_timeout_s: float = BUSY_TIMEOUT_S) -> Engine:
    """An engine; on SQLite, ``read_only`` gives connections that begin deferred (no write
    lock) and refuse every write (``PRAGMA query_only``), for requests that only read, and
    ``busy_timeout_s`` bounds the wait for the write lock (then: ``database is locked``)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": busy_timeout_s, "isolation_level": None},
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        if read_only:
            event.listen(engine, "connect", _sqlite_query_only)
            event.listen(engine, "begin", _sqlite_begin_deferred)
        else:
            _WriterTurns(busy_timeout_s).install(engine)
        return engine
    # At most pool_size connections, all kept once opened. (10 kept plus 20 overflow had the
    # same ceiling, but with more than 10 requests in flight an overflow connection was
    # closed at nearly every check-in and a new one opened at the next checkout: a new
    # PostgreSQL backend every few requests.)
    engine = create_engine(url, pool_size=pool_size, max_overflow=0)
    _ping_when_idle(engine)
    return engine


PING_IDLE_S = 5.0  # a pooled connection unused this long is tested before a request gets it


def _ping_when_idle(engine: Engine) -> None:
    """``pool_pre_ping``, but only for connections that sat idle in the pool.

    Pinging every checkout cost a round trip (``SELECT 1``) per request, a fifth of a
    short request's statements. A connection handed back a moment ago is as alive as the
    ping would show; one idle for a while may have been closed by the server or the
    network, and is pinged (a dead one is replaced, as with ``pool_pre_ping``). A server
    lost while connections are busy fails the statements in flight either way, and the
    first such failure invalidates the whole pool."""

    @event.listens_for(engine, "checkin")
    def _idle(_dbapi_conn, record) -> None:
        record.info["linli_idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping(dbapi_conn, record, _proxy) -> None:
        since = record.info.pop("linli_idle_since", None)
        if since is None or time.monotonic() - since < PING_IDLE_S:
            return  # just connected, or just used
        try:
            engine.dialect.do_ping(dbapi_conn)
        except engine.dialect.loaded_dbapi.Error as exc:
            if engine.dialect.is_disconnect(exc, dbapi_conn, None):
                raise DisconnectionError() from exc  # the pool replaces it and checks out again
            raise


def is_write_refused(exc: BaseException) -> bool:
    """True when a read-only (SQLite ``query_only``) session was asked to write."""
    return isinstance(exc, OperationalError) and "readonly database" in str(getattr(exc, "orig", exc))


class Database:
    """An engine and its session factory (plus an optional read-only replica)."""

    def __init__(self, url: str, replica_url: str | None = None, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.url = url
        self.engine = make_engine(url, busy_timeout_s=busy_timeout_s)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=True)
        self.replica_engine = make_engine(replica_url) if replica_url else self.engine
        # Sessions for requests expected to only read (GET, HEAD). On SQLite every write
        # transaction takes the database's one write lock at BEGIN; a read needs none, so
        # these sessions begin deferred on query-only connections and run beside writers.
        # A request that turns out to write is refused at its first write and run again on
        # a write session (``promote``; web.deps does it). PostgreSQL needs no such split.
        self.reader_engine = make_engine(url, read_only=True) if self.engine.dialect.name == "sqlite" else self.engine
        self.reader_sessions = sessionmaker(self.reader_engine, expire_on_commit=False, autoflush=True)
        # Dashboards read here: the replica when there is one, else the primary's readers.
        self.read_sessions = sessionmaker(self.replica_engine, expire_on_commit=False) if replica_url else self.reader_sessions

    def promote(self, session: Session) -> bool:
        """Point a (closed or rolled back) reader session at the write engine. False if it
        already writes, so a caller retries at most once."""
        if session.bind is self.engine:
            return False
        session.bind = self.engine
        return True

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Session]:
        """One unit of work: commit on success, roll back on any exception."""
        session = self.sessions()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
        if self.reader_engine is not self.engine:
            self.reader_engine.dispose()
        if self.replica_engine is not self.engine:
            self.replica_engine.dispose()


_databases: dict[str, Database] = {}


def get_database(url: str, replica_url: str | None = None) -> Database:
    key = f"{url}|{replica_url}"
    if key not in _databases:
        _databases[key] = Database(url, replica_url)
    return _databases[key]


def is_unique_violation(exc: Exception) -> bool:
    """True when an IntegrityError comes from a unique constraint on either backend."""
    orig = getattr(exc, "orig", exc)
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate is not None:
        return sqlstate == "23505"
    return "UNIQUE constraint failed" in str(orig)


def insert_ignore(s: Session, model, values: dict, conflict: list[str]):
    """INSERT … ON CONFLICT (conflict) DO NOTHING on either backend (add ``.returning``)."""
    from sqlalchemy.dialects import postgresql, sqlite

    dialect = s.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model).values(**values).on_conflict_do_nothing(index_elements=conflict)


# --- side effects outside the database, tied to a session's outcome -------------------------
# A Redis counter taken before the database row (the flash-sale gate) must be given back if
# the transaction rolls back, and a counter given back must only move once the release
# commits. Sessions carry their pending callbacks in ``info``; the listeners below run them.


def after_commit(s: Session, fn) -> None:
    """Run ``fn()`` once the session's transaction commits (dropped on rollback)."""
    s.info.setdefault("linli_after_commit", []).append(fn)


def after_rollback(s: Session, fn) -> None:
    """Run ``fn()`` if the session's transaction rolls back (dropped on commit)."""
    s.info.setdefault("linli_after_rollback", []).append(fn)


def _run(fns: list) -> None:
    import logging

    for fn in fns:
        try:
            fn()
        except Exception:  # a side effect failing must not undo what the database did
            logging.getLogger("linli.db").exception("session callback failed")


@event.listens_for(Session, "after_commit")
def _on_commit(s: Session) -> None:
    if s.in_nested_transaction():  # a savepoint released: the outcome is still open
        return
    s.info.pop("linli_after_rollback", None)
    _run(s.info.pop("linli_after_commit", []))


@event.listens_for(Session, "after_transaction_end")
def _on_end(s: Session, transaction) -> None:
    # The outermost transaction ended without a commit (rolled back, or the session closed).
    if transaction.parent is not None or transaction.nested:
        return
    s.info.pop("linli_after_commit", None)
    _run(s.info.pop("linli_after_rollback", []))


def take_counter(s: Session, model, keys: dict, qty: int, limit: int, *, merchant_id: int) -> bool:
    """Add ``qty`` to the ``qty`` column of the ``model`` row named by ``keys`` (created at
    0 if missing, under a unique constraint on those keys, for ``merchant_id``) unless that
    would pass ``limit``: one compare-and-set, so concurrent takers can never pass it
    together. Used for per-member purchase limits."""
    where = [getattr(model, k) == v for k, v in keys.items()]
    if s.scalars(select(model.id).where(*where)).first() is None:
        s.execute(insert_ignore(s, model, {**keys, "merchant_id": merchant_id, "qty": 0}, list(keys)))
    return s.execute(update(model).where(*where, model.qty + qty <= limit).values(qty=model.qty + qty)).rowcount == 1


def put_settings(s: Session, spec, model, merchant_id: int, values: dict, new_row) -> Any:
    """A domain's settings service's write: ``values`` checked against ``spec`` (its
    ``linli.knobs.Spec``: one out of bounds, or not a setting, is refused before anything is
    written), then set on the merchant's row, made by ``new_row()`` when it has none yet."""
    spec.check(values)
    row = s.get(model, merchant_id)
    if row is None:
        row = new_row()
        s.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    s.flush()
    return row
