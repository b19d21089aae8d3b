"""Alipay open platform client (the classic gateway, public-key mode, RSA2), and the two ports
over it: ``AlipayPayments`` (``PaymentGateway``) and ``AlipayPayout`` (``PayoutGateway``).

Every call is a POST to the gateway with the common parameters and ``sign`` in the query
string and ``biz_content`` in the form body (as the official SDKs send them); the answer's
``<method>_response`` node is verified with the Alipay public key before anything in it is
believed (see ``alipay_sign``). ``code`` other than 10000 is ``payment.provider_refused``
carrying ``sub_code`` / ``sub_msg``; an answer that cannot be verified or read is
``payment.provider_unverified`` / ``payment.provider_malformed``; no answer (timeout,
connection error, 5xx, Alipay's own 20000 "service unavailable") is ``ServiceUnavailable``
(503), so callers retry instead of failing with a 500.

A service provider acting for a merchant (服务商代调用) sets the merchant's ``app_auth_token``
in the credentials. Certificate mode is not supported yet. Nothing here is wired: the
per-merchant credentials, the notify endpoint and the ports' registration come later.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any
from urllib.parse import urlencode

import httpx

from linli.errors import DomainError, Invalid, ServiceUnavailable
from linli.payments.gateway import Callback, Intent, Opened, RefundResult
from linli.payments.providers.alipay_sign import (
    NOTIFY_REPLY,
    Answer,
    BillRow,
    Unverifiable,
    decode_form,
    load_private_key,
    load_public_key,
    parse_bill,
    parse_notification,
    read_answer,
    request_params,
    signed,
    timestamp,
    to_fen,
    to_yuan,
)

GATEWAY = "https://openapi.alipay.com/gateway.do"
TIMEOUT = httpx.Timeout(15.0, connect=5.0)
UNAVAILABLE_CODE = "20000"  # 服务不可用: the gateway or the service behind it failed
WAP_PRODUCT = "QUICK_WAP_WAY"
TRANSFER_PRODUCT, TRANSFER_SCENE = "TRANS_ACCOUNT_NO_PWD", "DIRECT_TRANSFER"
USER_ID, OPEN_ID, LOGON_ID = "ALIPAY_USER_ID", "ALIPAY_OPEN_ID", "ALIPAY_LOGON_ID"
# Trade statuses (alipay.trade.query ``trade_status``).
WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_FINISHED, TRADE_CLOSED = "WAIT_BUYER_PAY", "TRADE_SUCCESS", "TRADE_FINISHED", "TRADE_CLOSED"
# Our refund states: Alipay confirms a refund with fund_change=Y or refund_status=REFUND_SUCCESS;
# anything short of that is still processing (asking again, or refunding again with the same
# out_request_no, settles it and never refunds twice).
SUCCEEDED, PROCESSING = "succeeded", "processing"
_SUBJECT_FORBIDDEN = re.compile(r"[/=&]")  # wap.pay: "不可使用特殊字符，如 /，=，& 等"
_OUR_NUMBER = re.compile(r"[A-Za-z0-9_]{1,64}")


class ProviderRefused(DomainError):
    """Alipay answered ``code`` ≠ 10000 (``signed``: whether that answer carried a valid
    signature; an error the gateway could not sign comes without one). 502, as WeChat Pay's
    refusal: the caller did not talk to the provider, we did."""

    status = 502
    code = "payment.provider_refused"
    title = "The payment provider refused"

    def __init__(self, method: str, answer: Answer) -> None:
        node = answer.node
        self.method, self.signed = method, answer.signed
        self.provider_code = str(node.get("code") or "")
        self.sub_code = str(node.get("sub_code") or "")
        self.sub_msg = str(node.get("sub_msg") or node.get("msg") or "")[:300]
        super().__init__(None, f"Alipay refused {method}: {self.sub_code or self.provider_code} {self.sub_msg}".strip(),
                         provider="alipay", provider_code=self.provider_code, sub_code=self.sub_code, sub_msg=self.sub_msg)


class ProviderUnverified(DomainError):
    status = 502
    code = "payment.provider_unverified"
    title = "The payment provider's answer could not be verified"


def _outage(detail: str) -> ServiceUnavailable:
    return ServiceUnavailable("payment.provider_unavailable", f"Alipay is not answering: {detail}", provider="alipay")


def _answered(what: str, send: Callable[[], httpx.Response]) -> httpx.Response:
    """The HTTP 200 answer of ``send()``: a timeout, a lost connection or a 5xx is an outage
    (503), any other status an answer we cannot use."""
    try:
        resp = send()
    except httpx.TimeoutException:
        raise _outage(f"{what} timed out") from None
    except httpx.TransportError as exc:
        raise _outage(f"{what}: {exc.__class__.__name__}") from None
    if resp.status_code >= 500:
        raise _outage(f"{what} answered HTTP {resp.status_code}")
    if resp.status_code != 200:
        raise ProviderUnverified(None, f"Alipay answered {what} with HTTP {resp.status_code}")
    return resp


def _malformed(detail: str) -> ProviderUnverified:
    return ProviderUnverified("payment.provider_malformed", f"Alipay's answer is malformed: {detail}")


@dataclass(frozen=True)
class AlipayCredentials:
    app_id: str
    private_key: str = field(repr=False)  # the app private key (应用私钥), PEM or bare base64
    alipay_public_key: str = field(repr=False)  # 支付宝公钥 (public-key mode)
    notify_url: str | None = None  # where Alipay posts the asynchronous notifications
    app_auth_token: str | None = field(default=None, repr=False)  # a merchant's token, for 服务商代调用
    base_url: str = GATEWAY


@dataclass(frozen=True)
class WapPay:
    """What the buyer's phone browser opens: ``url`` (a GET of the signed parameters), or the
    same ``params`` posted as a form to the gateway. No server call is made to build it."""

    url: str
    params: dict[str, str]


@dataclass(frozen=True)
class Trade:
    out_trade_no: str
    trade_no: str
    status: str  # WAIT_BUYER_PAY | TRADE_SUCCESS | TRADE_FINISHED | TRADE_CLOSED
    amount: int  # fen
    buyer_id: str | None = None

    @property
    def paid(self) -> bool:
        return self.status in (TRADE_SUCCESS, TRADE_FINISHED)


@dataclass(frozen=True)
class Refund:
    out_trade_no: str
    out_request_no: str
    trade_no: str
    amount: int  # fen, this refund
    status: str  # succeeded | processing
    refunded_total: int | None = None  # fen refunded on the trade so far (refund_fee), when told


@dataclass(frozen=True)
class Transfer:
    out_biz_no: str
    order_id: str | None
    status: str  # Alipay's: SUCCESS | FAIL | DEALING | REFUND (…)
    pay_fund_order_id: str | None = None
    error: str | None = None


def out_trade_no(payment_id: int) -> str:
    """Our out_trade_no for a payment (letters and digits, at most 64)."""
    return f"LLP{payment_id:012d}"


def out_request_no(request_key: str) -> str:
    """Alipay's ``out_request_no`` for a refund request key: the key itself when it fits
    (``[A-Za-z0-9_]``, ≤ 64), else a digest of it — the same key always gives the same number."""
    if _OUR_NUMBER.fullmatch(request_key):
        return request_key
    return "R" + hashlib.sha256(request_key.encode()).hexdigest()[:40]


class AlipayClient:
    def __init__(self, credentials: AlipayCredentials, http: httpx.Client | None = None, *,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> None:
        try:
            self._key = load_private_key(credentials.private_key)
            self._alipay_key = load_public_key(credentials.alipay_public_key)
        except ValueError as exc:
            raise Invalid("payment.provider_credentials", f"The Alipay keys are not usable: {exc}") from None
        self.credentials = credentials
        self.http = http or httpx.Client(timeout=TIMEOUT)
        self.clock = clock

    # --- transport ------------------------------------------------------------------------

    def _params(self, method: str, biz: Mapping[str, Any], now: datetime | None = None, **extra: str | None) -> dict[str, str]:
        c = self.credentials
        return signed(request_params(c.app_id, method, biz, now or self.clock(), app_auth_token=c.app_auth_token, **extra), self._key)

    def call(self, method: str, biz: Mapping[str, Any]) -> Answer:
        """One signed call; the verified answer, successful or not (``ok``)."""
        params = self._params(method, biz)
        form = {"biz_content": params.pop("biz_content")}
        resp = _answered(method, lambda: self.http.post(self.credentials.base_url, params=params, data=form, headers={"Accept": "application/json"}))
        try:
            answer = read_answer(resp.content.decode("utf-8"), method, self._alipay_key)
        except UnicodeDecodeError:
            raise ProviderUnverified(None, f"Alipay's answer to {method} is not UTF-8") from None
        except Unverifiable as exc:
            raise ProviderUnverified(None, f"Alipay's answer to {method}: {exc}") from None
        if answer.code == UNAVAILABLE_CODE:
            raise _outage(f"{method}: {answer.node.get('sub_code') or answer.code}")
        return answer

    def _ok(self, method: str, biz: Mapping[str, Any]) -> dict:
        answer = self.call(method, biz)
        if not answer.ok:
            raise ProviderRefused(method, answer)
        return answer.node

    # --- payment --------------------------------------------------------------------------

    def wap_pay(self, out_trade_no: str, amount: int, subject: str, *, quit_url: str, return_url: str | None = None,
                expires_at: datetime | None = None, now: datetime | None = None) -> WapPay:
        """``alipay.trade.wap.pay``: the signed page the buyer's phone browser opens (手机网站支付).
        Give ``expires_at`` (``time_expire``) so a page left open cannot be paid after we close
        the trade: until the buyer opens it Alipay does not know the trade, and close cannot stop it."""
        if not subject or len(subject) > 256 or _SUBJECT_FORBIDDEN.search(subject):
            raise Invalid("payment.subject_invalid", "The order title is 1–256 characters, without / = &.")
        biz: dict[str, Any] = {"out_trade_no": out_trade_no, "total_amount": _yuan(amount), "subject": subject,
                               "product_code": WAP_PRODUCT, "quit_url": quit_url}
        if expires_at is not None:
            biz["time_expire"] = timestamp(expires_at)
        params = self._params("alipay.trade.wap.pay", biz, now, notify_url=self.credentials.notify_url, return_url=return_url)
        return WapPay(f"{self.credentials.base_url}?{urlencode(params)}", params)

    def query(self, out_trade_no: str) -> Trade | None:
        """``alipay.trade.query`` by our number; None when Alipay does not know the trade (the
        buyer has not opened the payment page)."""
        answer = self.call("alipay.trade.query", {"out_trade_no": out_trade_no})
        if not answer.ok:
            if answer.node.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return None
            raise ProviderRefused("alipay.trade.query", answer)
        n = answer.node
        _same(n, "out_trade_no", out_trade_no)
        status = _text(n, "trade_status")
        if status not in (WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_FINISHED, TRADE_CLOSED):
            raise _malformed(f"unknown trade_status {status!r}")
        return Trade(out_trade_no, _text(n, "trade_no"), status, _fen(n, "total_amount"), _opt(n, "buyer_user_id") or _opt(n, "buyer_open_id"))

    def close(self, out_trade_no: str) -> bool:
        """``alipay.trade.close`` of an unpaid trade: True when closed, False when Alipay does
        not know it (nothing to close). A paid trade is refused (ACQ.TRADE_STATUS_ERROR)."""
        answer = self.call("alipay.trade.close", {"out_trade_no": out_trade_no})
        if not answer.ok:
            if answer.node.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return False
            raise ProviderRefused("alipay.trade.close", answer)
        _same(answer.node, "out_trade_no", out_trade_no)
        return True

    def parse_notification(self, raw: bytes) -> Callback:
        """The asynchronous notification's form body → a verified ``Callback``; reply
        ``NOTIFY_REPLY`` once it is recorded."""
        return parse_notification(decode_form(raw), self._alipay_key, self.credentials.app_id)

    notify_reply = NOTIFY_REPLY

    # --- refunds --------------------------------------------------------------------------

    def refund(self, out_trade_no: str, amount: int, out_request_no: str, reason: str | None = None) -> Refund:
        """``alipay.trade.refund``, once per ``out_request_no``: Alipay answers a repeat with
        the first refund (fund_change=N) and moves no money again. fund_change=N does not
        mean failure either: the refund query tells (REFUND_SUCCESS, else still processing)."""
        biz = {"out_trade_no": out_trade_no, "refund_amount": _yuan(amount), "out_request_no": out_request_no}
        if reason:
            biz["refund_reason"] = reason[:256]
        n = self._ok("alipay.trade.refund", biz)
        _same(n, "out_trade_no", out_trade_no)
        total = _fen(n, "refund_fee") if n.get("refund_fee") is not None else None
        if n.get("fund_change") == "Y":
            return Refund(out_trade_no, out_request_no, _text(n, "trade_no"), amount, SUCCEEDED, total)
        found = self.refund_query(out_trade_no, out_request_no)
        status = found.status if found is not None else PROCESSING
        return Refund(out_trade_no, out_request_no, _text(n, "trade_no"), amount, status, total)

    def refund_query(self, out_trade_no: str, out_request_no: str) -> Refund | None:
        """``alipay.trade.fastpay.refund.query``: the refund, or None when Alipay has none by
        that number (it never arrived, or failed: refunding again with it is safe)."""
        answer = self.call("alipay.trade.fastpay.refund.query", {"out_trade_no": out_trade_no, "out_request_no": out_request_no})
        if not answer.ok:
            if answer.node.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
                return None
            raise ProviderRefused("alipay.trade.fastpay.refund.query", answer)
        n = answer.node
        if not n.get("refund_amount"):
            return None
        _same(n, "out_request_no", out_request_no)
        status = SUCCEEDED if n.get("refund_status") == "REFUND_SUCCESS" else PROCESSING
        return Refund(out_trade_no, out_request_no, _text(n, "trade_no"), _fen(n, "refund_amount"), status)

    # --- transfers (sharer payouts) -------------------------------------------------------

    def transfer(self, out_biz_no: str, amount: int, payee: str, *, identity_type: str = USER_ID,
                 title: str = "佣金提现", remark: str | None = None, name: str | None = None) -> Transfer:
        """``alipay.fund.trans.uni.transfer`` to an Alipay account (单笔无密转账), once per
        ``out_biz_no``: a repeat answers the first transfer. A login id (the phone number or
        e-mail the payee signs in with, ``ALIPAY_LOGON_ID``) needs the payee's real ``name``,
        which Alipay checks against the account."""
        if identity_type not in (USER_ID, OPEN_ID, LOGON_ID) or (identity_type == LOGON_ID and not name):
            raise Invalid("payment.payee_invalid", "The payee is an Alipay user id, open id, or login id with the real name.")
        payee_info = {"identity": payee, "identity_type": identity_type}
        if name:
            payee_info["name"] = name
        biz: dict[str, Any] = {"out_biz_no": out_biz_no, "trans_amount": _yuan(amount), "product_code": TRANSFER_PRODUCT,
                               "biz_scene": TRANSFER_SCENE, "order_title": title, "payee_info": payee_info}
        if remark:
            biz["remark"] = remark[:200]
        n = self._ok("alipay.fund.trans.uni.transfer", biz)
        _same(n, "out_biz_no", out_biz_no)
        return Transfer(out_biz_no, _opt(n, "order_id"), _text(n, "status"), _opt(n, "pay_fund_order_id"))

    def transfer_query(self, out_biz_no: str) -> Transfer | None:
        """``alipay.fund.trans.common.query`` by our number; None when Alipay has no such transfer."""
        answer = self.call("alipay.fund.trans.common.query", {"product_code": TRANSFER_PRODUCT, "biz_scene": TRANSFER_SCENE, "out_biz_no": out_biz_no})
        if not answer.ok:
            if answer.node.get("sub_code") == "ORDER_NOT_EXIST":
                return None
            raise ProviderRefused("alipay.fund.trans.common.query", answer)
        n = answer.node
        _same(n, "out_biz_no", out_biz_no)
        error = " ".join(x for x in (_opt(n, "error_code"), _opt(n, "fail_reason")) if x) or None
        return Transfer(out_biz_no, _opt(n, "order_id"), _text(n, "status"), _opt(n, "pay_fund_order_id"), error)

    # --- the trade bill -------------------------------------------------------------------

    def bill_url(self, bill_date: date, bill_type: str = "trade") -> str | None:
        """``alipay.data.dataservice.bill.downloadurl.query`` for a day (T+1): the short-lived
        download URL, or None when there is no bill for that day (yet)."""
        answer = self.call("alipay.data.dataservice.bill.downloadurl.query", {"bill_type": bill_type, "bill_date": bill_date.isoformat()})
        if not answer.ok:
            if answer.node.get("sub_code") == "isp.bill_not_exist":
                return None
            raise ProviderRefused("alipay.data.dataservice.bill.downloadurl.query", answer)
        url = _text(answer.node, "bill_download_url")
        if not url.startswith(("https://", "http://")):
            raise _malformed("the bill URL is not a URL")
        return url

    def bill(self, bill_date: date) -> list[BillRow] | None:
        """The day's trade-detail rows (payments and refunds), or None when there is no bill."""
        url = self.bill_url(bill_date)
        if url is None:
            return None
        resp = _answered("the bill download", lambda: self.http.get(url, follow_redirects=True))
        try:
            return parse_bill(resp.content)
        except ValueError as exc:
            raise _malformed(str(exc)) from None


