"""Tokens, one-time codes, CSRF tokens, OAuth states and rate limits.

Access tokens are HS256 JWTs signed with ``LINLI_SECRET_KEY`` (``sub`` = member id, short
expiry); other short-lived signed values (``sign_claims``) carry their own ``typ``. One-time codes are stored only as HMACs. Rate limits are fixed windows (the ``limits``
library) counted in Redis when ``LINLI_REDIS_URL`` is set (shared by every API process) and in-process
otherwise (embedded, one process).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import jwt
from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import FixedWindowRateLimiter

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


def sign_claims(secret: str, typ: str, claims: dict, ttl_seconds: int, now: datetime) -> str:
    """A short-lived signed value of kind ``typ`` (never mistaken for an access token)."""
    return jwt.encode({**claims, "sub": typ, "typ": typ, "exp": int(now.timestamp()) + ttl_seconds}, secret, algorithm=TOKEN_ALG)


def read_claims(secret: str, typ: str, token: str | None, now: datetime) -> dict | None:
    """The claims of a valid, unexpired ``sign_claims`` value of kind ``typ``, else None."""
    if not token or len(token) > 2048:
        return None
    try:
        claims = _verified(secret, token)
    except Unauthorized:
        return None
    return claims if claims.get("typ") == typ and isinstance(claims.get("exp"), int) and claims["exp"] > now.timestamp() else None


_STATE_MAC = 40  # hex digits of the HMAC in an OAuth state


def oauth_state(secret: str, expires: int, *bound_to: str) -> str:
    """An OAuth ``state``: its expiry (unix seconds, hex) and an HMAC over it and what it is
    bound to (the browser's CSRF cookie, the page to return to). Letters and digits only,
    under 128 characters, as WeChat's web authorisation requires."""
    mac = hmac.new(secret.encode(), "|".join(("oauth-state", str(expires), *bound_to)).encode(), hashlib.sha256).hexdigest()
    return f"{expires:x}{mac[:_STATE_MAC]}"


def oauth_state_valid(secret: str, state: str | None, now: datetime, *bound_to: str) -> bool:
    if not state or not state.isascii() or not state.isalnum() or not _STATE_MAC < len(state) <= _STATE_MAC + 12:
        return False
    try:
        expires = int(state[:-_STATE_MAC], 16)
    except ValueError:
        return False
    return expires > now.timestamp() and hmac.compare_digest(oauth_state(secret, expires, *bound_to), state)


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
    """Fixed-window counters on ``limits``. ``hit`` counts one and raises ``TooManyRequests``
    when over.

    Counts live in Redis (``RedisStorage`` on the app's own connection pool, so its timeouts
    apply and a Redis error propagates to the outage handling as a 503) when a client is
    given, else in-process (``MemoryStorage``). Windows are aligned to ``clock`` (seconds
    since the epoch; tests pass a frozen one): the window index is part of the key, so a new
    window starts at the boundary whatever Redis' own clock says, and each key expires with
    its window.
    """

    def __init__(self, limits: dict[str, Rate], redis_client=None, prefix: str = "linli:rl:", clock: Callable[[], float] = time.time) -> None:
        self.limits = limits
        self.clock = clock
        if redis_client is None:
            self._storage = MemoryStorage()
        else:
            # The URI only names the client library; connections come from the shared pool.
            self._storage = RedisStorage("redis://", connection_pool=redis_client.connection_pool)
        self.prefix = prefix
        self._window = FixedWindowRateLimiter(self._storage)
        self._items = {name: RateLimitItemPerSecond(rate.count, rate.seconds) for name, rate in limits.items()}

    @property
    def prefix(self) -> str:
        return self._prefix

    @prefix.setter
    def prefix(self, value: str) -> None:
        """Key prefix in Redis (``limits`` >= 5.1 reads ``key_prefix`` on every call and adds
        the ``:`` separator itself)."""
        self._prefix = value
        if isinstance(self._storage, RedisStorage):
            self._storage.key_prefix = value.rstrip(":")

    def hit(self, name: str, subject: str, *, code: str = "rate_limited") -> None:
        rate = self.limits[name]
        window = int(self.clock()) // rate.seconds
        if not self._window.hit(self._items[name], name, subject, str(window)):
            raise TooManyRequests(code, f"Too many requests; try again in up to {rate.seconds} seconds.", retry_after=rate.seconds)

    def reset(self) -> None:
        """Forget the in-process counts (tests); counts in Redis are left to expire."""
        if isinstance(self._storage, MemoryStorage):
            self._storage.reset()
