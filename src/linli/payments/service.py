"""Payment use cases: intents, signed callbacks (one effect each), refunds.

A payment goes through the gateway that took it (``Payment.gateway``): the sandbox, or a
real provider (WeChat Pay, Alipay) with the merchant's account (``payments.accounts``).
Its refunds and queries go back there."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case, select, update
from sqlalchemy.orm import Session

from linli import edge, events
from linli.errors import Conflict, DomainError, Invalid, NotFound
from linli.i18n import N_
from linli.identity import service as identity
from linli.payments import accounts, checks
from linli.payments.events import PaymentRefundFailed, PaymentSucceeded, SandboxCallback
from linli.payments.gateway import METHODS, Callback, CallbackRefused, Intent, PaymentGateway, SandboxGateway, payment_gateway
from linli.payments.models import ORDER, Payment, PaymentRefund
from linli.payments.providers.alipay import AlipayPayments
from linli.payments.providers.wechatpay_payments import WechatPayPayments

log = logging.getLogger("linli.payments")
SANDBOX = "sandbox"


@dataclass(frozen=True)
class PayWith:
    """How the buyer pays at a real provider (``method``, one of ``gateway.METHODS``)."""

    method: str
    client_ip: str | None = None
    return_url: str | None = None  # a local path (made absolute with the public URL) or a URL
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Checkout:
    payment: Payment
    method: str | None
    client: dict[str, str] = field(default_factory=dict)  # what the buyer's client opens the payment with


def gateway() -> PaymentGateway:
    g = payment_gateway.get()
    if g is None:
        raise RuntimeError("payment gateway not configured")
    return g


def provider_gateway(s: Session, merchant_id: int, provider: str) -> WechatPayPayments | AlipayPayments | None:
    """A merchant's gateway at a real provider, with its account; None when it has none."""
    if provider == accounts.WECHATPAY:
        wx = accounts.wechatpay_client(s, merchant_id)
        return None if wx is None else WechatPayPayments(wx)
    ali = accounts.alipay_client(s, merchant_id)
    return None if ali is None else AlipayPayments(ali)


def gateway_of(s: Session, p: Payment) -> PaymentGateway:
    """The gateway that took (or takes) a payment, with the account that took it: never
    another one (``payment.account_changed`` when that account is no longer configured)."""
    if p.gateway == SANDBOX:
        return gateway()
    require_account(s, p)
    g = provider_gateway(s, p.merchant_id, p.gateway)
    if g is None:
        raise Conflict("payment.account_missing", f"The merchant has no {p.gateway} account any more.")
    return g


METHOD_NAMES = {"wechat_jsapi": N_("WeChat Pay (in WeChat)"), "wechat_h5": N_("WeChat Pay (phone browser)"), "alipay_wap": N_("Alipay")}


def sandbox_on() -> bool:
    """Whether payments without a method go to the sandbox (never in production)."""
    return payment_gateway.get() is not None


def method_choices(s: Session, merchant_id: int) -> list[tuple[str, str]]:
    """The merchant's ways to pay at a real provider, with their names (for a pay sheet)."""
    return [(m, METHOD_NAMES[m]) for m in methods_for(s, merchant_id)]


def require_account(s: Session, p: Payment) -> None:
    """Refuse (409 ``payment.account_changed``) when the merchant's account at the payment's
    provider is no longer the one that took it (payments from before it was recorded: any)."""
    if p.account_key is not None and accounts.account_key(s, p.merchant_id, p.gateway) != p.account_key:
        raise Conflict("payment.account_changed", f"The {p.gateway} account that took payment {p.id} is no longer configured; restore it to settle this payment.")


def methods_for(s: Session, merchant_id: int) -> list[str]:
    """The ways a buyer can pay this merchant at a real provider."""
    configured = accounts.accounts_of(s, merchant_id)
    return [m for m, provider in METHODS.items() if provider in configured]


def open_intent(s: Session, merchant_id: int, order_id: int, member_id: int, amount: int, now: datetime) -> Payment:
    """The pending payment of an order, created at the gateway if there is none yet."""
    return _open(s, merchant_id, member_id, amount, now, ORDER, order_id).payment


def open_checkout(s: Session, merchant_id: int, order_id: int, member_id: int, amount: int, now: datetime, pay: PayWith) -> Checkout:
    """The pending payment of an order at the provider of ``pay.method``, opened there, and
    what the buyer's client needs to pay it (JSAPI parameters, an H5 or WAP URL)."""
    return _open(s, merchant_id, member_id, amount, now, ORDER, order_id, pay)


