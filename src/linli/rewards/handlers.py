"""Rewards' reactions to order events (each once per event: the outbox's handled_events):
a paid order's coupon is used; a refund returns redeemed points and stored value pro rata
and, when full and inside its validity, the coupon; a received order earns points (pending),
available once it completes, reversed per line by refunds. Levels: a received order adds
growth and a refund lowers it, each recomputing the member's level; a member who becomes a
merchant's (bound by its link, or choosing one of its communities) gets its new-member
coupon (rewards/grants.py says why these events). A top-up's payment credits stored value;
a payout of principal to a top-up's payment is asked of the gateway."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from linli.community.events import MemberCommunitySet
from linli.events import Event, on
from linli.orders import service as orders
from linli.orders.events import OrderCompleted, OrderPaid, OrderReceived, OrderRefunded
from linli.payments.events import PaymentSucceeded
from linli.referral.events import MemberBound
from linli.rewards import checkout, coupons, earning, grants, levels, stored_value
from linli.rewards.events import StoredValuePayoutDue
from linli.rewards.models import OrderRewards


@on(OrderPaid)
def coupon_used(s: Session, event: Event[OrderPaid]) -> None:
    """Paid: the coupon is used, and what the order took is spent (no longer parked)."""
    coupons.use(s, event.payload.order_id, event.created_at)
    s.execute(update(OrderRewards).where(OrderRewards.order_id == event.payload.order_id, OrderRewards.state == "held").values(state="spent"))


@on(OrderRefunded)
def refund_returns(s: Session, event: Event[OrderRefunded]) -> None:
    p = event.payload
    row = s.get(OrderRewards, p.order_id, with_for_update=True)
    if row is None:
        return
    if row.state == "held":  # refunded, so it was paid: its order.paid is handled late (a retry)
        coupons.use(s, row.order_id, event.created_at)
        row.state = "spent"
    refunded = sum(ln.refunded for ln in p.lines)
    total = p.total_paid
    spent_sv = row.sv_principal + row.sv_bonus
    if p.full or refunded >= total:
        if not p.order_kept:  # a free order still used its coupon
            coupons.give_back(s, row.order_id, event.created_at)
        points_target, sv_target = row.points, spent_sv
    else:  # pro rata of what has been refunded so far, floored (the last refund brings the rest)
        points_target = row.points * refunded // total if total else 0
        sv_target = spent_sv * refunded // total if total else 0
    checkout.return_share(s, row, max(points_target, row.points_returned), max(sv_target, row.sv_returned), f"refund_case:{p.refund.case_id}", event.created_at)
    s.flush()


@on(StoredValuePayoutDue)
def stored_value_payout(s: Session, event: Event[StoredValuePayoutDue]) -> None:
    """Principal decided to go back to a top-up's payment: ask the gateway (after the
    deciding transaction committed; a refusal is retried with backoff)."""
    stored_value.pay_payout(s, event.payload.payout_id, event.created_at)


@on(PaymentSucceeded)
def topup_paid(s: Session, event: Event[PaymentSucceeded]) -> None:
    p = event.payload
    if p.subject == stored_value.TOPUP and p.subject_id is not None:
        stored_value.credit(s, p.subject_id, p.payment_id, event.created_at)


@on(OrderReceived)
def growth_on_receipt(s: Session, event: Event[OrderReceived]) -> None:
    """The order's growth: what it paid less what is refunded now (a refund handled before
    this receipt is counted here, whatever order the events arrive in)."""
    p = event.payload
    now_paid = orders.line_amounts(s, [ln.line_id for ln in p.lines])
    net = sum(paid - refunded for paid, refunded in (now_paid.get(ln.line_id, (ln.paid, ln.refunded)) for ln in p.lines))
    levels.record_receipt(s, p.merchant_id, p.member_id, p.order_id, net, p.received_at)
    levels.recompute(s, p.merchant_id, p.member_id, event.created_at)


@on(OrderRefunded)
def growth_on_refund(s: Session, event: Event[OrderRefunded]) -> None:
    p = event.payload
    if levels.lower_growth(s, p.order_id, p.total_paid - sum(ln.refunded for ln in p.lines)) is not None:
        levels.recompute(s, p.merchant_id, p.member_id, event.created_at)


@on(MemberBound)
def new_member_bound(s: Session, event: Event[MemberBound]) -> None:
    grants.welcome(s, event.payload.merchant_id, event.payload.invitee_id, event.created_at)


@on(MemberCommunitySet)
def new_member_resident(s: Session, event: Event[MemberCommunitySet]) -> None:
    if event.merchant_id is not None:  # the community's merchant (community emits it so)
        grants.welcome(s, event.merchant_id, event.payload.member_id, event.created_at)


# --- points earned on orders (rewards/earning.py) ---------------------------------------------


@on(OrderReceived)
def points_earned(s: Session, event: Event[OrderReceived]) -> None:
    earning.grant(s, event.payload, event.created_at)


@on(OrderCompleted)
def points_available(s: Session, event: Event[OrderCompleted]) -> None:
    earning.on_completed(s, event.payload, event.created_at)


@on(OrderRefunded)
def points_reversed(s: Session, event: Event[OrderRefunded]) -> None:
    earning.reverse_refund(s, event.payload, event.created_at)
