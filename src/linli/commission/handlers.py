"""Commission follows the order: accrue when paid, reverse on refunds, settle when the
order completes (realtime settlement)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.commission import holds, service, settlement, withdrawals
from linli.commission.events import WithdrawalApproved
from linli.events import Event, on
from linli.orders.events import OrderCompleted, OrderPaid, OrderRefunded
from linli.referral import service as referral
from linli.referral.events import SharerActivated, SharerSuspended


@on(OrderPaid)
def accrue(s: Session, event: Event[OrderPaid]) -> None:
    service.accrue(s, event.payload, event.created_at)


@on(OrderRefunded)
def reverse(s: Session, event: Event[OrderRefunded]) -> None:
    service.on_refund(s, event.payload, event.created_at)


@on(OrderCompleted)
def settle(s: Session, event: Event[OrderCompleted]) -> None:
    if service.current(s, event.payload.merchant_id).settlement == "realtime":
        service.settle_order(s, event.payload.order_id, event.created_at)
    else:
        settlement.mark_due(s, event.payload.order_id, event.created_at)


@on(WithdrawalApproved)
def pay_out(s: Session, event: Event[WithdrawalApproved]) -> None:
    withdrawals.pay_out(s, event.payload.withdrawal_id, event.created_at)


@on(SharerSuspended)
def hold_suspended(s: Session, event: Event[SharerSuspended]) -> None:
    """A suspended sharer's commission waits for the case to close: available money is
    held, frozen money stays frozen. Judged on the status now, so a suspension delivered
    again (or late) after the sharer was reinstated holds nothing."""
    p = event.payload
    if referral.sharer_status(s, p.merchant_id, p.member_id) == "suspended":
        holds.hold(s, p.merchant_id, p.member_id, holds.SUSPENDED, event.created_at)


@on(SharerActivated)
def release_reinstated(s: Session, event: Event[SharerActivated]) -> None:
    """Reinstated: the suspension's hold ends — unless the sharer was suspended again since
    (this event delivered again or late)."""
    p = event.payload
    if referral.sharer_status(s, p.merchant_id, p.member_id) != "suspended":
        holds.release_hold(s, p.merchant_id, p.member_id, holds.SUSPENDED, event.created_at)
