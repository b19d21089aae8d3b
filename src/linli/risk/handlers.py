"""Risk's reactions: a login's, a binding's and an order's signals recorded from the events
that announce them (the edge facts they carry, the member's phone from identity, the
delivery address from orders), and the payer account from the payment. Each writes one row
per subject, so a replayed event changes nothing. A binding is also judged (two accounts
sharing a signal are flagged; a cluster around the inviter), a refund for its sharer's refund
rate; a paid order is judged in commission's transaction, through ``risk.screen``."""

from __future__ import annotations

from sqlalchemy.orm import Session

from linli.events import Event, on
from linli.identity import service as identity
from linli.identity.events import MemberLoggedIn
from linli.orders import service as orders
from linli.orders.events import OrderCreated, OrderRefunded
from linli.payments.events import PaymentSucceeded
from linli.referral.events import MemberBound
from linli.risk import detect, rules, rulesets, signals


@on(MemberLoggedIn)
def login_signals(s: Session, event: Event[MemberLoggedIn]) -> None:
    p = event.payload
    member = identity.get_member(s, p.member_id)
    signals.record(s, rules.LOGIN, event.id, p.member_id, p.at, facts=p.edge, phone=member.phone)


@on(MemberBound)
def binding_signals(s: Session, event: Event[MemberBound]) -> None:
    p = event.payload
    invitee = identity.get_member(s, p.invitee_id)
    signals.record(s, rules.BINDING, event.id, p.invitee_id, event.created_at, merchant_id=p.merchant_id, related_member_id=p.inviter_id, facts=p.edge, phone=invitee.phone)
    detect.binding(s, rulesets.current(s, p.merchant_id), p.merchant_id, p.invitee_id, p.inviter_id, event.id, event.created_at)


@on(OrderRefunded)
def refund_rate(s: Session, event: Event[OrderRefunded]) -> None:
    """A refunded order counts against its sharer's refund rate (once per order) when its
    buyer asked for the money back: a campaign's own refunds (a 社区成团 rebate to every
    order, a failed team, a free order) say nothing about the sharer."""
    p = event.payload
    if p.by_system:
        return
    detect.on_refund(s, rulesets.current(s, p.merchant_id), p.merchant_id, p.order_id, event.created_at)


@on(OrderCreated)
def order_signals(s: Session, event: Event[OrderCreated]) -> None:
    """The buyer's device and IP, the delivery address, and the phone the goods go to (the
    recipient's on a delivery, else the buyer's own)."""
    p = event.payload
    buyer = orders.buyer_of(s, p.order_id)
    if buyer is None:
        return
    phone = rules.recipient_phone(buyer.address) or identity.get_member(s, p.member_id).phone
    signals.record(s, rules.ORDER, p.order_id, p.member_id, event.created_at, merchant_id=p.merchant_id, facts=p.edge, phone=phone, address=buyer.address)


@on(PaymentSucceeded)
def payer_signal(s: Session, event: Event[PaymentSucceeded]) -> None:
    p = event.payload
    if p.order_id is None or p.payer is None:
        return
    buyer = orders.buyer_of(s, p.order_id)
    if buyer is None:
        return
    signals.record(s, rules.ORDER, p.order_id, buyer.member_id, event.created_at, merchant_id=buyer.merchant_id, payer_hash=p.payer)