def open_for(s: Session, merchant_id: int, member_id: int, subject: str, subject_id: int, amount: int, now: datetime, pay: PayWith | None = None) -> Checkout:
    """The pending payment of another domain's ``subject`` (e.g. rewards' "topup"), created
    at the gateway if there is none yet (at the provider of ``pay.method`` when given, with
    what the client opens it with); its success event names the subject."""
    if subject == ORDER:
        raise ValueError("an order's payment is opened with open_intent")
    return _open(s, merchant_id, member_id, amount, now, subject, subject_id, pay)


def _subject_is(subject: str, subject_id: int):
    return Payment.order_id == subject_id if subject == ORDER else (Payment.subject == subject) & (Payment.subject_id == subject_id)


def _open(s: Session, merchant_id: int, member_id: int, amount: int, now: datetime, subject: str, subject_id: int, pay: PayWith | None = None) -> Checkout:
    method = pay.method if pay else None
    if pay is None and payment_gateway.get() is None:  # production: there is no sandbox to pay in
        raise Invalid("payment.method_required", "Choose how to pay.", methods=methods_for(s, merchant_id))
    gw = gateway() if pay is None else _gateway_for_method(s, merchant_id, pay.method)
    existing = s.scalars(select(Payment).where(_subject_is(subject, subject_id), Payment.status == "pending")).first()
    if existing is not None and existing.amount == amount and existing.method == method and pay is None:
        return Checkout(existing, None)
    if existing is not None and (existing.amount != amount or existing.method != method):
        existing.status = "closed"
        _close_at_provider(s, existing)
        existing = None
    p = existing
    if p is None:
        ids = {"order_id": subject_id} if subject == ORDER else {"subject": subject, "subject_id": subject_id}
        p = Payment(merchant_id=merchant_id, member_id=member_id, amount=amount, gateway=gw.name, method=method, gateway_ref="pending", status="pending", created_at=now, **ids)
        if pay is not None:  # a real provider: its account, and when the query job first asks it
            p.account_key, p.expires_at = accounts.account_key(s, merchant_id, gw.name), pay.expires_at
            p.next_check_at = checks.first_check(now, pay.expires_at)
        s.add(p)
        s.flush()
    opened = gw.open(_intent(s, p, pay))
    p.gateway_ref = opened.ref
    s.flush()
    return Checkout(p, method, opened.client)


def _gateway_for_method(s: Session, merchant_id: int, method: str) -> PaymentGateway:
    g = provider_gateway(s, merchant_id, METHODS[method]) if method in METHODS else None
    if g is None:
        raise Invalid("payment.method_unavailable", f"This shop does not take {method}.", methods=methods_for(s, merchant_id))
    return g


def _intent(s: Session, p: Payment, pay: PayWith | None) -> Intent:
    if pay is None:
        return Intent(p.id, p.amount)
    shop = identity.public_merchant(s, p.merchant_id).name
    description = f"{shop} 订单{p.order_id}" if p.order_id is not None else f"{shop} {p.subject}"
    openid = _openid(s, p) if pay.method == "wechat_jsapi" else None
    back = pay.return_url
    if back and back.startswith("/"):
        back = accounts.rails.get().public_url.rstrip("/") + back
    return Intent(p.id, p.amount, pay.method, description, openid, pay.client_ip, pay.expires_at, back)


def _openid(s: Session, p: Payment) -> str:
    """The payer's openid in the app the merchant's WeChat Pay account pays through."""
    appid = accounts.wechatpay_credentials(s, p.merchant_id).app
    openid = identity.wechat_openid(s, p.member_id, appid)
    if openid is None:
        raise Conflict("payment.openid_missing", "Log in with WeChat in this shop's app first: WeChat Pay pays as your openid there.", appid=appid)
    return openid


def _close_at_provider(s: Session, p: Payment) -> None:
    """Best effort: the buyer may still have the old page open; the provider's expiry and
    the late-payment refund cover a close that does not get through."""
    if p.gateway == SANDBOX:
        return
    try:
        gateway_of(s, p).close(p.gateway_ref)
    except DomainError as exc:
        log.info("closing payment %s at %s: %s", p.id, p.gateway, exc.code)


def get_payment(s: Session, payment_id: int) -> Payment:
    p = s.get(Payment, payment_id)
    if p is None:
        raise NotFound("payment.not_found", "No such payment.")
    return p


def payments_of(s: Session, order_id: int) -> list[Payment]:
    return list(s.scalars(select(Payment).where(Payment.order_id == order_id).order_by(Payment.id)))


