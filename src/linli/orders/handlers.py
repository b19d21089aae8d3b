"""What orders do when other domains' events arrive."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.events import Event, on
from linli.orders.service import checkout
from linli.payments.events import PaymentSucceeded


@on(PaymentSucceeded)
def order_paid(s: Session, event: Event[PaymentSucceeded]) -> None:
    if event.payload.order_id is None:
        return  # a payment for another domain's subject (a top-up)
    checkout.mark_paid(s, event.payload.order_id, event.payload.payment_id, event.created_at, payer=event.payload.payer)
