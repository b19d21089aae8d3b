"""Where a request comes from, as the edge sees it: the device and the client IP, hashed.

The web layer's ``EdgeSignals`` middleware reads the device id (``X-Device-Id`` on the API,
the first-party ``linli_device`` cookie on the pages, set once when absent) and the client
IP, and binds ``EdgeFacts`` to the request's context. A producing domain that records a
login, a binding or an order writes ``current()`` into its event (``stamp()``), so the risk
domain, reading the event later in a worker, knows the device and IP behind it.

Personal data never leaves the edge in the clear: values are keyed hashes (HMAC-SHA256
with the app's secret key, domain-separated by kind), so equal values match across rows
without being stored. The key is a port the risk domain fills at start-up; unfilled, no
signal is captured (``keyed`` answers None).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from contextvars import ContextVar, Token

from linli.composition import Port
from linli.events import PayloadPart

DEVICE_COOKIE = "linli_device"
DEVICE_HEADER = "x-device-id"
DEVICE_COOKIE_MAX_AGE = 2 * 365 * 86400  # two years
DEVICE_MIN, DEVICE_MAX = 8, 64

hash_key: Port[str | None] = Port("edge.hash_key", None)


class EdgeFacts(PayloadPart):
    """What an event carries of its request's edge (every value a keyed hash or a prefix)."""

    device: str | None = None  # keyed hash of the device id
    ip: str | None = None  # keyed hash of the full client IP
    ip_prefix: str | None = None  # the IP truncated: /24 (IPv4) or /48 (IPv6)


_current: ContextVar[EdgeFacts | None] = ContextVar("linli_edge", default=None)


def valid_device_id(raw: str | None) -> str | None:
    """A device id as sent, if it is printable ASCII of 8–64 characters; else None (ignored)."""
    if raw is None or not (DEVICE_MIN <= len(raw) <= DEVICE_MAX):
        return None
    if not all("!" <= ch <= "~" for ch in raw):
        return None
    return raw


def new_device_id() -> str:
    return secrets.token_urlsafe(24)  # 32 URL-safe characters


def keyed(kind: str, value: str | None) -> str | None:
    """The keyed hash of ``value`` as a ``kind`` (device, ip, phone, payer, address), or None."""
    key = hash_key.get()
    if key is None or value is None or value == "":
        return None
    return hmac.new(key.encode(), f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def ip_prefix(ip: str | None) -> str | None:
    try:
        addr = ipaddress.ip_address(ip or "")
    except ValueError:
        return None
    bits = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{bits}", strict=False))


def facts_for(device_id: str | None, ip: str | None) -> EdgeFacts:
    valid_ip = ip_prefix(ip) is not None
    return EdgeFacts(device=keyed("device", device_id), ip=keyed("ip", ip) if valid_ip else None, ip_prefix=ip_prefix(ip))


def bind(facts: EdgeFacts | None) -> Token:
    return _current.set(facts)


def reset(token: Token) -> None:
    _current.reset(token)


def current() -> EdgeFacts | None:
    return _current.get()


def stamp(facts: EdgeFacts | None = None) -> dict[str, EdgeFacts]:
    """``{"edge": facts}`` (given, else the current request's) for an event's fields, or
    ``{}`` when there are none (a payload written outside a request keeps exactly the keys
    it always had)."""
    facts = facts or current()
    return {"edge": facts} if facts is not None and (facts.device or facts.ip) else {}
