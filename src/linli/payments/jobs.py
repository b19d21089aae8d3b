"""The query fallback and the daily bill reconciliation (``reconciliation``).

The query fallback: payments at a real provider still pending a minute after they were
opened (the notification is late, or lost) are asked of the provider; one found paid is
recorded exactly as its notification would have been. Refunds still processing are asked
too. Each item moves in its own transaction; a provider outage (or any refusal) leaves it
for the next tick."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select

from linli.db import Database
from linli.errors import DomainError
from linli.jobs import job
from linli.payments import reconciliation, service
from linli.payments.models import Payment, PaymentRefund

log = logging.getLogger("linli.payments")
LATE_AFTER = timedelta(seconds=60)
BATCH = 100
REAL = ("wechatpay", "alipay")


def _each(db: Database, ids: list[int], fn, as_of: datetime) -> int:
    done = 0
    for item in ids:
        try:
            with db.transaction() as s:
                done += 1 if fn(s, item, as_of) else 0
        except DomainError as exc:  # an outage (503) or a refusal: asked again next tick
            log.info("payment query of %s: %s", item, exc.code)
    return done


def _payment_paid(s, payment_id: int, as_of: datetime) -> bool:
    p = s.get(Payment, payment_id)
    if p is None or p.status != "pending":
        return False
    cb = service.gateway_of(s, p).query(p.gateway_ref)
    if cb is None:
        return False
    return service.record_callback(s, cb, as_of, gateway=p.gateway, merchant_id=p.merchant_id).status == "succeeded"


def _refund_settled(s, refund_id: int, as_of: datetime) -> bool:
    r = s.get(PaymentRefund, refund_id)
    if r is None or r.status != "processing":
        return False
    p = s.get(Payment, r.payment_id)
    return service.settle_refund(s, r, service.gateway_of(s, p).refund_state(p.gateway_ref, r.request_key))


@job("payments.query_late", order=5)  # before orders.expire_unpaid: a paid order is not cancelled
def query_late(db: Database, as_of: datetime) -> int:
    with db.transaction() as s:
        payments = list(s.scalars(select(Payment.id).where(Payment.status == "pending", Payment.gateway.in_(REAL), Payment.created_at <= as_of - LATE_AFTER)
                                  .order_by(Payment.id).limit(BATCH)))
        refunds = list(s.scalars(select(PaymentRefund.id).where(PaymentRefund.status == "processing", PaymentRefund.created_at <= as_of - LATE_AFTER)
                                 .order_by(PaymentRefund.id).limit(BATCH)))
    return _each(db, payments, _payment_paid, as_of) + _each(db, refunds, _refund_settled, as_of)


@job("payments.reconcile_bills", order=85)
def reconcile_bills(db: Database, as_of: datetime) -> int:
    """Yesterday's bills (China time) once they are ready, and days an outage left."""
    return reconciliation.run(db, as_of)
