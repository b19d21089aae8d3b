"""Tokens, one-time codes, CSRF tokens and rate limits.

Access tokens are HS256 JWTs signed with ``LINLI_SECRET_KEY`` (``sub`` = member id, short
expiry). One-time codes are stored only as HMACs. Rate limits are fixed windows counted in
Redis when ``LINLI_REDIS_URL`` is set (shared by every API process) and in-process
otherwise (embedded, one process).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt

from linli.errors import TooManyRequests, Unauthorized

TOKEN_ALG = "HS256"


def issue_token(secret: str, member_id: int, ttl_seconds: int, *, now: datetime | None = None, phone: str = "") -> str:
    """A signed access token. It carries the member's phone (``phn``) so that a request is
    authenticated without a database round trip (platform admins are known by phone)."""
    now = now or datetime.now(timezone.utc)
    claims = {"sub": str(member_id), "phn": phone, "iat": int(now.timestamp()), "exp": int((now + timedelta(seconds=ttl_seconds)).timestamp()), "typ": "access"}
    return jwt.encode(claims, secret, algorithm=TOKEN_ALG)


def read_token_claims(secret: str, token: str, now: datetime | None = None) -> tuple[int, str]:
    """(member id, phone) of a valid token; ``Unauthorized`` for a forged, expired or odd one.

    Expiry is checked against the injected clock, not the machine's."""
    now = now or datetime.now(timezone.utc)
    claims = _verified(secret, token)
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= now.timestamp():
        raise Unauthorized("auth.token_expired", "The access token has expired; log in again.")
    if claims.get("typ") != "access" or not str(claims.get("sub", "")).isdigit():
        raise Unauthorized("auth.token_invalid", "The access token is not valid.")
    return int(claims["sub"]), str(claims.get("phn") or "")


@functools.lru_cache(maxsize=8192)
def _verified(secret: str, token: str) -> dict:
    """The claims of a token whose signature checks out. Remembered (the same token comes
    with every request of a session, and PyJWT's checks cost more than the rest of a cheap
    request); expiry and type are checked on every call by the caller."""
    try:
        return jwt.decode(token, secret, algorithms=[TOKEN_ALG], options={"require": ["exp", "sub"], "verify_exp": False, "verify_iat": False})
    except jwt.PyJWTError:
        raise Unauthorized("auth.token_invalid", "The access token is not valid.") from None


def new_otp_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def hash_otp(secret: str, phone: str, code: str) -> str:
    return hmac.new(secret.encode(), f"otp:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_matches(cookie_value: str | None, sent_value: str | None) -> bool:
    return bool(cookie_value and sent_value and hmac.compare_digest(cookie_value, sent_value))


# --- rate limits -------------------------------------------------------------------------

_UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}
_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(\d*)\s*(second|minute|hour|day)s?\s*$")

# Strict by default: a code a minute and five an hour per phone; generous per IP because
# a whole compound may share one NAT address; lock after 5 wrong codes in 15 minutes.
DEFAULT_LIMITS = {
    "otp_phone": "5/hour",
    "otp_phone_burst": "1/minute",
    "otp_ip": "50/hour",
    "login_ip": "100/hour",
    "login_fail": "5/15minutes",
    "pickup_miss": "10/15minutes",
}


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> "Rate":
        m = _RATE_RE.match(text)
        if not m:
            raise ValueError(f"bad rate {text!r}; expected like 5/hour or 5/15minutes")
        count, mult, unit = int(m.group(1)), int(m.group(2) or 1), m.group(3)
        return cls(count, mult * _UNITS[unit])


def parse_limits(spec: str) -> dict[str, Rate]:
    """``otp_phone=5/hour;otp_ip=50/hour`` over the defaults; unknown names are refused."""
    merged = dict(DEFAULT_LIMITS)
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        name, _, value = part.partition("=")
        name = name.strip()
        if name not in DEFAULT_LIMITS:
            raise ValueError(f"unknown rate limit {name!r}; known: {', '.join(DEFAULT_LIMITS)}")
        merged[name] = value.strip()
    return {k: Rate.parse(v) for k, v in merged.items()}


class RateLimiter:
    """Fixed-window counters. ``hit`` counts one and raises ``TooManyRequests`` when over."""

    def __init__(self, limits: dict[str, Rate], redis_client=None, prefix: str = "linli:rl:") -> None:
        self.limits = limits
        self.redis = redis_client
        self.prefix = prefix
        self._mem: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def _count(self, key: str, window: int) -> int:
        bucket = int(time.time()) // window
        full = f"{self.prefix}{key}:{bucket}"
        if self.redis is not None:
            pipe = self.redis.pipeline()
            pipe.incr(full)
            pipe.expire(full, window + 1)
            return int(pipe.execute()[0])
        with self._lock:
            start, n = self._mem.get(key, (bucket, 0))
            n = n + 1 if start == bucket else 1
            self._mem[key] = (bucket, n)
            if len(self._mem) > 100_000:  # forget stale windows
                self._mem = {k: v for k, v in self._mem.items() if v[0] == bucket}
            return n

    def hit(self, name: str, subject: str, *, code: str = "rate_limited") -> None:
        rate = self.limits[name]
        if self._count(f"{name}:{subject}", rate.seconds) > rate.count:
            raise TooManyRequests(code, f"Too many requests; try again in up to {rate.seconds} seconds.", retry_after=rate.seconds)

    def reset(self) -> None:
        with self._lock:
            self._mem.clear()
