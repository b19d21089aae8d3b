"""Payment use cases: intents, signed callbacks (one effect each), refunds."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from linli import edge, events
from linli.errors import Conflict, NotFound
from linli.payments.events import PaymentSucceeded, SandboxCallback
from linli.payments.gateway import CallbackRefused, PaymentGateway, SandboxGateway, payment_gateway
from linli.payments.models import ORDER, Payment, PaymentRefund


def gateway() -> PaymentGateway:
    g = payment_gateway.get()
    if g is None:
        raise RuntimeError("payment gateway not configured")
    return g


def open_intent(s: Session, merchant_id: int, order_id: int, member_id: int, amount: int, now: datetime) -> Payment:
    """The pending payment of an order, created at the gateway if there is none yet."""
    return _open(s, merchant_id, member_id, amount, now, ORDER, order_id)


def open_for(s: Session, merchant_id: int, member_id: int, subject: str, subject_id: int, amount: int, now: datetime) -> Payment:
    """The pending payment of another domain's ``subject`` (e.g. rewards' "topup"), created
    at the gateway if there is none yet; its success event names the subject."""
    if subject == ORDER:
        raise ValueError("an order's payment is opened with open_intent")
    return _open(s, merchant_id, member_id, amount, now, subject, subject_id)


def _subject_is(subject: str, subject_id: int):
    return Payment.order_id == subject_id if subject == ORDER else (Payment.subject == subject) & (Payment.subject_id == subject_id)


def _open(s: Session, merchant_id: int, member_id: int, amount: int, now: datetime, subject: str, subject_id: int) -> Payment:
    existing = s.scalars(select(Payment).where(_subject_is(subject, subject_id), Payment.status == "pending")).first()
    if existing is not None and existing.amount == amount:
        return existing
    if existing is not None:
        existing.status = "closed"
    ids = {"order_id": subject_id} if subject == ORDER else {"subject": subject, "subject_id": subject_id}
    p = Payment(merchant_id=merchant_id, member_id=member_id, amount=amount, gateway=gateway().name, gateway_ref="pending", status="pending", created_at=now, **ids)
    s.add(p)
    s.flush()
    p.gateway_ref = gateway().create_intent(p.id, amount)
    s.flush()
    return p


def get_payment(s: Session, payment_id: int) -> Payment:
    p = s.get(Payment, payment_id)
    if p is None:
        raise NotFound("payment.not_found", "No such payment.")
    return p


def payments_of(s: Session, order_id: int) -> list[Payment]:
    return list(s.scalars(select(Payment).where(Payment.order_id == order_id).order_by(Payment.id)))


def close_pending(s: Session, order_id: int) -> None:
    s.execute(update(Payment).where(Payment.order_id == order_id, Payment.status == "pending").values(status="closed"))


def sandbox_complete(s: Session, member_id: int, payment_id: int, now: datetime) -> Payment:
    """The buyer confirms in the sandbox payment sheet: the gateway will send its signed
    callback (through the outbox, so it is retried until delivered)."""
    gw = gateway()
    if not isinstance(gw, SandboxGateway):
        raise NotFound("payment.not_found", "No sandbox payments here.")
    p = get_payment(s, payment_id)
    if p.member_id != member_id:
        raise NotFound("payment.not_found", "No such payment.")
    if p.status != "pending":
        raise Conflict("payment.not_pending", "This payment is no longer waiting to be paid.", status_now=p.status)
    raw, sig = gw.completion(p.gateway_ref, p.amount, now, payer=gw.payer_of(p.member_id))
    events.emit(s, SandboxCallback(raw=raw.decode(), signature=sig), merchant_id=p.merchant_id, at=now)
    return p


def receive_callback(s: Session, raw: bytes, signature: str | None, now: datetime) -> Payment:
    """Verify a gateway callback and record the payment once. A duplicate has no effect;
    a wrong signature, an unknown reference or an amount mismatch is refused."""
    cb = gateway().parse_callback(raw, signature, now)
    p = s.scalars(select(Payment).where(Payment.gateway_ref == cb.gateway_ref)).first()
    if p is None:
        raise CallbackRefused("payment.unknown", "The callback names an unknown payment.")
    if cb.amount != p.amount:
        raise CallbackRefused("payment.amount_mismatch", "The callback amount differs from the payment.")
    if cb.status != "SUCCESS":
        return p
    # pending → succeeded once; a closed intent (order cancelled first) is still money
    # received, so it is recorded and the order side refunds it.
    moved = s.execute(
        update(Payment).where(Payment.id == p.id, Payment.status.in_(("pending", "closed"))).values(status="succeeded", succeeded_at=now, gateway_txn=cb.txn)
    ).rowcount
    if moved == 1:
        subject = {} if p.subject == ORDER else {"subject": p.subject, "subject_id": p.subject_id}  # an order's payload keeps its keys
        payer = edge.keyed("payer", cb.payer)
        if payer is not None:
            subject["payer"] = payer
        events.emit(s, PaymentSucceeded(payment_id=p.id, order_id=p.order_id, amount=p.amount, **subject), merchant_id=p.merchant_id, at=now)
    s.refresh(p)
    return p


def refund(s: Session, order_id: int, amount: int, request_key: str, now: datetime) -> PaymentRefund:
    """Refund ``amount`` of an order's succeeded payment, once per ``request_key``."""
    done = s.scalars(select(PaymentRefund).join(Payment, Payment.id == PaymentRefund.payment_id).where(Payment.order_id == order_id, PaymentRefund.request_key == request_key)).first()
    if done is not None:
        return done
    p = s.scalars(select(Payment).where(Payment.order_id == order_id, Payment.status == "succeeded").order_by(Payment.id)).first()
    if p is None:
        raise Conflict("payment.not_paid", "There is no payment to refund.")
    return refund_payment(s, p.id, amount, request_key, now)


def refund_payment(s: Session, payment_id: int, amount: int, request_key: str, now: datetime) -> PaymentRefund:
    """Refund ``amount`` of one succeeded payment (of any subject), once per ``request_key``;
    never more than it paid and has not refunded yet (compare-and-set on ``refunded``)."""
    done = s.scalars(select(PaymentRefund).where(PaymentRefund.payment_id == payment_id, PaymentRefund.request_key == request_key)).first()
    if done is not None:
        return done
    p = get_payment(s, payment_id)
    if p.status != "succeeded":
        raise Conflict("payment.not_paid", "There is no payment to refund.")
    if s.execute(update(Payment).where(Payment.id == p.id, Payment.refunded + amount <= Payment.amount).values(refunded=Payment.refunded + amount)).rowcount != 1:
        raise Conflict("payment.refund_exceeds", "The refund exceeds what was paid.")
    result = gateway().refund(p.gateway_ref, amount, request_key)
    if not result.ok:
        raise Conflict("payment.refund_failed", f"The gateway refused the refund: {result.error}")
    r = PaymentRefund(merchant_id=p.merchant_id, payment_id=p.id, amount=amount, request_key=request_key, status="succeeded", gateway_ref=result.ref, created_at=now)
    s.add(r)
    s.flush()
    return r
