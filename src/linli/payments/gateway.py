"""The payment gateway port and the sandbox gateway.

The sandbox behaves like WeChat Pay / Alipay where it matters to us: a payment intent with
a gateway reference, an asynchronous callback signed with HMAC-SHA256 over
``"{timestamp}.{raw body}"`` (header ``Linli-Signature: t=<unix>,v1=<hex>``), callbacks that
may arrive twice, refunds by reference. The real providers implement the same port
(``providers.wechatpay_payments.WechatPayPayments``, ``providers.alipay.AlipayPayments``),
one per merchant account, plus ``query`` / ``refund_state`` for the query fallback job.

An ``Intent`` carries what a real provider needs (the method, the payer's openid or IP, the
description, the expiry); ``open`` answers the reference and what the payer's client opens
the payment with (JSAPI parameters, an H5 or WAP URL; nothing for the sandbox).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from linli.composition import Port
from linli.errors import DomainError

SIGNATURE_HEADER = "Linli-Signature"
CALLBACK_TOLERANCE_S = 300


class CallbackRefused(DomainError):
    status = 400
    code = "payment.callback_invalid"
    title = "Callback refused"


@dataclass(frozen=True)
class Callback:
    gateway_ref: str
    amount: int
    txn: str
    status: str  # SUCCESS
    payer: str | None = None  # the paying account at the gateway (openid, buyer id), when it names one


@dataclass(frozen=True)
class RefundResult:
    ok: bool
    ref: str | None
    error: str | None = None
    pending: bool = False  # accepted, not finished: the provider's notification or query settles it


# How a buyer pays at a real provider, and which provider that is.
METHODS = {"wechat_jsapi": "wechatpay", "wechat_h5": "wechatpay", "alipay_wap": "alipay"}


@dataclass(frozen=True)
class Intent:
    payment_id: int
    amount: int  # fen
    method: str | None = None  # one of METHODS; None: the sandbox
    description: str = ""
    openid: str | None = None  # JSAPI: the payer in the account's app
    client_ip: str | None = None  # H5: the payer's IP
    expires_at: datetime | None = None  # the provider refuses payment after it
    return_url: str | None = None  # where the provider's page sends the buyer back


@dataclass(frozen=True)
class Opened:
    ref: str
    client: dict[str, str] = field(default_factory=dict)


class PaymentGateway(Protocol):
    name: str

    def open(self, intent: Intent) -> Opened: ...

    def refund(self, gateway_ref: str, amount: int, request_key: str) -> RefundResult: ...

    def parse_callback(self, raw: bytes, signature: str | None, now: datetime) -> Callback: ...


def sign(secret: str, raw: bytes, ts: int) -> str:
    mac = hmac.new(secret.encode(), f"{ts}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={ts},v1={mac}"


class SandboxGateway:
    name = "sandbox"

    def __init__(self, secret: str) -> None:
        self.secret = secret
        # A test may name a member's payer account (two members paying from one account).
        self.payers: dict[int, str] = {}

    def payer_of(self, member_id: int) -> str:
        """The sandbox payer account of a buyer: stable, derived from the member, unless set."""
        if member_id in self.payers:
            return self.payers[member_id]
        return "sbxp_" + hmac.new(self.secret.encode(), f"payer:{member_id}".encode(), hashlib.sha256).hexdigest()[:16]

    def create_intent(self, payment_id: int, amount: int) -> str:
        return f"sbx_{payment_id}_{secrets.token_hex(8)}"

    def open(self, intent: Intent) -> Opened:
        return Opened(self.create_intent(intent.payment_id, intent.amount))

    def refund(self, gateway_ref: str, amount: int, request_key: str) -> RefundResult:
        return RefundResult(True, f"sbxr_{secrets.token_hex(8)}")

    def completion(self, gateway_ref: str, amount: int, now: datetime, payer: str | None = None) -> tuple[bytes, str]:
        """The callback the sandbox sends when the buyer confirms in the payment sheet."""
        body = {"gateway_ref": gateway_ref, "amount": amount, "txn": f"sbxt_{secrets.token_hex(8)}", "status": "SUCCESS"}
        if payer is not None:
            body["payer"] = payer
        raw = json.dumps(body, separators=(",", ":")).encode()
        return raw, sign(self.secret, raw, int(now.timestamp()))

    def parse_callback(self, raw: bytes, signature: str | None, now: datetime) -> Callback:
        parts = dict(p.split("=", 1) for p in (signature or "").split(",") if "=" in p)
        ts, mac = parts.get("t", ""), parts.get("v1", "")
        # ASCII digits of a plausible length: "²".isdigit() is true but int() refuses it, and
        # an int of thousands of digits cannot be compared with the clock (both were 500s).
        if not (ts.isascii() and ts.isdigit() and len(ts) <= 12) or not mac:
            raise CallbackRefused("payment.signature_invalid", "The callback is not signed.")
        expected = sign(self.secret, raw, int(ts)).split("v1=")[1]
        if not hmac.compare_digest(expected, mac):
            raise CallbackRefused("payment.signature_invalid", "The callback signature does not match.")
        if abs(now.timestamp() - int(ts)) > CALLBACK_TOLERANCE_S:
            raise CallbackRefused("payment.callback_stale", "The callback is too old or from the future.")
        try:
            data = json.loads(raw)
            amount = data["amount"]
            if isinstance(amount, bool) or not isinstance(amount, int):
                raise TypeError("the amount is whole fen")  # 1.5, "6800", true, Infinity: not an amount
            payer = data.get("payer")
            payer = payer if isinstance(payer, str) and 0 < len(payer) <= 128 else None
            cb = Callback(str(data["gateway_ref"]), amount, str(data["txn"]), str(data["status"]), payer)
        except (ValueError, KeyError, TypeError):
            raise CallbackRefused("payment.callback_malformed", "The callback body is malformed.") from None
        return cb


# The configured gateway: filled by the composition root (``payments/domain.py``); None
# refuses to take payments rather than pretending.
payment_gateway: Port[PaymentGateway | None] = Port("payments.gateway", None)
