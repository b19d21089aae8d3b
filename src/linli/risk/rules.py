"""Risk's pure rules over captured signals (no I/O): how a phone and an address are
normalised before they are hashed, when a signal is past its retention, and which signals
two members share — the building block of the self-referral rules (RULES.md, "Risk and
compliance")."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

LOGIN, BINDING, ORDER = "login", "binding", "order"
SUBJECT_KINDS = (LOGIN, BINDING, ORDER)
# The signals that tie two accounts to one person; the IP is not one (a compound behind one
# NAT shares it), so it is captured but never shared on its own.
SHARED_KINDS = ("phone", "device", "payer", "address")
DEFAULT_RETENTION_DAYS = 180


@dataclass(frozen=True)
class SignalSet:
    """Every hashed value seen for one member, by kind."""

    phone: frozenset[str] = field(default_factory=frozenset)
    device: frozenset[str] = field(default_factory=frozenset)
    payer: frozenset[str] = field(default_factory=frozenset)
    address: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, rows: Iterable[Mapping[str, str | None]]) -> SignalSet:
        """From rows of ``{kind: hash or None}``."""
        seen: dict[str, set[str]] = {k: set() for k in SHARED_KINDS}
        for row in rows:
            for kind in SHARED_KINDS:
                value = row.get(kind)
                if value:
                    seen[kind].add(value)
        return cls(**{k: frozenset(v) for k, v in seen.items()})


def shared_signals(a: SignalSet, b: SignalSet) -> dict[str, frozenset[str]]:
    """The kinds (phone, device, payer, address) two members share, with the shared hashes;
    a kind neither shares is absent. Symmetric; empty when they share nothing."""
    out = {}
    for kind in SHARED_KINDS:
        common = getattr(a, kind) & getattr(b, kind)
        if common:
            out[kind] = frozenset(common)
    return out


def normalize_phone(raw: str | None) -> str | None:
    """Digits only, without the +86 country code: ``+86 138-0013-8000`` → ``13800138000``."""
    digits = re.sub(r"\D", "", raw or "")
    if len(digits) == 13 and digits.startswith("86"):
        digits = digits[2:]
    return digits or None


def normalize_address(address: Mapping[str, Any] | None) -> str | None:
    """The delivery address's text as compared: NFKC (full-width → half-width), case and
    all whitespace and punctuation folded away, so ``幸福里 3栋 501`` and ``幸福里3栋501`` match."""
    if not address:
        return None
    text = address.get("text")
    if not isinstance(text, str):
        return None
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch for ch in folded if not (ch.isspace() or unicodedata.category(ch).startswith("P")))
    return kept or None


def recipient_phone(address: Mapping[str, Any] | None) -> str | None:
    if not address or not isinstance(address.get("phone"), str):
        return None
    return normalize_phone(address["phone"])


def retention_cutoff(now: datetime, days: int) -> datetime:
    """Signals seen before this moment are past their retention."""
    if days < 1:
        raise ValueError("retention is at least one day")
    return now - timedelta(days=days)


# --- the rules of RULES.md over counted facts (the service counts, these decide) -------------


def mask(value: str) -> str:
    """What a desk shows of a hashed signal: enough to tell two apart, nothing to reverse."""
    return f"#{value[:6]}"


def clusters(members_by_value: Mapping[tuple[str, str], Iterable[int]], min_members: int) -> list[tuple[str, str, tuple[int, ...]]]:
    """The (kind, hash, members) where at least ``min_members`` distinct members share one
    device or address; the IP is never a kind here (a compound behind one NAT shares it)."""
    out = []
    for (kind, value), members in sorted(members_by_value.items()):
        if kind not in ("device", "address"):
            continue
        distinct = tuple(sorted(set(members)))
        if len(distinct) >= min_members:
            out.append((kind, value, distinct))
    return out


def over_velocity(paid_at: Iterable[datetime], now: datetime, per_hour: int, per_day: int) -> tuple[int, int] | None:
    """(in the last hour, in the last day) when new members' orders through one sharer are
    more than ``per_hour`` an hour or ``per_day`` a day; None otherwise."""
    times = [t for t in paid_at if now - timedelta(days=1) < t <= now]
    hour = sum(1 for t in times if now - timedelta(hours=1) < t)
    return (hour, len(times)) if hour > per_hour or len(times) > per_day else None


def refund_rate_bp(orders: int, refunded: int) -> int:
    """Refunded share of orders in basis points, rounded down (0 with no orders)."""
    return refunded * 10_000 // orders if orders else 0


def over_refund_rate(orders: int, refunded: int, min_orders: int, max_bp: int) -> bool:
    """More than ``max_bp`` of at least ``min_orders`` attributed orders were refunded."""
    return orders >= min_orders and refund_rate_bp(orders, refunded) > max_bp


def only_through(sharer_id: int, buyers: Mapping[int, tuple[bool, frozenset[int | None]]], min_accounts: int) -> bool:
    """New accounts buying only through one sharer: ``buyers`` maps each buyer attributed to
    the sharer in the window to (is new, every sharer their paid orders in the window went
    through, None for none). Fires when at least ``min_accounts`` buyers are all new and
    bought through this sharer and nobody else."""
    if len(buyers) < min_accounts:
        return False
    return all(new and through == frozenset({sharer_id}) for new, through in buyers.values())


def cross_area(distance_m: int | None, limit_m: int) -> bool:
    """跨区引流: the pickup or delivery point lies more than ``limit_m`` from every community
    the leader leads (unknown distance: not cross-area)."""
    return distance_m is not None and distance_m > limit_m
