"""The query fallback and the daily bill reconciliation (``reconciliation``).

The query fallback: payments at a real provider are asked of it when due
(``Payment.next_check_at``, see ``checks``): pending ones whose notification is late or
lost, and closed ones (the order was cancelled, the method switched) the buyer may have paid
anyway, until the provider can no longer take them. One found paid is recorded exactly as
its notification would have been (a closed one is then refunded by its order); a closed one
found unpaid is closed at the provider, and once closed there no longer asked (Alipay has no
trade to close until the buyer opens its page, so that one is asked until it expires).
Refunds still processing are asked too, on their own schedule (``PaymentRefund.next_check_at``).
The provider is asked with no transaction open (on SQLite a write transaction holds the one
writer lock): what to ask is read (and the next check set) in one short transaction, and
each answer is recorded in its own; an outage or a refusal leaves the item for its next check."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select, update

from linli.db import Database
from linli.errors import DomainError
from linli.jobs import job
from linli.payments import checks, reconciliation, service
from linli.payments.gateway import Callback
from linli.payments.models import Payment, PaymentRefund

log = logging.getLogger("linli.payments")
BATCH = 100
REAL = ("wechatpay", "alipay")


@dataclass(frozen=True)
class _Ask:
    item: int  # the payment's or the refund's id
    gateway: object  # the provider gateway with the account that took the payment
    ref: str  # the payment's reference there
    closed: bool = False  # the payment is closed here (close it there if it is unpaid)
    request_key: str | None = None  # a refund's


def _due(db: Database, as_of: datetime) -> tuple[list[_Ask], list[_Ask]]:
    """What to ask now, the soonest due first; each payment's next check is set here, so a
    stuck one waits longer each time instead of taking the batch from newer ones."""
    payments: list[_Ask] = []
    refunds: list[_Ask] = []
    with db.transaction() as s:
        for p in s.scalars(select(Payment).where(Payment.status.in_(("pending", "closed")), Payment.gateway.in_(REAL), Payment.next_check_at <= as_of)
                           .order_by(Payment.next_check_at, Payment.id).limit(BATCH)):
            p.next_check_at = checks.next_check(p.created_at, p.expires_at, as_of)
            if (gw := _gateway(s, p)) is not None:
                payments.append(_Ask(p.id, gw, p.gateway_ref, closed=p.status == "closed"))
        due = or_(PaymentRefund.next_check_at <= as_of, PaymentRefund.next_check_at.is_(None) & (PaymentRefund.created_at <= as_of - checks.LATE_AFTER))
        soonest = func.coalesce(PaymentRefund.next_check_at, PaymentRefund.created_at)
        for r in s.scalars(select(PaymentRefund).where(PaymentRefund.status == "processing", due).order_by(soonest, PaymentRefund.id).limit(BATCH)):
            r.next_check_at = checks.next_refund_check(r.created_at, as_of)
            p = s.get(Payment, r.payment_id)
            if (gw := _gateway(s, p)) is not None:
                refunds.append(_Ask(r.id, gw, p.gateway_ref, request_key=r.request_key))
    return payments, refunds


def _gateway(s, p: Payment):
    try:
        return service.gateway_of(s, p)
    except DomainError as exc:  # e.g. the account that took it is gone: asked again at its next check
        log.warning("payment %s not asked: %s", p.id, exc.code)
        return None


def _asked(what: str, ask: _Ask, fn):
    try:
        return True, fn()
    except DomainError as exc:  # an outage (503) or a refusal: asked again at its next check
        log.info("payment %s of %s: %s", what, ask.item, exc.code)
        return False, None


def _payment(db: Database, ask: _Ask, as_of: datetime) -> bool:
    ok, cb = _asked("query", ask, lambda: ask.gateway.query(ask.ref))
    if ok and isinstance(cb, Callback) and cb.status == "SUCCESS":
        return _recorded(db, ask.item, cb, as_of)
    if ok and ask.closed and _asked("close", ask, lambda: ask.gateway.close(ask.ref)) == (True, True):
        with db.transaction() as s:  # closed there too: it can no longer be paid, so no longer asked
            s.execute(update(Payment).where(Payment.id == ask.item, Payment.status == "closed").values(next_check_at=None))
    return False


def _recorded(db: Database, payment_id: int, cb: Callback, as_of: datetime) -> bool:
    try:
        with db.transaction() as s:
            p = s.get(Payment, payment_id)
            if p is None or p.status not in ("pending", "closed"):
                return False
            p.next_check_at = None
            return service.record_callback(s, cb, as_of, gateway=p.gateway, merchant_id=p.merchant_id).status == "succeeded"
    except DomainError as exc:
        log.warning("payment %s found paid, not recorded: %s", payment_id, exc.code)
        return False


def _refund(db: Database, ask: _Ask) -> bool:
    ok, state = _asked("refund query", ask, lambda: ask.gateway.refund_state(ask.ref, ask.request_key))
    if not ok:
        return False
    with db.transaction() as s:
        r = s.get(PaymentRefund, ask.item)
        return r is not None and r.status == "processing" and service.settle_refund(s, r, state)


@job("payments.query_late", order=5)  # before orders.expire_unpaid: a paid order is not cancelled
def query_late(db: Database, as_of: datetime) -> int:
    payments, refunds = _due(db, as_of)
    return sum(_payment(db, a, as_of) for a in payments) + sum(_refund(db, a) for a in refunds)


@job("payments.reconcile_bills", order=85)
def reconcile_bills(db: Database, as_of: datetime) -> int:
    """Yesterday's bills (China time) once they are ready, and days an outage left."""
    return reconciliation.run(db, as_of)
