"""Rate limits counted in a real Redis are shared by every API process.

Two ``RateLimiter`` instances with their own Redis connections stand for two API
processes behind a load balancer: the limit holds across them. The limiters read a frozen
clock so a window boundary cannot fall in the middle of a test.
"""

from __future__ import annotations

import uuid

import pytest

from linli.errors import TooManyRequests
from linli.security import RateLimiter, parse_limits
from tests.conftest import problem_code
from tests.services import service_url

pytestmark = pytest.mark.redis

FROZEN = 1_800_000_000.0  # on an hour boundary: the hour windows start here


@pytest.fixture
def redis_url() -> str:
    return service_url("redis", 6379)


class FrozenTime:
    """The limiters' clock: stands still until a test moves it."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


@pytest.fixture
def frozen_time() -> FrozenTime:
    return FrozenTime(FROZEN + 60)


@pytest.fixture
def prefix(redis_url):
    """A key prefix of this test's own, removed afterwards."""
    import redis

    p = f"linli:test:{uuid.uuid4().hex}:"
    yield p
    r = redis.Redis.from_url(redis_url)
    keys = list(r.scan_iter(match=p + "*"))
    if keys:
        r.delete(*keys)
    r.close()


def two_processes(redis_url: str, prefix: str, spec: str, clock: FrozenTime) -> tuple[RateLimiter, RateLimiter]:
    import redis

    limits = parse_limits(spec)
    return (
        RateLimiter(limits, redis.Redis.from_url(redis_url), prefix=prefix, clock=clock),
        RateLimiter(limits, redis.Redis.from_url(redis_url), prefix=prefix, clock=clock),
    )


def test_limit_is_shared_across_processes(redis_url, prefix, frozen_time):
    a, b = two_processes(redis_url, prefix, "otp_phone=3/hour", frozen_time)
    a.hit("otp_phone", "13900001111")
    b.hit("otp_phone", "13900001111")
    a.hit("otp_phone", "13900001111")
    # The fourth code in the hour is refused, whichever process receives it.
    for limiter in (b, a):
        with pytest.raises(TooManyRequests) as exc:
            limiter.hit("otp_phone", "13900001111", code="auth.otp_rate_limited")
        assert exc.value.code == "auth.otp_rate_limited"
        assert exc.value.retry_after == 3600
    # Another phone has its own count.
    b.hit("otp_phone", "13900002222")


def test_new_window_starts_fresh_and_keys_expire(redis_url, prefix, frozen_time):
    import redis

    a, b = two_processes(redis_url, prefix, "login_fail=2/15minutes", frozen_time)
    a.hit("login_fail", "13900001111")
    b.hit("login_fail", "13900001111")
    with pytest.raises(TooManyRequests):
        a.hit("login_fail", "13900001111")
    # Every counter carries a TTL just over its window, so Redis does not fill up.
    r = redis.Redis.from_url(redis_url)
    keys = list(r.scan_iter(match=prefix + "*"))
    assert keys
    for key in keys:
        assert 0 < r.ttl(key) <= 15 * 60 + 1
    r.close()
    frozen_time.t += 15 * 60
    b.hit("login_fail", "13900001111")
    a.hit("login_fail", "13900001111")
    with pytest.raises(TooManyRequests):
        b.hit("login_fail", "13900001111")


def test_without_redis_each_process_counts_alone(frozen_time):
    """The reason Redis matters with several API processes: in-process counters are
    per process, so N processes would allow N times the limit."""
    limits = parse_limits("otp_phone=1/hour")
    a, b = RateLimiter(limits, clock=frozen_time), RateLimiter(limits, clock=frozen_time)
    a.hit("otp_phone", "13900001111")
    b.hit("otp_phone", "13900001111")
    with pytest.raises(TooManyRequests):
        a.hit("otp_phone", "13900001111")


def test_two_api_apps_share_the_otp_limit_through_redis(db, redis_url, prefix, frozen_time, clock):
    """End to end: two app instances (as two ``linli serve`` processes) built from
    settings with ``LINLI_REDIS_URL``; the per-phone OTP limit holds across both."""
    from fastapi.testclient import TestClient

    from linli.config import Settings
    from linli.web.app import create_app
    from linli.web.context import build_context

    settings = Settings(env="test", database_url=db.url, redis_url=redis_url, rate_limits="otp_phone=2/hour;otp_phone_burst=100/minute")
    apps = []
    for _ in range(2):
        ctx = build_context(settings)
        ctx.limiter.prefix = prefix
        ctx.limiter.clock = frozen_time
        ctx.clock = clock
        apps.append(create_app(settings, ctx=ctx, dispatcher=False))
    with TestClient(apps[0]) as one, TestClient(apps[1]) as two:
        health = one.get("/healthz").json()
        assert health["checks"] == {"database": "ok", "redis": "ok"}
        assert one.post("/api/v1/auth/otp", json={"phone": "13900001111"}).status_code == 202
        assert two.post("/api/v1/auth/otp", json={"phone": "13900001111"}).status_code == 202
        r = one.post("/api/v1/auth/otp", json={"phone": "13900001111"})
        assert r.status_code == 429 and problem_code(r) == "auth.otp_rate_limited"
        assert int(r.headers["retry-after"]) == 3600
        r = two.post("/api/v1/auth/otp", json={"phone": "13900001111"})
        assert r.status_code == 429


def test_without_redis_a_new_window_starts_fresh(frozen_time):
    limits = parse_limits("login_fail=2/15minutes")
    a = RateLimiter(limits, clock=frozen_time)
    a.hit("login_fail", "13900001111")
    a.hit("login_fail", "13900001111")
    with pytest.raises(TooManyRequests) as exc:
        a.hit("login_fail", "13900001111", code="auth.login_rate_limited")
    assert exc.value.code == "auth.login_rate_limited" and exc.value.retry_after == 15 * 60
    frozen_time.t += 15 * 60
    a.hit("login_fail", "13900001111")
