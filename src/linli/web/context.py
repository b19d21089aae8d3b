"""What one running Linli process holds: settings, database, rate limiter, SMS channel, clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from linli.channels.sms import SmsChannel, build_sms_channel
from linli.config import Settings
from linli.db import Database, get_database, utcnow
from linli.security import RateLimiter, parse_limits


@dataclass
class AppContext:
    settings: Settings
    db: Database
    limiter: RateLimiter
    redis: object | None = None
    sms: SmsChannel | None = None  # built from the settings when not given
    clock: Callable[[], datetime] = field(default=utcnow)

    def __post_init__(self) -> None:
        if self.sms is None:
            self.sms = build_sms_channel(self.settings)

    def now(self) -> datetime:
        return self.clock()


def redis_client(url: str | None):
    if not url:
        return None
    import redis

    return redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)


def build_context(settings: Settings) -> AppContext:
    db = get_database(settings.database_url, settings.database_replica_url)
    r = redis_client(settings.redis_url)
    return AppContext(settings=settings, db=db, limiter=RateLimiter(parse_limits(settings.rate_limits), r), redis=r)
