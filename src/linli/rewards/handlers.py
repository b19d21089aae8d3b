"""Rewards' reactions to order events (each once per event: the outbox's handled_events):
a paid order's coupon is used; a refund returns redeemed points and stored value pro rata
and, when full and inside its validity, the coupon; a top-up's payment credits stored value."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.events import Event, on
from linli.orders.events import OrderPaid, OrderRefunded
from linli.payments.events import PaymentSucceeded
from linli.rewards import checkout, coupons, stored_value
from linli.rewards.models import OrderRewards


@on(OrderPaid)
def coupon_used(s: Session, event: Event[OrderPaid]) -> None:
    coupons.use(s, event.payload.order_id, event.created_at)


@on(OrderRefunded)
def refund_returns(s: Session, event: Event[OrderRefunded]) -> None:
    p = event.payload
    row = s.get(OrderRewards, p.order_id, with_for_update=True)
    if row is None:
        return
    refunded = sum(ln.refunded for ln in p.lines)
    total = p.total_paid
    spent_sv = row.sv_principal + row.sv_bonus
    if p.full or refunded >= total:
        coupons.give_back(s, row.order_id, event.created_at)
        points_target, sv_target = row.points, spent_sv
    else:  # pro rata of what has been refunded so far, floored (the last refund brings the rest)
        points_target = row.points * refunded // total if total else 0
        sv_target = spent_sv * refunded // total if total else 0
    checkout.return_share(s, row, max(points_target, row.points_returned), max(sv_target, row.sv_returned), f"refund:{p.refund.case_id}", event.created_at)
    s.flush()


@on(PaymentSucceeded)
def topup_paid(s: Session, event: Event[PaymentSucceeded]) -> None:
    p = event.payload
    if p.subject == stored_value.TOPUP and p.subject_id is not None:
        stored_value.credit(s, p.subject_id, p.payment_id, event.created_at)
