"""Shared fixtures: a real database per backend (SQLite and PostgreSQL), the app, a clock."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from linli import domains, ledger, migrate
from linli.campaigns.flash_sale import gate as flash
from linli.config import Settings
from linli.db import Base, Database
from tests.services import service_url

ADMIN = "13800000000"
BACKENDS = ["sqlite", "postgresql"]
_databases: dict[str, Database] = {}
_tmp = tempfile.mkdtemp(prefix="linli-tests-")


def _database(backend: str) -> Database:
    """This worker's test database of ``backend``, wiped before every test."""
    if backend not in _databases:
        if backend == "sqlite":
            url = f"sqlite:///{_tmp}/test.db"
        else:
            url = _worker_database(Settings(database_url=service_url("postgresql", 5432)).database_url)
        db = Database(url)
        domains.bootstrap(Settings(env="test", plugins="tests.plugin"))
        if backend == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        migrate.upgrade(db)
        _databases[backend] = db
    return _databases[backend]


def _worker_database(url: str, suffix: str = "", *, shared: bool = False) -> str:
    """Under pytest-xdist each worker gets its own PostgreSQL database (<name>_<worker>),
    created next to the configured one, so parallel workers never wipe each other; a
    ``shared`` one (<name><suffix>) is every worker's."""
    worker = None if shared else os.environ.get("PYTEST_XDIST_WORKER")
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    base = make_url(url)
    name = f"{base.database}{'_' + worker if worker else ''}{suffix}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        # A test database need not survive a power cut: commits return before their WAL
        # reaches the disk (0.5 ms → 0.1 ms each here). Locking, isolation and every
        # constraint are PostgreSQL's as in production.
        conn.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _wipe(db: Database) -> None:
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    # Only the tables a test wrote to are emptied (one query finds them), children first.
    probe = " UNION ALL ".join(f"SELECT '{n}' WHERE EXISTS (SELECT 1 FROM \"{n}\")" for n in tables)
    with db.engine.begin() as conn:
        used = sorted((row[0] for row in conn.execute(text(probe))), key=tables.index)
        if db.is_sqlite:
            # The ledger refuses DELETE (append-only trigger): lift it for the wipe only.
            guarded = bool(set(used) & set(ledger.TABLES))
            if guarded:
                ledger.remove_guard(conn)
            for name in used:
                conn.execute(text(f'DELETE FROM "{name}"'))
            if guarded:
                ledger.install_guard(conn)
        else:
            # DELETE, not TRUNCATE: TRUNCATE costs a file swap per table and CASCADE from members
            # reaches nearly all of them (150 ms a test). The replica role skips the triggers
            # (foreign keys, the ledger's append-only guard) for this transaction only. Every
            # sequence a test advanced (a rolled-back insert too) starts again, as RESTART
            # IDENTITY did.
            conn.execute(text("SET LOCAL session_replication_role = replica"))
            for name in used:
                conn.execute(text(f'DELETE FROM "{name}"'))
            conn.execute(text("SELECT setval(format('%I.%I', schemaname, sequencename), start_value, false) FROM pg_sequences WHERE last_value IS NOT NULL"))


@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture
def db(backend: str) -> Iterator[Database]:
    database = _database(backend)
    _wipe(database)
    yield database


@dataclass
class Clock:
    """A controllable clock injected into the app and services."""

    current: datetime = field(default_factory=lambda: datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc))

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **kw) -> datetime:
        self.current += timedelta(**kw)
        return self.current


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(db: Database) -> Settings:
    return settings_for(db)


def settings_for(db: Database) -> Settings:
    # Generous rate limits so tests can log many people in; the limit tests set their own.
    return Settings(
        env="test",
        database_url=db.url,
        platform_admins=ADMIN,
        media_dir=f"{_tmp}/media",
        # Long-lived tokens: tests move the clock by weeks (token expiry has its own test).
        token_ttl_seconds=90 * 86400,
        rate_limits="otp_phone=1000/hour;otp_phone_burst=1000/minute;otp_ip=100000/hour;login_ip=100000/hour",
        # No test reaches the real WeChat: unless a test points it at its fake, a call
        # finds nothing listening (an outage, 503) at once.
        wechat_api_base="http://127.0.0.1:9",
        wechat_open_base="http://127.0.0.1:9",
    )


@pytest.fixture
def app(settings: Settings, db: Database, clock: Clock):
    return _app(settings, db, clock)


def _app(settings: Settings, db: Database, clock: Clock):
    from linli.security import RateLimiter, parse_limits
    from linli.web.app import create_app
    from linli.web.context import AppContext

    ctx = AppContext(settings=settings, db=db, limiter=RateLimiter(parse_limits(settings.rate_limits)), clock=clock)
    return create_app(settings, ctx=ctx, dispatcher=False)


