"""A dependency that goes down answers 503 with Retry-After, never 500, and leaves nothing
half-written: the connection is cut for real (a TCP proxy between the app and PostgreSQL or
Redis; on SQLite, the write lock held past the busy timeout)."""

from __future__ import annotations

import contextlib
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.engine import make_url

from linli.config import Settings
from linli.db import Database
from linli.security import RateLimiter, parse_limits
from linli.web.app import create_app
from linli.web.context import AppContext, redis_client
from tests.conftest import login, problem_code
from tests.proxy import Proxy
from tests.services import service_url


def _app(settings: Settings, db: Database, clock, redis_url: str | None = None) -> TestClient:
    r = redis_client(redis_url)
    ctx = AppContext(settings=settings, db=db, limiter=RateLimiter(parse_limits(settings.rate_limits), r, prefix=f"linli:test:{uuid.uuid4().hex}:"), clock=clock, redis=r)
    return TestClient(create_app(settings, ctx=ctx, dispatcher=False), raise_server_exceptions=False)


class Outage:
    """The app's database, and a way to take it away mid-request and give it back."""

    def __init__(self, db: Database, backend: str) -> None:
        self.main = db
        if backend == "postgresql":
            url = make_url(db.url)
            self.proxy = Proxy(url.port or 5432)
            self.db = Database(url.set(port=self.proxy.port).render_as_string(hide_password=False))
        else:
            self.proxy = None
            self.db = Database(db.url, busy_timeout_s=0.2)
        self._writer = None

    def during(self, sql_marker: bytes) -> None:
        """The next statement containing ``sql_marker`` meets a dead database."""
        if self.proxy:
            self.proxy.cut_on(sql_marker)
        else:  # another writer holds SQLite's lock past the busy timeout
            self._writer = self.main.engine.connect()
            self._writer.begin()

    def down(self) -> None:
        if self.proxy:
            self.proxy.cut()
        else:
            self.during(b"")

    def back(self) -> None:
        if self.proxy:
            self.proxy.restore()
        elif self._writer is not None:
            self._writer.rollback()
            self._writer.close()
            self._writer = None

    def close(self) -> None:
        self.back()
        self.db.dispose()
        if self.proxy:
            self.proxy.close()


@pytest.fixture
def outage(db, backend):
    o = Outage(db, backend)
    yield o
    o.close()


def _assert_unavailable(r, dependency: str) -> None:
    assert r.status_code == 503, r.text
    assert problem_code(r) == f"{dependency}.unavailable"
    assert r.headers["content-type"].startswith("application/problem+json")
    assert int(r.headers["Retry-After"]) > 0


def test_database_cut_mid_request_is_a_503_and_changes_nothing(outage, settings, clock):
    with _app(settings.model_copy(update={"database_url": outage.db.url}), outage.db, clock) as client:
        me = login(client, "13700000001")
        assert client.patch("/api/v1/me", json={"nickname": "小周"}, headers=me).status_code == 200

        outage.during(b"UPDATE members")
        _assert_unavailable(client.patch("/api/v1/me", json={"nickname": "改了一半"}, headers=me), "database")
        outage.back()

        assert client.get("/api/v1/me", headers=me).json()["nickname"] == "小周"
        assert client.patch("/api/v1/me", json={"nickname": "恢复了"}, headers=me).status_code == 200
        assert client.get("/api/v1/me", headers=me).json()["nickname"] == "恢复了"


def test_database_down_between_requests_is_a_503_then_recovers(outage, settings, clock, backend):
    with _app(settings.model_copy(update={"database_url": outage.db.url}), outage.db, clock) as client:
        me = login(client, "13700000001")
        outage.down()
        # Writes need the database (a read on SQLite still has its snapshot beside the lock).
        _assert_unavailable(client.patch("/api/v1/me", json={"nickname": "x"}, headers=me), "database")
        if backend == "postgresql":
            _assert_unavailable(client.get("/api/v1/me", headers=me), "database")
        outage.back()
        assert client.get("/api/v1/me", headers=me).status_code == 200


def test_pages_show_a_retry_screen_while_the_database_is_down(outage, settings, clock, backend):
    with _app(settings.model_copy(update={"database_url": outage.db.url}), outage.db, clock) as client:
        me = login(client, "13700000001")
        client.cookies.set("linli_token", me["Authorization"].split()[1])
        assert client.get("/m/me", headers={"accept": "text/html"}).status_code == 200
        outage.down()
        r = client.get("/m/me", headers={"accept": "text/html"})
        if backend == "sqlite":  # a held write lock does not stop a page that only reads
            assert r.status_code == 200
            return
        assert r.status_code == 503
        assert r.headers["content-type"].startswith("text/html")
        assert int(r.headers["Retry-After"]) > 0
        assert 'http-equiv="refresh"' in r.text and 'data-testid="retry"' in r.text
        assert "服务暂时繁忙" in r.text


def test_redis_down_is_a_503_and_no_code_is_issued(db, settings, clock):
    url = make_url(service_url("redis", 6379))
    proxy = Proxy(url.port or 6379, url.host or "127.0.0.1")
    try:
        with _app(settings, db, clock, redis_url=url.set(port=proxy.port).render_as_string(hide_password=False)) as client:
            assert client.post("/api/v1/auth/otp", json={"phone": "13700000002"}).status_code == 202
            proxy.cut()
            _assert_unavailable(client.post("/api/v1/auth/otp", json={"phone": "13700000003"}), "redis")
            proxy.restore()
            assert client.post("/api/v1/auth/otp", json={"phone": "13700000003"}).status_code == 202
    finally:
        proxy.close()
    with contextlib.closing(db.engine.connect()) as conn:
        codes = conn.execute(text("SELECT count(*) FROM otp_codes WHERE phone = '13700000003'")).scalar_one()
    assert codes == 1  # only the request after Redis came back issued one
