"""The providers' asynchronous notifications: verified with the account of the merchant the
payment belongs to, then recorded by the same effect logic as the sandbox's callback
(``service.record_callback``: amount must match, pending/closed → succeeded once, one
PaymentSucceeded), or settling a refund.

WeChat Pay: the ``Wechatpay-Serial`` header names the platform key; the accounts holding it
(a direct merchant's, or the platform's for its sub-merchants) open the resource, whose
``out_trade_no`` names our payment; that payment's merchant client then parses it fully
(its mchid / sub_mchid must be the ones of the notification), provided the merchant's
account is still the one that took the payment (else 409 ``payment.account_changed``). Alipay: the form's ``app_id``
names the account; the payment's merchant client verifies the signature and the app.
Signature freshness is checked against the real clock (the provider's), not the app's."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from linli.payments import accounts, service
from linli.payments.gateway import Callback, CallbackRefused
from linli.payments.models import Payment, PaymentAccount, PaymentRefund
from linli.payments.providers import wechatpay_sign
from linli.payments.providers.alipay_sign import decode_form
from linli.payments.providers.wechatpay import RefundNotice, refund_no


def _payment(s: Session, gateway: str, ref: object) -> Payment:
    p = s.scalars(select(Payment).where(Payment.gateway_ref == str(ref), Payment.gateway == gateway)).first() if isinstance(ref, str) else None
    if p is None:
        raise CallbackRefused("payment.unknown", "The notification names an unknown payment.")
    return p


def _unknown_account() -> CallbackRefused:
    return CallbackRefused("payment.account_unknown", "The notification is for no account configured here.")


def receive_wechatpay(s: Session, headers: Mapping[str, str], body: bytes, now: datetime) -> Payment | PaymentRefund:
    h = {k.lower(): v for k, v in headers.items()}
    serial = h.get("wechatpay-serial", "")
    holders = s.scalars(select(PaymentAccount).where(PaymentAccount.provider == accounts.WECHATPAY, PaymentAccount.mode == accounts.DIRECT,
                                                     PaymentAccount.public_key_id == serial).order_by(PaymentAccount.id).limit(20)).all()
    if not serial or not holders:
        raise _unknown_account()
    refused: CallbackRefused | None = None
    for holder in holders:  # normally one; several accounts may share a key in a test set-up
        client = accounts.wechatpay_client(s, holder.merchant_id)
        try:
            _event, data = client.open_notification(h, body, client.clock())
            break
        except CallbackRefused as exc:
            refused = exc
    else:
        raise refused
    p = _payment(s, accounts.WECHATPAY, data.get("out_trade_no"))
    service.require_account(s, p)  # verified with the account that took it, or refused (409)
    client = accounts.wechatpay_client(s, p.merchant_id)
    if client is None:
        raise _unknown_account()
    notice = client.parse_notification(h, body, client.clock())
    if isinstance(notice, Callback):
        return service.record_callback(s, notice, now, gateway=accounts.WECHATPAY, merchant_id=p.merchant_id)
    if isinstance(notice, RefundNotice):
        return _settle(s, p, notice)
    raise CallbackRefused(wechatpay_sign.MALFORMED, "Not a payment or refund notification.")


def _settle(s: Session, p: Payment, notice: RefundNotice) -> PaymentRefund:
    for r in s.scalars(select(PaymentRefund).where(PaymentRefund.payment_id == p.id)):
        if refund_no(r.request_key) == notice.out_refund_no:
            if notice.refund != r.amount:
                raise CallbackRefused("payment.amount_mismatch", "The refund notification amount differs from the refund.")
            service.settle_refund(s, r, {"succeeded": "succeeded", "abnormal": "abnormal"}.get(notice.state, "failed"))
            return r
    raise CallbackRefused("payment.unknown", "The notification names an unknown refund.")


def receive_alipay(s: Session, raw: bytes, now: datetime) -> Payment:
    form = decode_form(raw)
    app_id = form.get("app_id", "")
    known = s.scalars(select(PaymentAccount.id).where(PaymentAccount.provider == accounts.ALIPAY, PaymentAccount.app_id == app_id,
                                                      PaymentAccount.mode == accounts.DIRECT)).first()
    if not app_id or known is None:
        raise _unknown_account()
    p = _payment(s, accounts.ALIPAY, form.get("out_trade_no"))
    client = accounts.alipay_client(s, p.merchant_id)
    if client is None:
        raise _unknown_account()
    cb = client.parse_notification(raw)  # the signature, and that it is for this merchant's app
    service.require_account(s, p)  # after the signature: an unsigned form learns nothing of the account
    return service.record_callback(s, cb, now, gateway=accounts.ALIPAY, merchant_id=p.merchant_id)