@pytest.fixture
def client(app) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@dataclass
class DemoWorld:
    """The demo (``linli.demo``) seeded once per test run and backend, its outbox drained, and
    a client on it. Seeding takes 10–20 s; the demo tests only read it (and seed again to show
    that adds nothing), so every xdist worker shares the one seeded database."""

    db: Database
    info: object  # linli.demo.DemoInfo
    client: TestClient
    clock: Clock


_demo_infos: dict[str, object] = {}


_SOLO_RUN = uuid.uuid4().hex  # a run without xdist workers


def _demo_paths(backend: str) -> str:
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or _SOLO_RUN
    return f"{tempfile.gettempdir()}/linli-demo-{run}-{backend}"


def _remove_old_demos(days: int = 1) -> None:
    """Earlier runs' demo files (a day old or more): a run leaves its own for its workers."""
    import glob
    import time

    for path in glob.glob(f"{tempfile.gettempdir()}/linli-demo-*"):
        try:
            if os.path.getmtime(path) < time.time() - days * 86400:
                os.remove(path)
        except OSError:
            pass


def _shared_demo(backend: str) -> tuple[Database, object]:
    """The run's demo database of ``backend`` (the caller holds its lock): the first worker
    seeds it, the others find it seeded (``demo.seed`` then only reads)."""
    from linli import demo, events

    path = _demo_paths(backend)
    if backend == "sqlite":
        url = f"sqlite:///{path}.db"
    else:
        url = _worker_database(Settings(database_url=service_url("postgresql", 5432)).database_url, "_demo", shared=True)
    if not os.path.exists(f"{path}.seeded"):
        _remove_old_demos()
        if backend == "sqlite" and os.path.exists(f"{path}.db"):
            os.remove(f"{path}.db")  # a seed that died halfway
    db = Database(url)
    domains.bootstrap(Settings(env="test", plugins="tests.plugin"))
    if not os.path.exists(f"{path}.seeded"):
        if backend == "postgresql":
            with db.engine.begin() as conn:
                conn.execute(text("DROP SCHEMA public CASCADE"))
                conn.execute(text("CREATE SCHEMA public"))
        migrate.upgrade(db)
        demo.seed(db, Clock().current)
        events.drain(db)
        open(f"{path}.seeded", "w").close()
    migrate.upgrade(db)  # no-op once current
    return db, demo.seed(db, Clock().current)  # seeded: only reads who is who


@pytest.fixture
def demo_world(backend: str) -> Iterator[DemoWorld]:
    """One demo test at a time per backend across the workers (a file lock): they log the
    same people in, and a one-time code asked for by one would spend the other's."""
    import fcntl

    with open(f"{_demo_paths(backend)}.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if backend not in _demo_infos:
            _demo_infos[backend] = _shared_demo(backend)
        db, info = _demo_infos[backend]
        clock = Clock()
        with TestClient(_app(settings_for(db), db, clock), raise_server_exceptions=False) as c:
            yield DemoWorld(db, info, c, clock)


def login(client: TestClient, phone: str, invite_code: str | None = None) -> dict[str, str]:
    """Log a phone in through the real OTP flow; returns the Authorization header."""
    r = client.post("/api/v1/auth/otp", json={"phone": phone})
    assert r.status_code == 202, r.text
    body = {"phone": phone, "code": r.json()["debug_code"]}
    if invite_code:
        body["invite_code"] = invite_code
    r = client.post("/api/v1/auth/login", json=body)
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@pytest.fixture
def admin(client) -> dict[str, str]:
    return login(client, ADMIN)


@dataclass
class MerchantSetup:
    id: int
    owner: dict[str, str]
    owner_phone: str


@pytest.fixture
def merchant(client, admin) -> MerchantSetup:
    r = client.post("/api/v1/merchants", json={"name": "优邻优选", "owner_phone": "13800000001"}, headers=admin)
    assert r.status_code == 201, r.text
    return MerchantSetup(r.json()["id"], login(client, "13800000001"), "13800000001")


def problem_code(response) -> str:
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    return response.json()["code"]


os.environ.setdefault("LINLI_ENV", "test")


# --- the flash-sale gate on a real Redis, or off (campaign and browser tests) ---


@pytest.fixture
def gate(db):
    """The Redis gate switched on, under a key prefix of this test's own (removed after)."""
    import redis

    url = service_url("redis", 6379)
    r = redis.Redis.from_url(url)
    before = flash.configuration()
    prefix = f"linli:test:flash:{uuid.uuid4().hex}:"
    flash.configure(r, prefix=prefix)
    yield r
    flash.configure(*before)
    keys = list(r.scan_iter(match=prefix + "*"))
    if keys:
        r.delete(*keys)
    r.close()


@pytest.fixture
def no_gate(db):
    before = flash.configuration()
    flash.configure(None)
    yield
    flash.configure(*before)