def close_pending(s: Session, order_id: int) -> None:
    """Closed here; a real provider's payment is due for the query job at once, which closes
    it there after this commits (or finds it paid anyway, and the order refunds it)."""
    due = case((Payment.next_check_at.is_(None), None), else_=Payment.created_at)
    s.execute(update(Payment).where(Payment.order_id == order_id, Payment.status == "pending").values(status="closed", next_check_at=due))


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
    """Verify a sandbox callback and record the payment once (``record_callback``)."""
    gw = gateway()
    return record_callback(s, gw.parse_callback(raw, signature, now), now, gateway=gw.name)


def record_callback(s: Session, cb: Callback, now: datetime, *, gateway: str, merchant_id: int | None = None) -> Payment:
    """Record what a verified notification (or the provider's order query) says, once. A
    duplicate has no effect; an unknown reference (of this gateway and, for a real
    provider, of the merchant whose account verified it) or an amount mismatch is refused."""
    q = select(Payment).where(Payment.gateway_ref == cb.gateway_ref, Payment.gateway == gateway)
    if merchant_id is not None:
        q = q.where(Payment.merchant_id == merchant_id)
    p = s.scalars(q).first()
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
    """Refund ``amount`` of one succeeded payment (of any subject), once per ``request_key``,
    through the gateway that took it (the key is the provider's refund number, so a retry
    is the same refund there); never more than it paid and has not refunded yet
    (compare-and-set on ``refunded``). A refund the provider accepted but has not finished
    is ``processing`` until its notification or the query job settles it."""
    done = s.scalars(select(PaymentRefund).where(PaymentRefund.payment_id == payment_id, PaymentRefund.request_key == request_key)).first()
    if done is not None:
        return done
    p = get_payment(s, payment_id)
    if p.status != "succeeded":
        raise Conflict("payment.not_paid", "There is no payment to refund.")
    if s.execute(update(Payment).where(Payment.id == p.id, Payment.refunded + amount <= Payment.amount).values(refunded=Payment.refunded + amount)).rowcount != 1:
        raise Conflict("payment.refund_exceeds", "The refund exceeds what was paid.")
    result = gateway_of(s, p).refund(p.gateway_ref, amount, request_key)
    if not result.ok:
        raise Conflict("payment.refund_failed", f"The gateway refused the refund: {result.error}")
    status = "processing" if result.pending else "succeeded"
    r = PaymentRefund(merchant_id=p.merchant_id, payment_id=p.id, amount=amount, request_key=request_key, status=status, gateway_ref=result.ref, created_at=now)
    s.add(r)
    s.flush()
    return r


def settle_refund(s: Session, r: PaymentRefund, state: str) -> bool:
    """processing → succeeded | failed | abnormal, once (compare-and-set). A failed refund
    (closed by the provider) gives the amount back to what the payment may still refund:
    the money stayed with the merchant. An abnormal one does not: the money left the
    merchant but did not reach the buyer, and finance completes it at the provider. Either
    is told (``payment.refund_failed``) and listed for finance, never only logged."""
    if state not in ("succeeded", "failed", "abnormal"):
        return False
    # An abnormal refund finance completed at the provider succeeds later (its money was
    # committed already); nothing else leaves a final state.
    sources = ("processing", "abnormal") if state == "succeeded" else ("processing",)
    if s.execute(update(PaymentRefund).where(PaymentRefund.id == r.id, PaymentRefund.status.in_(sources)).values(status=state)).rowcount != 1:
        return False
    if state == "failed":
        s.execute(update(Payment).where(Payment.id == r.payment_id).values(refunded=Payment.refunded - r.amount))
    if state != "succeeded":
        p = get_payment(s, r.payment_id)
        subject = {} if p.subject == ORDER else {"subject": p.subject, "subject_id": p.subject_id}
        events.emit(s, PaymentRefundFailed(refund_id=r.id, payment_id=p.id, order_id=p.order_id, amount=r.amount, state=state, request_key=r.request_key, **subject),
                    merchant_id=p.merchant_id)
        log.warning("refund %s of payment %s is %s at the provider", r.id, r.payment_id, state)
    s.refresh(r)
    return True


def refunds_needing_action(s: Session, merchant_id: int, limit: int = 200) -> list[PaymentRefund]:
    """The merchant's refunds that did not reach the buyer (failed, abnormal), newest first."""
    return list(s.scalars(select(PaymentRefund).where(PaymentRefund.merchant_id == merchant_id, PaymentRefund.status.in_(("failed", "abnormal")))
                          .order_by(PaymentRefund.id.desc()).limit(limit)))