def _yuan(amount: int) -> str:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 1:
        raise Invalid("payment.amount_invalid", "An amount is a whole number of fen, at least 1.")
    return to_yuan(amount)


# --- reading a verified node ------------------------------------------------------------------


def _opt(n: Mapping[str, Any], name: str) -> str | None:
    v = n.get(name)
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise _malformed(f"{name} is not text")
    return v


def _text(n: Mapping[str, Any], name: str) -> str:
    v = _opt(n, name)
    if v is None:
        raise _malformed(f"{name} is missing")
    return v


def _fen(n: Mapping[str, Any], name: str) -> int:
    try:
        return to_fen(n.get(name))
    except ValueError:
        raise _malformed(f"{name} is not an amount in yuan") from None


def _same(n: Mapping[str, Any], name: str, ours: str) -> None:
    if n.get(name) not in (None, ours):
        raise _malformed(f"{name} {n.get(name)!r} is not ours ({ours!r})")


# --- the ports --------------------------------------------------------------------------------


class AlipayPayments:
    """``PaymentGateway`` over the client. ``create_intent`` only names the trade (our
    out_trade_no); ``open`` also builds the buyer's WAP page (no server call: Alipay learns
    of the trade when the buyer opens it)."""

    name = "alipay"

    def __init__(self, client: AlipayClient) -> None:
        self.client = client

    def create_intent(self, payment_id: int, amount: int) -> str:
        return out_trade_no(payment_id)

    def open(self, intent: Intent) -> Opened:
        if intent.method != "alipay_wap":
            raise Invalid("payment.method_unavailable", f"Alipay does not take {intent.method}.")
        ref = self.create_intent(intent.payment_id, intent.amount)
        subject = _SUBJECT_FORBIDDEN.sub(" ", intent.description or "Linli")[:256]
        back = intent.return_url or "/"
        page = self.client.wap_pay(ref, intent.amount, subject, quit_url=back, return_url=back, expires_at=intent.expires_at)
        return Opened(ref, {"wap_url": page.url})

    def refund(self, gateway_ref: str, amount: int, request_key: str) -> RefundResult:
        """Ok once Alipay took the refund; ``pending`` while it has not confirmed it (asking
        again with the same request key, or the refund query, settles it and never refunds twice)."""
        try:
            r = self.client.refund(gateway_ref, amount, out_request_no(request_key))
        except ProviderRefused as exc:
            return RefundResult(False, None, exc.detail)
        return RefundResult(True, r.trade_no, pending=r.status != SUCCEEDED)

    def refund_state(self, gateway_ref: str, request_key: str) -> str:
        """processing | succeeded | failed (Alipay has no refund by that number)."""
        r = self.client.refund_query(gateway_ref, out_request_no(request_key))
        return "failed" if r is None else r.status

    def query(self, gateway_ref: str) -> Callback | None:
        """What a notification of the paid trade would say; None while it is not paid."""
        t = self.client.query(gateway_ref)
        if t is None or not t.paid:
            return None
        return Callback(gateway_ref, t.amount, t.trade_no, "SUCCESS", t.buyer_id)

    def close(self, gateway_ref: str) -> bool:
        """True when Alipay closed the trade; False when it has none yet (the buyer has not
        opened the page, and still may until its ``time_expire``)."""
        return self.client.close(gateway_ref)

    def parse_callback(self, raw: bytes, signature: str | None, now: datetime) -> Callback:
        return self.client.parse_notification(raw)  # the signature travels in the form


