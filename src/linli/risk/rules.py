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
