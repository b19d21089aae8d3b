"""WeChat Pay API v3 client: JSAPI and H5 payments, query and close, notifications,
refunds, merchant transfers (商家转账) and the trade bill, over the documented HTTP API.

Both merchant modes go through the same client: a direct merchant (普通商户) uses
``/v3/pay/transactions/…`` with ``appid`` + ``mchid``; a service provider (服务商) acting for
a sub-merchant — ``sub_mchid`` set in the credentials, ``mchid`` / ``appid`` then being
``sp_mchid`` / ``sp_appid`` — uses ``/v3/pay/partner/transactions/…`` and
``/v3/fund-app/mch-transfer/partner/…``. Every request is signed (``wechatpay_sign``);
every 2xx answer is verified against the platform key its ``Wechatpay-Serial`` names
(except the bill file, which is checked by its SHA1 as the documentation says).

Errors: WeChat Pay refusing a request (4xx ``{"code", "message"}``) is ``ProviderRefused``
(``payment.provider_refused``, the provider's code in ``provider_code``); an answer that is
unsigned, forged, stale or not what the documentation describes is ``ProviderError``
(``payment.provider_signature_invalid`` / ``…_malformed`` …); a timeout, a lost connection,
a 5xx or a 429 is ``ServiceUnavailable`` (``payment.provider_unavailable``, a 503 the caller
retries). Notifications that fail verification raise ``CallbackRefused`` with the codes the
sandbox uses (``payment.signature_invalid`` / ``callback_stale`` / ``callback_malformed``).

Endpoints (pay.weixin.qq.com/doc/v3/merchant/…, partner pages alongside): JSAPI 下单
4012791856 (partner 4012738519), 调起支付 4012791857, H5 下单 4012791834 (partner
4012738604), 查询订单 4012791859, 关闭订单 4012791860, 支付成功通知 4012791861, 退款申请
4012791862, 查询单笔退款 4012791863, 退款结果通知 4012791865, 申请交易账单 4012791866,
下载账单 4012791868, 发起转账 4012716434 (partner 4015469096), 商户单号查询转账单
4012716437 (partner 4015469131), 商家转账回调 4012712115.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx

from linli.errors import DomainError, Invalid, ServiceUnavailable
from linli.payments.gateway import Callback, CallbackRefused, RefundResult
from linli.payments.providers import wechatpay_sign as sign

NAME = "wechatpay"
BASE_URL = "https://api.mch.weixin.qq.com"
_OFFICIAL = {"https://api.mch.weixin.qq.com", "https://api2.mch.weixin.qq.com"}
CHINA = timezone(timedelta(hours=8))

# Our numbers, as the API accepts them.
_TRADE_NO = re.compile(r"[0-9A-Za-z_\-|*]{6,32}")
_REFUND_NO = re.compile(r"[0-9A-Za-z_\-|*@]{1,64}")
_BILL_NO = re.compile(r"[0-9A-Za-z]{5,32}")


class ProviderError(DomainError):
    status = 502
    code = "payment.provider_error"
    title = "Payment provider error"


class ProviderRefused(ProviderError):
    """WeChat Pay answered 4xx: ``provider_code`` is its code (PARAM_ERROR, ORDER_NOT_EXIST, …)."""

    code = "payment.provider_refused"
    title = "Refused by the payment provider"

    def __init__(self, provider_code: str, message: str = "", http_status: int = 400) -> None:
        super().__init__("payment.provider_refused", f"WeChat Pay refused the request ({provider_code}): {message}".strip(),
                         provider=NAME, provider_code=provider_code)
        self.provider_code = provider_code
        self.http_status = http_status


def _unavailable(detail: str) -> ServiceUnavailable:
    return ServiceUnavailable("payment.provider_unavailable", detail, provider=NAME)


def _malformed(detail: str) -> ProviderError:
    return ProviderError("payment.provider_malformed", detail, provider=NAME)


@dataclass(frozen=True)
class WechatPayCredentials:
    """One merchant's WeChat Pay account. In service-provider mode (``sub_mchid`` set)
    ``mchid`` and ``appid`` are the service provider's ``sp_mchid`` / ``sp_appid``.

    The platform verification key: the WeChat Pay public key and its id (公钥模式,
    ``PUB_KEY_ID_…``), or the platform certificates (PEM; each named by its serial), or both
    while moving from one to the other."""

    mchid: str
    serial_no: str  # the merchant API certificate's serial (Authorization serial_no)
    private_key: str = field(repr=False)  # the merchant API private key, PEM
    apiv3_key: str = field(repr=False)  # 32 bytes
    appid: str
    notify_url: str  # payment, refund and transfer notifications (event_type tells them apart)
    public_key_id: str = ""
    public_key: str = field(default="", repr=False)
    platform_certificates: tuple[str, ...] = field(default=(), repr=False)
    sub_mchid: str = ""
    sub_appid: str = ""
    base_url: str = BASE_URL
    # Merchant transfers to a sharer (商家转账): scene 1005 佣金报酬 takes two report lines.
    transfer_scene_id: str = "1005"
    transfer_scene_report: tuple[tuple[str, str], ...] = (("岗位类型", "分享推广"), ("报酬说明", "分享佣金提现"))
    transfer_remark: str = "佣金提现"

    @property
    def partner(self) -> bool:
        return bool(self.sub_mchid)

    @property
    def app(self) -> str:
        """The app payers and payees are known in (their openid is of this app): a
        sub-merchant's own app when it has one, else the merchant's (or provider's)."""
        return (self.sub_appid or self.appid) if self.partner else self.appid


# --- what the calls return -----------------------------------------------------------------

@dataclass(frozen=True)
class JsapiPrepay:
    prepay_id: str
    pay_params: dict[str, str]  # appId, timeStamp, nonceStr, package, signType, paySign


@dataclass(frozen=True)
class H5Prepay:
    h5_url: str


@dataclass(frozen=True)
class Transaction:
    out_trade_no: str
    trade_state: str  # SUCCESS | REFUND | NOTPAY | CLOSED | REVOKED | USERPAYING | PAYERROR
    total: int | None
    transaction_id: str = ""
    payer_total: int | None = None
    payer: str | None = None
    success_time: str = ""

    @property
    def paid(self) -> bool:
        return self.trade_state in ("SUCCESS", "REFUND")  # REFUND: paid, then (partly) refunded

    def as_callback(self) -> Callback | None:
        """What a payment notification would have said, for a paid order found by query
        (the notification was lost): reconciliation confirms the payment with it."""
        if not self.paid:
            return None
        return Callback(self.out_trade_no, self.total, self.transaction_id, "SUCCESS", self.payer)


REFUND_STATES = {"PROCESSING": "processing", "SUCCESS": "succeeded", "CLOSED": "closed", "ABNORMAL": "abnormal"}


@dataclass(frozen=True)
class Refund:
    out_refund_no: str
    refund_id: str
    status: str  # WeChat Pay's: PROCESSING | SUCCESS | CLOSED | ABNORMAL
    refund: int
    total: int
    out_trade_no: str = ""
    transaction_id: str = ""
    success_time: str = ""

    @property
    def state(self) -> str:
        """processing | succeeded | closed | abnormal (the money did not reach the buyer: a
        closed card, …; WeChat Pay's abnormal-refund flow or a manual refund settles it)."""
        return REFUND_STATES.get(self.status, "processing")

    @property
    def result(self) -> RefundResult:
        """The port's answer: accepted (processing or done) or not."""
        ok = self.status in ("PROCESSING", "SUCCESS")
        return RefundResult(ok, self.refund_id or None, None if ok else f"wechatpay: refund {self.status}")


@dataclass(frozen=True)
class RefundNotice:
    out_refund_no: str
    refund_id: str
    out_trade_no: str
    transaction_id: str
    status: str  # SUCCESS | CLOSED | ABNORMAL
    refund: int
    total: int
    payer_refund: int | None = None
    success_time: str = ""

    @property
    def state(self) -> str:
        return REFUND_STATES.get(self.status, "processing")


# commission.payout's states (payments never imports commission: the same strings here).
PAID, FAILED, PROCESSING, NOT_FOUND = "paid", "failed", "processing", "not_found"
_TRANSFER_DONE = {"SUCCESS": PAID, "FAIL": FAILED, "CANCELLED": FAILED}  # the rest is still on its way


@dataclass(frozen=True)
class Transfer:
    out_bill_no: str
    transfer_bill_no: str
    state: str  # ACCEPTED | PROCESSING | WAIT_USER_CONFIRM | TRANSFERING | SUCCESS | FAIL | CANCELING | CANCELLED
    amount: int | None = None
    fail_reason: str = ""
    package_info: str = ""  # WAIT_USER_CONFIRM: the sharer confirms with wx.requestMerchantTransfer
    openid: str = ""

    @property
    def payout_state(self) -> str:
        return _TRANSFER_DONE.get(self.state, PROCESSING)


@dataclass(frozen=True)
class TransferNotice:
    out_bill_no: str
    transfer_bill_no: str
    state: str
    amount: int
    openid: str
    fail_reason: str = ""

    @property
    def payout_state(self) -> str:
        return _TRANSFER_DONE.get(self.state, PROCESSING)


@dataclass(frozen=True)
class BillFile:
    download_url: str
    hash_type: str
    hash_value: str


# --- reading documents ---------------------------------------------------------------------

def _text(d: Mapping[str, Any], key: str, *, required: bool = True, where: str = "answer") -> str:
    v = d.get(key)
    if v is None and not required:
        return ""
    if not isinstance(v, str) or (required and not v) or len(v) > 1024:
        raise _Bad(f"the {where} has no valid {key}")
    return v


def _fen(d: Mapping[str, Any], key: str, *, required: bool = True, where: str = "answer") -> int | None:
    v = d.get(key)
    if v is None and not required:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 10**13:
        raise _Bad(f"the {where} has no valid {key} (whole fen)")
    return v


def _object(d: Mapping[str, Any], key: str, *, required: bool = True, where: str = "answer") -> dict[str, Any]:
    v = d.get(key)
    if v is None and not required:
        return {}
    if not isinstance(v, dict):
        raise _Bad(f"the {where} has no {key} object")
    return v


class _Bad(ValueError):
    """A document that is not what the documentation describes (mapped by the caller)."""


def _payer(d: Mapping[str, Any]) -> str | None:
    p = d.get("payer")
    if not isinstance(p, dict):
        return None
    for key in ("openid", "sub_openid", "sp_openid"):
        v = p.get(key)
        if isinstance(v, str) and 0 < len(v) <= 128:
            return v
    return None


def trade_no(payment_id: int) -> str:
    """Our ``out_trade_no`` for a payment (6–32 of ``[0-9A-Za-z_-|*]``; one per payment)."""
    return f"LLP{payment_id:012d}"


def refund_no(request_key: str) -> str:
    """Our ``out_refund_no`` for a refund request key: the key itself when the API accepts
    it, else a digest of it — the same key always gives the same number, so a retried
    refund is the same refund at WeChat Pay."""
    if _REFUND_NO.fullmatch(request_key or ""):
        return request_key
    return "LLR" + hashlib.sha256(request_key.encode()).hexdigest()[:40]


def _check(pattern: re.Pattern[str], value: str, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Invalid("payment.bad_reference", f"{what} {value!r} is not one WeChat Pay accepts.")
    return value


def _amount(amount: int) -> int:
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise Invalid("payment.bad_amount", "An amount is a positive whole number of fen.")
    return amount


def _rfc3339(t: datetime) -> str:
    if t.tzinfo is None:
        raise ValueError("time_expire must be timezone-aware")
    return t.astimezone(CHINA).isoformat(timespec="seconds")


def _origin(url: str) -> str:
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}".lower()


# --- the client ------------------------------------------------------------------------------

class WechatPay:
    """A WeChat Pay API v3 client for one merchant (direct or through a service provider)."""

    name = NAME

    def __init__(self, creds: WechatPayCredentials, *, http: httpx.Client | None = None,
                 clock: Callable[[], datetime] | None = None, timeout: float = 10.0) -> None:
        if len(creds.apiv3_key.encode()) != 32:
            raise ValueError("the APIv3 key is 32 bytes")
        self.creds = creds
        self._key = sign.load_private_key(creds.private_key)
        self._keys, self._serial = sign.platform_keys(creds.public_key_id, creds.public_key, creds.platform_certificates)
        self.base_url = creds.base_url.rstrip("/")
        self.http = http or httpx.Client(timeout=timeout)
        self.clock = clock or (lambda: datetime.now(timezone.utc))

    # --- transport ---

    def _send(self, method: str, url: str, raw: bytes) -> httpx.Response:
        """Sign and send one request to ``url`` (path + query, or absolute on our origin)."""
        target = url if url.startswith("http") else self.base_url + url
        u = urlsplit(target)
        signed_url = u.path + (f"?{u.query}" if u.query else "")
        ts, nonce = int(self.clock().timestamp()), secrets.token_hex(16).upper()
        headers = {
            "Authorization": sign.authorization(self.creds.mchid, self.creds.serial_no, self._key, method, signed_url, ts, nonce, raw),
            "Accept": "application/json", "User-Agent": "linli-wechatpay/1", "Wechatpay-Serial": self._serial,
        }
        if raw:
            headers["Content-Type"] = "application/json"
        try:
            resp = self.http.request(method, target, content=raw or None, headers=headers)
        except httpx.TimeoutException:
            raise _unavailable("WeChat Pay did not answer in time.") from None
        except httpx.TransportError as exc:
            raise _unavailable(f"WeChat Pay cannot be reached ({exc.__class__.__name__}).") from None
        if resp.status_code >= 500 or resp.status_code == 429:
            raise _unavailable(f"WeChat Pay is unavailable (HTTP {resp.status_code} {self._error_code(resp)}).")
        if 400 <= resp.status_code < 500:
            raise ProviderRefused(self._error_code(resp), self._error_message(resp), resp.status_code)
        if not 200 <= resp.status_code < 300:
            raise _malformed(f"WeChat Pay answered HTTP {resp.status_code}.")
        return resp

    @staticmethod
    def _error_body(resp: httpx.Response) -> dict[str, Any]:
        try:
            data = resp.json()
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def _error_code(self, resp: httpx.Response) -> str:
        code = self._error_body(resp).get("code")
        return code[:64] if isinstance(code, str) and code else f"HTTP_{resp.status_code}"

    def _error_message(self, resp: httpx.Response) -> str:
        msg = self._error_body(resp).get("message")
        return msg[:300] if isinstance(msg, str) else ""

    def _verify(self, resp: httpx.Response) -> None:
        headers = {k.lower(): v for k, v in resp.headers.items()}
        try:
            sign.verify_signed(self._keys, headers, resp.content, int(self.clock().timestamp()))
        except sign.Refused as exc:
            code = "payment.provider_signature_stale" if exc.code == sign.STALE else "payment.provider_signature_invalid"
            raise ProviderError(code, f"WeChat Pay's answer is not trusted: {exc.detail}", provider=NAME) from None

    def _call(self, method: str, path: str, query: Mapping[str, str] | None = None, body: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
        """A signed request and its verified JSON answer (None for 204 No Content)."""
        url = path + ("?" + urlencode(query, quote_via=quote) if query else "")
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode() if body is not None else b""
        resp = self._send(method, url, raw)
        self._verify(resp)
        if resp.status_code == 204 or not resp.content:
            return None
        try:
            data = json.loads(resp.content)
        except ValueError:
            raise _malformed("WeChat Pay's answer is not JSON.") from None
        if not isinstance(data, dict):
            raise _malformed("WeChat Pay's answer is not a JSON object.")
        return data

    def _read(self, data: dict[str, Any] | None, parse: Callable[[dict[str, Any]], Any]) -> Any:
        if data is None:
            raise _malformed("WeChat Pay's answer is empty.")
        try:
            return parse(data)
        except _Bad as exc:
            raise _malformed(f"WeChat Pay's answer is malformed: {exc}.") from None

    def _found(self, method: str, path: str, query: Mapping[str, str] | None = None) -> dict[str, Any] | None:
        """A query that may name nothing: 404 → None."""
        try:
            return self._call(method, path, query) or {}
        except ProviderRefused as exc:
            if exc.http_status == 404:
                return None
            raise

    # --- who we are in a request ---

    def _merchant(self) -> dict[str, str]:
        c = self.creds
        if c.partner:
            ids = {"sp_appid": c.appid, "sp_mchid": c.mchid, "sub_mchid": c.sub_mchid}
            if c.sub_appid:
                ids["sub_appid"] = c.sub_appid
            return ids
        return {"appid": c.appid, "mchid": c.mchid}

    def _merchant_query(self) -> dict[str, str]:
        c = self.creds
        return {"sp_mchid": c.mchid, "sub_mchid": c.sub_mchid} if c.partner else {"mchid": c.mchid}

    def _pay_path(self, tail: str) -> str:
        return ("/v3/pay/partner/transactions/" if self.creds.partner else "/v3/pay/transactions/") + tail

    def _order(self, out_trade_no: str, amount: int, description: str, time_expire: datetime | None, attach: str | None) -> dict[str, Any]:
        if not isinstance(description, str) or not 0 < len(description) <= 127:
            raise Invalid("payment.bad_description", "A description is 1 to 127 characters.")
        order: dict[str, Any] = {**self._merchant(), "description": description, "out_trade_no": _check(_TRADE_NO, out_trade_no, "out_trade_no"),
                                 "notify_url": self.creds.notify_url, "amount": {"total": _amount(amount), "currency": "CNY"}}
        if time_expire is not None:
            order["time_expire"] = _rfc3339(time_expire)
        if attach:
            order["attach"] = attach[:128]
        return order

    # --- payments ---

    def jsapi(self, out_trade_no: str, amount: int, description: str, openid: str, *,
              time_expire: datetime | None = None, attach: str | None = None) -> JsapiPrepay:
        """A JSAPI (公众号 / in-WeChat H5) prepay for the payer ``openid``, and the signed
        parameters the page passes to ``wx.requestPayment`` / ``WeixinJSBridge``."""
        if not isinstance(openid, str) or not 0 < len(openid) <= 128:
            raise Invalid("payment.bad_payer", "A JSAPI payment needs the payer's openid.")
        order = self._order(out_trade_no, amount, description, time_expire, attach)
        c = self.creds
        if c.partner:  # the openid of the sub-merchant's app when there is one, else of the provider's
            order["payer"] = {"sub_openid": openid} if c.sub_appid else {"sp_openid": openid}
        else:
            order["payer"] = {"openid": openid}
        prepay_id = self._read(self._call("POST", self._pay_path("jsapi"), body=order), lambda d: _text(d, "prepay_id"))
        app_id = c.app
        params = sign.jsapi_pay_params(self._key, app_id, prepay_id, int(self.clock().timestamp()), secrets.token_hex(16).upper())
        return JsapiPrepay(prepay_id, params)

    def h5(self, out_trade_no: str, amount: int, description: str, payer_client_ip: str, *,
           app_name: str | None = None, app_url: str | None = None, time_expire: datetime | None = None,
           attach: str | None = None) -> H5Prepay:
        """An H5 (mobile browser outside WeChat) payment: the ``h5_url`` to send the buyer to."""
        try:
            ip = str(ipaddress.ip_address(payer_client_ip))
        except ValueError:
            raise Invalid("payment.bad_payer", "An H5 payment needs the payer's IP address.") from None
        order = self._order(out_trade_no, amount, description, time_expire, attach)
        h5_info: dict[str, str] = {"type": "Wap"}
        if app_name:
            h5_info["app_name"] = app_name
        if app_url:
            h5_info["app_url"] = app_url
        order["scene_info"] = {"payer_client_ip": ip, "h5_info": h5_info}
        return H5Prepay(self._read(self._call("POST", self._pay_path("h5"), body=order), lambda d: _text(d, "h5_url")))

    def query(self, out_trade_no: str) -> Transaction | None:
        """The order by our number; None when WeChat Pay has none (404 ORDER_NOT_EXIST)."""
        no = _check(_TRADE_NO, out_trade_no, "out_trade_no")
        data = self._found("GET", self._pay_path(f"out-trade-no/{no}"), self._merchant_query())
        return None if data is None else self._read(data, self._transaction)

    @staticmethod
    def _transaction(d: dict[str, Any]) -> Transaction:
        state = _text(d, "trade_state")
        paid = state in ("SUCCESS", "REFUND")
        amount = _object(d, "amount", required=paid)
        return Transaction(_text(d, "out_trade_no"), state, _fen(amount, "total", required=paid), _text(d, "transaction_id", required=paid),
                           _fen(amount, "payer_total", required=False), _payer(d), _text(d, "success_time", required=False))

    def close(self, out_trade_no: str) -> None:
        """Close an unpaid order (a paid one is refused: ORDERPAID)."""
        no = _check(_TRADE_NO, out_trade_no, "out_trade_no")
        self._call("POST", self._pay_path(f"out-trade-no/{no}/close"), body=self._merchant_query())

    # --- refunds ---

    def refund(self, out_trade_no: str, out_refund_no: str, amount: int, total: int | None = None, reason: str | None = None) -> Refund:
        """Refund ``amount`` fen of an order, once per ``out_refund_no``: a repeat with the same
        number is the same refund (WeChat Pay answers with it), never a second one.
        ``total`` is the order's amount (asked from WeChat Pay when not given)."""
        body: dict[str, Any] = {"out_trade_no": _check(_TRADE_NO, out_trade_no, "out_trade_no"),
                                "out_refund_no": _check(_REFUND_NO, out_refund_no, "out_refund_no"), "notify_url": self.creds.notify_url}
        if total is None:
            order = self.query(out_trade_no)
            if order is None:
                raise ProviderRefused("ORDER_NOT_EXIST", "no such order to refund", 404)
            if not order.paid or order.total is None:
                raise ProviderRefused("ORDER_NOT_PAID", f"the order is {order.trade_state}", 400)
            total = order.total
        body["amount"] = {"refund": _amount(amount), "total": _amount(total), "currency": "CNY"}
        if reason:
            body["reason"] = reason[:80]
        if self.creds.partner:
            body["sub_mchid"] = self.creds.sub_mchid
        return self._read(self._call("POST", "/v3/refund/domestic/refunds", body=body), self._refund)

    def query_refund(self, out_refund_no: str) -> Refund | None:
        no = _check(_REFUND_NO, out_refund_no, "out_refund_no")
        query = {"sub_mchid": self.creds.sub_mchid} if self.creds.partner else None
        data = self._found("GET", f"/v3/refund/domestic/refunds/{no}", query)
        return None if data is None else self._read(data, self._refund)

    @staticmethod
    def _refund(d: dict[str, Any]) -> Refund:
        amount = _object(d, "amount")
        status = _text(d, "status")
        if status not in REFUND_STATES:
            raise _Bad(f"unknown refund status {status[:20]!r}")
        return Refund(_text(d, "out_refund_no"), _text(d, "refund_id"), status, _fen(amount, "refund"), _fen(amount, "total"),
                      _text(d, "out_trade_no", required=False), _text(d, "transaction_id", required=False), _text(d, "success_time", required=False))

    # --- merchant transfers (商家转账, user-confirmation mode) ---

    def _transfer_path(self, tail: str = "") -> str:
        return ("/v3/fund-app/mch-transfer/partner/transfer-bills" if self.creds.partner else "/v3/fund-app/mch-transfer/transfer-bills") + tail

    def transfer(self, out_bill_no: str, openid: str, amount: int, remark: str | None = None) -> Transfer:
        """Transfer ``amount`` fen to the WeChat balance of ``openid``, once per ``out_bill_no``
        (a repeat answers with the first bill). Usually WAIT_USER_CONFIRM: the payee confirms
        in WeChat (``package_info``) before the money moves."""
        c = self.creds
        if not isinstance(openid, str) or not 0 < len(openid) <= 128:
            raise Invalid("payment.bad_payer", "A transfer needs the payee's openid.")
        body: dict[str, Any] = {
            "appid": c.app,
            "out_bill_no": _check(_BILL_NO, out_bill_no, "out_bill_no"), "transfer_scene_id": c.transfer_scene_id,
            "openid": openid, "transfer_amount": _amount(amount), "transfer_remark": (remark or c.transfer_remark)[:32],
            "notify_url": c.notify_url,
            "transfer_scene_report_infos": [{"info_type": t, "info_content": v} for t, v in c.transfer_scene_report],
        }
        if c.partner:
            body = {"sub_mchid": c.sub_mchid, **body}
        return self._read(self._call("POST", self._transfer_path(), body=body), self._transfer)

    def query_transfer(self, out_bill_no: str) -> Transfer | None:
        """A transfer by our number; None when WeChat Pay has none (404 NOT_FOUND)."""
        no = _check(_BILL_NO, out_bill_no, "out_bill_no")
        query = {"sub_mchid": self.creds.sub_mchid} if self.creds.partner else None
        data = self._found("GET", self._transfer_path(f"/out-bill-no/{no}"), query)
        return None if data is None else self._read(data, self._transfer)

    @staticmethod
    def _transfer(d: dict[str, Any]) -> Transfer:
        state = _text(d, "state")
        return Transfer(_text(d, "out_bill_no"), _text(d, "transfer_bill_no"), state, _fen(d, "transfer_amount", required=False),
                        _text(d, "fail_reason", required=False), _text(d, "package_info", required=False), _text(d, "openid", required=False))

    # --- the trade bill ---

    def trade_bill(self, bill_date: date | str, bill_type: str = "ALL") -> BillFile:
        """Where to download one day's trade bill (uncompressed), and its SHA1."""
        day = bill_date.isoformat() if isinstance(bill_date, date) else bill_date
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day or ""):
            raise Invalid("payment.bad_bill_date", "A bill date is YYYY-MM-DD.")
        query = {"bill_date": day, "bill_type": bill_type}
        if self.creds.partner:
            query["sub_mchid"] = self.creds.sub_mchid
        data = self._call("GET", "/v3/bill/tradebill", query)
        return self._read(data, lambda d: BillFile(_text(d, "download_url"), _text(d, "hash_type"), _text(d, "hash_value")))

    def download_bill(self, bill: BillFile) -> sign.TradeBill:
        """The bill file, checked against its SHA1 (the file itself is not signed) and parsed."""
        allowed = {_origin(self.base_url)} | (_OFFICIAL if _origin(self.base_url) in _OFFICIAL else set())
        if _origin(bill.download_url) not in allowed:
            raise _malformed("The bill download address is not WeChat Pay's.")
        resp = self._send("GET", bill.download_url, b"")
        if not sign.bill_digest_matches(resp.content, bill.hash_type, bill.hash_value):
            raise ProviderError("payment.provider_bill_mismatch", "The downloaded bill does not match its digest.", provider=NAME)
        try:
            return sign.parse_trade_bill(resp.content)
        except sign.Refused as exc:
            raise _malformed(exc.detail) from None

    def fetch_trade_bill(self, bill_date: date | str, bill_type: str = "ALL") -> sign.TradeBill:
        return self.download_bill(self.trade_bill(bill_date, bill_type))

    # --- notifications ---

    def _open(self, headers: Mapping[str, str], body: bytes, now: datetime) -> tuple[str, dict[str, Any]]:
        """Verify a notification and decrypt its resource: (event_type, the resource), for this merchant."""
        event, data = self.open_notification(headers, body, now)
        self._ours(data)
        return event, data

    def open_notification(self, headers: Mapping[str, str], body: bytes, now: datetime) -> tuple[str, dict[str, Any]]:
        """Verify a notification and decrypt its resource, whichever of this account's
        merchants it names (a service provider's key opens its sub-merchants' notifications:
        the caller finds which one it is for and parses it with that merchant's client)."""
        h = {k.lower(): v for k, v in headers.items()}
        try:
            sign.verify_signed(self._keys, h, body, int(now.timestamp()))
            try:
                envelope = json.loads(body)
                event, res = envelope["event_type"], envelope["resource"]
                if not isinstance(event, str) or not isinstance(res, dict) or res.get("algorithm") != sign.AEAD:
                    raise TypeError
                nonce, ciphertext, aad = res["nonce"], res["ciphertext"], res.get("associated_data") or ""
                if not all(isinstance(v, str) for v in (nonce, ciphertext, aad)):
                    raise TypeError
            except (ValueError, KeyError, TypeError):
                raise sign.Refused(sign.MALFORMED, "The notification is not a WeChat Pay notification.") from None
            plain = sign.decrypt_resource(self.creds.apiv3_key, nonce, ciphertext, aad)
            try:
                data = json.loads(plain)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                raise sign.Refused(sign.MALFORMED, "The notification resource is not a JSON object.")
        except sign.Refused as exc:
            raise CallbackRefused(exc.code, exc.detail) from None
        return event, data

    def _ours(self, d: Mapping[str, Any]) -> None:
        c = self.creds
        # Payments and refunds name the provider sp_mchid, transfers mchid (or mch_id).
        provider = d.get("sp_mchid") or d.get("mchid") or d.get("mch_id")
        if provider != c.mchid or (d.get("sub_mchid") or "") != c.sub_mchid:
            raise CallbackRefused(sign.MALFORMED, "The notification is for another merchant.")

    def parse_notification(self, headers: Mapping[str, str], body: bytes, now: datetime) -> Callback | RefundNotice | TransferNotice:
        """A verified notification: a payment (TRANSACTION.SUCCESS) as the port's
        ``Callback``, a refund (REFUND.SUCCESS / ABNORMAL / CLOSED) as a ``RefundNotice``,
        a finished transfer (MCHTRANSFER.BILL.FINISHED) as a ``TransferNotice``."""
        event, d = self._open(headers, body, now)
        try:
            if event == "TRANSACTION.SUCCESS":
                amount = _object(d, "amount", where="notification")
                return Callback(_text(d, "out_trade_no", where="notification"), _fen(amount, "total", where="notification"),
                                _text(d, "transaction_id", where="notification"), _text(d, "trade_state", where="notification"), _payer(d))
            if event in ("REFUND.SUCCESS", "REFUND.ABNORMAL", "REFUND.CLOSED"):
                amount = _object(d, "amount", where="notification")
                status = _text(d, "refund_status", where="notification")
                if status not in ("SUCCESS", "ABNORMAL", "CLOSED"):
                    raise _Bad(f"unknown refund status {status[:20]!r}")
                return RefundNotice(_text(d, "out_refund_no", where="notification"), _text(d, "refund_id", where="notification"),
                                    _text(d, "out_trade_no", where="notification"), _text(d, "transaction_id", where="notification"),
                                    status, _fen(amount, "refund", where="notification"), _fen(amount, "total", where="notification"),
                                    _fen(amount, "payer_refund", required=False, where="notification"), _text(d, "success_time", required=False, where="notification"))
            if event == "MCHTRANSFER.BILL.FINISHED":
                return TransferNotice(_text(d, "out_bill_no", where="notification"), _text(d, "transfer_bill_no", where="notification"),
                                      _text(d, "state", where="notification"), _fen(d, "transfer_amount", where="notification"),
                                      _text(d, "openid", where="notification"), _text(d, "fail_reason", required=False, where="notification"))
        except _Bad as exc:
            raise CallbackRefused(sign.MALFORMED, f"The notification is malformed: {exc}.") from None
        raise CallbackRefused(sign.MALFORMED, f"Not a notification Linli takes ({event[:40]}).")

    def parse_callback(self, headers: Mapping[str, str], body: bytes, now: datetime, expected_amount: int | None = None) -> Callback:
        """A verified payment notification as the port's ``Callback`` (gateway_ref =
        out_trade_no, amount = amount.total in fen, txn = transaction_id, status =
        trade_state, payer = the openid). With ``expected_amount``, another amount is refused
        (``payment.amount_mismatch``), as the payment service refuses it."""
        cb = self.parse_notification(headers, body, now)
        if not isinstance(cb, Callback):
            raise CallbackRefused(sign.MALFORMED, "Not a payment notification.")
        if expected_amount is not None and cb.amount != expected_amount:
            raise CallbackRefused("payment.amount_mismatch", "The notification amount differs from the payment.")
        return cb