# The payout states of linli.commission.payout (payments may not import commission: the
# contract in pyproject.toml), and a result of the same shape as its PayoutResult.
PAID, FAILED, PAYING, NOT_FOUND = "paid", "failed", "processing", "not_found"
_FINAL_REFUSALS = frozenset({"20001", "40001", "40002", "40004", "40006"})  # the gateway refused: nothing moved
_IN_DOUBT = frozenset({"SYSTEM_ERROR", "isp.unknow-error", "ACQ.SYSTEM_ERROR"})


@dataclass(frozen=True)
class PayoutAnswer:
    state: str  # paid | failed | processing | not_found
    ref: str | None = None
    error: str | None = None
    confirm: dict[str, str] | None = None  # never: an Alipay transfer needs no payee confirmation


def payout_answer(t: Transfer) -> PayoutAnswer:
    """SUCCESS → paid; FAIL, REFUND (退票) or CLOSED → failed; DEALING and the rest → processing."""
    if t.status == "SUCCESS":
        return PayoutAnswer(PAID, t.order_id)
    if t.status in ("FAIL", "REFUND", "CLOSED"):
        return PayoutAnswer(FAILED, t.order_id, t.error or f"Alipay: {t.status}")
    return PayoutAnswer(PAYING, t.order_id)


class AlipayPayout:
    """``PayoutGateway`` (and its provider: ``connect`` returns itself) paying sharers by
    ``alipay.fund.trans.uni.transfer`` with our transfer number as ``out_biz_no``.
    ``alipay_user_of(member_id)`` names the member's Alipay account (user id, or open id
    with ``identity_type=OPEN_ID``, or login id with ``LOGON_ID`` and ``name``: the payee's
    real name), None when they have none."""

    def __init__(self, client: AlipayClient, alipay_user_of: Callable[[int], str | None], *,
                 identity_type: str = USER_ID, title: str = "佣金提现", name: str | None = None) -> None:
        self.client, self.alipay_user_of = client, alipay_user_of
        self.identity_type, self.title, self.name = identity_type, title, name

    def connect(self, bind: object) -> AlipayPayout:
        return self

    def pay(self, transfer_no: str, member_id: int, amount: int) -> PayoutAnswer:
        """Pay once per number. After any refusal Alipay is asked what became of the number
        (a repeat whose payee changed is refused as inconsistent, yet the first transfer
        went): a transfer it holds answers; with none, a refusal the gateway signed is final
        (failed, nothing moved) and an unsigned one or a system error stays in doubt
        (not_found: the withdrawal stays paying). No answer at all raises the 503 outage:
        the withdrawal stays paying and the payout reconcile job asks later."""
        payee = self.alipay_user_of(member_id)
        if not payee:
            found = self.query(transfer_no)
            return found if found.state != NOT_FOUND else PayoutAnswer(FAILED, None, "the member has no Alipay account")
        try:
            t = self.client.transfer(transfer_no, amount, payee, identity_type=self.identity_type, title=self.title, name=self.name)
        except ProviderRefused as exc:
            found = self.query(transfer_no)
            if found.state == NOT_FOUND and exc.signed and exc.provider_code in _FINAL_REFUSALS and exc.sub_code not in _IN_DOUBT:
                return PayoutAnswer(FAILED, None, f"{exc.sub_code or exc.provider_code}: {exc.sub_msg}")
            return found
        return payout_answer(t)

    def query(self, transfer_no: str) -> PayoutAnswer:
        t = self.client.transfer_query(transfer_no)
        return PayoutAnswer(NOT_FOUND) if t is None else payout_answer(t)
