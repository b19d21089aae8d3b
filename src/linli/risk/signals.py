"""Recording and reading the signals behind logins, bindings and orders (one row per
subject, filled in as its events arrive: a replayed event changes nothing), and their
retention."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from linli import edge
from linli.db import is_unique_violation
from linli.edge import EdgeFacts
from linli.risk import rules
from linli.risk.models import RiskAttribution, RiskSignal

_retention_days = rules.DEFAULT_RETENTION_DAYS


def configure(*, retention_days: int) -> None:
    """Set by ``risk.domain.wire`` from ``Settings.risk_signal_retention_days``."""
    global _retention_days
    _retention_days = retention_days


def retention_days() -> int:
    return _retention_days


def record(
    s: Session, kind: str, subject_id: int, member_id: int, seen_at: datetime, *, merchant_id: int | None = None, related_member_id: int | None = None,
    facts: EdgeFacts | None = None, phone: str | None = None, address: dict[str, Any] | None = None, payer_hash: str | None = None,
) -> RiskSignal:
    """The subject's row, created or filled in with what this event adds (a value already
    recorded is kept). Raw ``phone`` and ``address`` are normalised and hashed here; ``facts``
    and ``payer_hash`` arrive hashed."""
    if kind not in rules.SUBJECT_KINDS:
        raise ValueError(f"unknown subject kind {kind!r}")
    values = {
        "merchant_id": merchant_id, "related_member_id": related_member_id,
        "device_hash": facts.device if facts else None, "ip_hash": facts.ip if facts else None, "ip_prefix": facts.ip_prefix if facts else None,
        "phone_hash": edge.keyed("phone", rules.normalize_phone(phone)), "address_hash": edge.keyed("address", rules.normalize_address(address)),
        "payer_hash": payer_hash,
    }
    row = _row(s, kind, subject_id)
    if row is None:
        try:
            with s.begin_nested():
                row = RiskSignal(subject_kind=kind, subject_id=subject_id, member_id=member_id, seen_at=seen_at, **values)
                s.add(row)
            return row
        except IntegrityError as exc:
            if not is_unique_violation(exc):
                raise
            row = _row(s, kind, subject_id)
            assert row is not None
    for column, value in values.items():
        if value is not None and getattr(row, column) is None:
            setattr(row, column, value)
    s.flush()
    return row


def _row(s: Session, kind: str, subject_id: int) -> RiskSignal | None:
    return s.scalars(select(RiskSignal).where(RiskSignal.subject_kind == kind, RiskSignal.subject_id == subject_id)).first()


def signal_set(s: Session, member_id: int, merchant_id: int | None = None) -> rules.SignalSet:
    """Everything seen for a member (in ``merchant_id``'s bindings and orders, and at every
    login, when a merchant is named)."""
    q = select(RiskSignal.phone_hash, RiskSignal.device_hash, RiskSignal.payer_hash, RiskSignal.address_hash).where(RiskSignal.member_id == member_id)
    if merchant_id is not None:
        q = q.where((RiskSignal.merchant_id == merchant_id) | RiskSignal.merchant_id.is_(None))
    return rules.SignalSet.of({"phone": p, "device": d, "payer": y, "address": a} for p, d, y, a in s.execute(q))


def signals_of(s: Session, kind: str, subject_id: int) -> RiskSignal | None:
    return _row(s, kind, subject_id)


def purge(s: Session, now: datetime, days: int | None = None) -> int:
    """Delete the signals seen, and the order attributions paid, more than ``days``
    (default: the configured retention) ago; the rows deleted."""
    cutoff = rules.retention_cutoff(now, days or _retention_days)
    gone = s.execute(delete(RiskSignal).where(RiskSignal.seen_at < cutoff)).rowcount or 0
    return gone + (s.execute(delete(RiskAttribution).where(RiskAttribution.paid_at < cutoff)).rowcount or 0)
