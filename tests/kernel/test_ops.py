"""Operations: health and metrics endpoints, the production guard, and the command line
(``linli demo``, ``linli db upgrade`` on PostgreSQL, ``linli serve --workers``) run as an
operator would run them, in subprocesses."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, inspect, select, text

from linli.config import DEFAULT_SECRET, ConfigError, Settings
from tests.conftest import login

# ---- endpoints ------------------------------------------------------------------------


def test_healthz_reports_database(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["checks"]["database"] == "ok" and body["version"]


def test_healthz_degrades_when_database_is_down(app, client, monkeypatch):
    def broken():
        raise OSError("connection refused")

    monkeypatch.setattr(app.state.ctx.db.engine, "connect", broken)
    r = client.get("/healthz")
    assert r.status_code == 503
    assert r.json()["status"] == "degraded" and r.json()["checks"]["database"].startswith("error")


def test_metrics_count_requests_by_route_template(client):
    h = login(client, "13800000000")
    client.get("/api/v1/merchants/424242", headers=h)
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "linli_http_requests_total" in r.text
    assert "linli_http_request_seconds" in r.text
    # Labelled by route template, not by raw path (ids would explode the series count).
    assert re.search(r'linli_http_requests_total\{method="GET",route="/api/v1/merchants/\{mid\}",status="404"\} [1-9]', r.text), r.text[:2000]
    assert "/api/v1/merchants/424242" not in r.text


# ---- production guard -----------------------------------------------------------------


# A complete SMS configuration (production refuses to start without one).
PROD_SMS = {"sms_provider": "webhook", "sms_webhook_url": "http://127.0.0.1:9/sms", "sms_webhook_secret": "w" * 40}


@pytest.fixture
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("LINLI_"):
            monkeypatch.delenv(key)


def test_production_refuses_default_secrets(clean_env):
    with pytest.raises(ConfigError, match="LINLI_SECRET_KEY"):
        Settings(env="production")
    with pytest.raises(ConfigError, match="LINLI_SECRET_KEY"):
        Settings(env="production", secret_key="short", payment_secret="p" * 40)
    with pytest.raises(ConfigError, match="LINLI_PAYMENT_SECRET"):
        Settings(env="production", secret_key="s" * 40)
    ok = Settings(env="production", secret_key="s" * 40, payment_secret="p" * 40, **PROD_SMS)
    assert ok.is_production and not ok.sandbox_enabled
    dev = Settings()
    assert dev.secret_key == DEFAULT_SECRET and dev.sandbox_enabled


def test_production_otp_has_no_debug_code(db, clock):
    from fastapi.testclient import TestClient

    from linli.security import RateLimiter, parse_limits
    from linli.web.app import create_app
    from linli.web.context import AppContext

    settings = Settings(env="production", database_url=db.url, secret_key="s" * 40, payment_secret="p" * 40, **PROD_SMS)
    ctx = AppContext(settings=settings, db=db, limiter=RateLimiter(parse_limits("")), clock=clock)
    with TestClient(create_app(settings, ctx=ctx, dispatcher=False)) as c:
        r = c.post("/api/v1/auth/otp", json={"phone": "13900001111"})
        assert r.status_code == 202 and r.json()["debug_code"] is None


def test_rate_limits_setting_changes_the_wrong_code_lockout(db, clock):
    """``LINLI_RATE_LIMITS=login_fail=2/10minutes``: two wrong codes lock the phone, for
    ten minutes (the default is five in 15 minutes)."""
    from fastapi.testclient import TestClient

    from linli.security import RateLimiter, parse_limits
    from linli.web.app import create_app
    from linli.web.context import AppContext

    settings = Settings(env="test", database_url=db.url, rate_limits="login_fail=2/10minutes;otp_phone_burst=100/minute")
    ctx = AppContext(settings=settings, db=db, limiter=RateLimiter(parse_limits(settings.rate_limits)), clock=clock)
    with TestClient(create_app(settings, ctx=ctx, dispatcher=False)) as c:
        good = c.post("/api/v1/auth/otp", json={"phone": "13900001111"}).json()["debug_code"]
        wrong = "000000" if good != "000000" else "111111"
        for _ in range(2):
            assert c.post("/api/v1/auth/login", json={"phone": "13900001111", "code": wrong}).status_code == 401
        r = c.post("/api/v1/auth/login", json={"phone": "13900001111", "code": good})
        assert r.status_code == 423 and r.json()["code"] == "auth.phone_locked"
        clock.advance(minutes=9)
        assert c.post("/api/v1/auth/otp", json={"phone": "13900001111"}).status_code == 423
        clock.advance(minutes=2)
        fresh = c.post("/api/v1/auth/otp", json={"phone": "13900001111"}).json()["debug_code"]
        assert c.post("/api/v1/auth/login", json={"phone": "13900001111", "code": fresh}).status_code == 200


def test_unknown_rate_limit_names_are_refused():
    from linli.security import parse_limits

    with pytest.raises(ValueError, match="unknown rate limit"):
        parse_limits("otp_phone=5/hour;login_fails=3/hour")


# ---- the command line, in subprocesses --------------------------------------------------


def cli_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_")}
    env.update({"LINLI_MEDIA_DIR": str(tmp_path / "media"), "COLUMNS": "200", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def linli(*args: str, env: dict[str, str], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "linli.cli", *args], env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout
    )


def test_serve_refuses_production_with_default_secret(tmp_path):
    env = cli_env(tmp_path, LINLI_ENV="production", LINLI_DATABASE_URL=f"sqlite:///{tmp_path}/x.db")
    r = linli("serve", "--port", str(free_port()), env=env, cwd=tmp_path, timeout=60)
    assert r.returncode != 0
    out = " ".join((r.stdout + r.stderr).split())
    assert "Configuration refused" in out and "LINLI_SECRET_KEY" in out, out


def _counts(url: str) -> dict[str, int]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            names = inspect(conn).get_table_names()
            return {n: conn.execute(select(func.count()).select_from(text(f'"{n}"'))).scalar_one() for n in names}
    finally:
        engine.dispose()


def test_demo_seeds_once_on_a_fresh_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path}/demo.db"
    env = cli_env(tmp_path, LINLI_DATABASE_URL=url)
    first = linli("demo", "--no-serve", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "seeded" in first.stdout and "13800000000" in first.stdout and "13900000001" in first.stdout

    engine = create_engine(url)
    with engine.connect() as conn:
        merchants = conn.execute(text("SELECT id FROM merchants WHERE name = '优邻优选'")).scalars().all()
        assert len(merchants) == 1
        mid = merchants[0]
        communities = conn.execute(text("SELECT id, leader_member_id FROM communities WHERE merchant_id = :m"), {"m": mid}).all()
        assert len(communities) == 4  # three stories' communities and 金色家园's month of history
        for cid, leader in communities:
            assert leader is not None
            points = conn.execute(text("SELECT count(*) FROM pickup_points WHERE community_id = :c AND active"), {"c": cid}).scalar_one()
            assert points >= 1
        leader_phones = conn.execute(
            text("SELECT m.phone FROM communities c JOIN members m ON m.id = c.leader_member_id WHERE c.merchant_id = :m ORDER BY m.phone"), {"m": mid}
        ).scalars().all()
        assert leader_phones == ["13900000001", "13900000002", "13900000003", "13900000004"]
        # A month of figures for the dashboard: orders paid on most of its days.
        assert conn.execute(text("SELECT count(DISTINCT day) FROM analytics_days WHERE merchant_id = :m AND orders > 0"), {"m": mid}).scalar_one() >= 25
        assert conn.execute(text("SELECT count(*) FROM members")).scalar_one() >= 30
        assert conn.execute(text("SELECT count(*) FROM members WHERE phone LIKE '137%'")).scalar_one() >= 30
        staff = dict(conn.execute(text("SELECT m.phone, s.role FROM staff s JOIN members m ON m.id = s.member_id WHERE s.merchant_id = :m"), {"m": mid}).all())
        assert staff == {"13800000001": "owner", "13800000002": "operator", "13800000003": "finance", "13800000004": "service"}
    engine.dispose()
    before = _counts(url)

    second = linli("demo", "--no-serve", env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "already seeded" in second.stdout
    assert _counts(url) == before
    # The rollups the handlers kept while seeding equal a rebuild from the orders.
    check = linli("analytics", "rebuild", "--check", env=env, cwd=tmp_path)
    assert check.returncode == 0 and "0 differences" in check.stdout, check.stdout + check.stderr


def test_db_upgrade_on_postgresql(tmp_path, fresh_pg_database):
    from alembic.script import ScriptDirectory

    from linli import migrate
    from linli.db import Database

    env = cli_env(tmp_path, LINLI_DATABASE_URL=fresh_pg_database.replace("postgresql+psycopg://", "postgresql://"))
    r = linli("db", "current", env=env, cwd=tmp_path)
    assert r.returncode == 0 and "(empty database)" in r.stdout, r.stdout + r.stderr
    r = linli("db", "upgrade", env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr

    db = Database(fresh_pg_database)
    try:
        head = ScriptDirectory.from_config(migrate.alembic_config(db)).get_current_head()
        assert migrate.current(db) == head
        tables = set(inspect(db.engine).get_table_names())
        assert {"members", "merchants", "staff", "communities", "pickup_points", "outbox_events", "handled_events"} <= tables
    finally:
        db.dispose()
    # Upgrading again is a no-op, and `db current` names the head.
    again = linli("db", "upgrade", env=env, cwd=tmp_path)
    assert again.returncode == 0, again.stdout + again.stderr
    assert head in linli("db", "current", env=env, cwd=tmp_path).stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            kids.append(int(stat.parent.name))
    return kids


@pytest.mark.parametrize("revision", [None, "0005"])
def test_serve_and_worker_refuse_a_schema_behind_the_code(tmp_path, revision):
    env = cli_env(tmp_path, LINLI_DATABASE_URL=f"sqlite:///{tmp_path}/behind.db")
    if revision:
        assert linli("db", "upgrade", revision, env=env, cwd=tmp_path).returncode == 0
    for args in (("serve", "--port", str(free_port())), ("worker", "--once")):
        r = linli(*args, env=env, cwd=tmp_path, timeout=60)
        out = " ".join((r.stdout + r.stderr).split())
        assert r.returncode == 2, out
        assert "Schema check failed" in out and "Run: linli db upgrade" in out, out
        assert ("behind" in out) if revision else ("no Linli schema" in out), out
    if revision is None:  # nothing was created behind the operator's back
        assert "outbox_events" not in _counts(f"sqlite:///{tmp_path}/behind.db")


@pytest.mark.parametrize(("threads", "expected"), [(None, None), (12, 12)])
def test_endpoints_run_on_the_configured_number_of_threads(settings, db, clock, threads, expected):
    import anyio.to_thread

    from linli.security import RateLimiter, parse_limits
    from linli.web.app import create_app
    from linli.web.context import AppContext

    settings = settings.model_copy(update={"api_threads": threads})
    ctx = AppContext(settings=settings, db=db, limiter=RateLimiter(parse_limits(settings.rate_limits)), clock=clock)
    with TestClient(create_app(settings, ctx=ctx, dispatcher=False)) as client:
        tokens = client.portal.call(lambda: anyio.to_thread.current_default_thread_limiter().total_tokens)
    assert tokens == (expected or (4 if db.is_sqlite else 40))


def test_app_refuses_to_start_on_a_schema_behind_the_code(tmp_path):
    from linli import migrate
    from linli.db import Database
    from linli.web.app import create_app

    settings = Settings(env="test", database_url=f"sqlite:///{tmp_path}/behind.db")
    db = Database(settings.database_url)
    migrate.upgrade(db, "0005")
    app = create_app(settings, dispatcher=False)
    with pytest.raises(migrate.SchemaMismatch, match="behind"):
        with TestClient(app):
            pass
    db.dispose()


def test_serve_with_two_workers_answers_healthz(tmp_path):
    port = free_port()
    env = cli_env(tmp_path, LINLI_DATABASE_URL=f"sqlite:///{tmp_path}/serve.db")
    assert linli("db", "upgrade", env=env, cwd=tmp_path).returncode == 0
    proc = subprocess.Popen(
        [sys.executable, "-m", "linli.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        body = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                if r.status_code == 200:
                    body = r.json()
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        assert proc.poll() is None, proc.stdout.read()
        assert body is not None, "linli serve --workers 2 did not answer /healthz within 60 s"
        assert body["checks"]["database"] == "ok"
        if Path("/proc").is_dir():
            assert len(_children(proc.pid)) >= 2  # the two API processes
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
