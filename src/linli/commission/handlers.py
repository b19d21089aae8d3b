"""Commission follows the order: accrue when paid, reverse on refunds, settle when the
order completes (realtime settlement)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.commission import service, settlement, withdrawals
from linli.events import Event, on


@on("order.paid")
def accrue(s: Session, event: Event) -> None:
    service.accrue(s, event.payload, event.created_at)


@on("order.refunded")
def reverse(s: Session, event: Event) -> None:
    service.on_refund(s, event.payload, event.created_at)


@on("order.completed")
def settle(s: Session, event: Event) -> None:
    if service.current(s, event.payload["merchant_id"]).settlement == "realtime":
        service.settle_order(s, event.payload["order_id"], event.created_at)
    else:
        settlement.mark_due(s, event.payload["order_id"], event.created_at)


@on("withdrawal.approved")
def pay_out(s: Session, event: Event) -> None:
    withdrawals.pay_out(s, event.payload["withdrawal_id"], event.created_at)


@on("sharer.suspended")
def hold_suspended(s: Session, event: Event) -> None:
    """A suspended sharer's frozen commission waits for the case to close."""
    service.hold(s, event.payload["merchant_id"], event.payload["member_id"], "sharer_suspended", event.created_at)


@on("sharer.activated")
def release_reinstated(s: Session, event: Event) -> None:
    service.release_hold(s, event.payload["merchant_id"], event.payload["member_id"], "sharer_suspended")
