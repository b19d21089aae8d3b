"""A local fake of WeChat Pay API v3, served over real HTTP (tests/payments/conftest.py).

It behaves like WeChat Pay where it matters to us, from the documentation and written here
again, independently of ``linli.payments.providers.wechatpay_sign`` (a bug there must not
be mirrored here):

* every request must carry ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid=…,nonce_str=…,
  signature=…,timestamp=…,serial_no=…`` signed over ``METHOD\\nPATH?QUERY\\nTS\\nNONCE\\nBODY\\n``
  with the merchant's API key (checked with its public key, the serial and a 5-minute
  window), else ``401 SIGN_ERROR``; a ``Wechatpay-Serial`` it does not know is ``400``;
* every 2xx answer is signed over ``TS\\nNONCE\\nBODY\\n`` with its platform key pair and
  names ``serial`` (the public key id ``PUB_KEY_ID_…``, or a certificate serial a test sets);
* orders (direct ``/v3/pay/transactions/…`` and partner ``/v3/pay/partner/transactions/…``),
  refunds (idempotent by ``out_refund_no``), merchant transfers (idempotent by
  ``out_bill_no``) and trade bills live in memory.

Test controls: ``pay`` (the buyer pays: builds the TRANSACTION.SUCCESS notification and can
POST it to the notify_url), ``notification_for`` (the notification again — a duplicate —
or late, tampered, with a wrong amount, an unknown serial, under a wrong APIv3 key, or with
a resource of the test's choosing), ``settle_refund`` (PROCESSING → SUCCESS / CLOSED /
ABNORMAL, with its notification), ``settle_transfer`` (the payee confirms: SUCCESS, or FAIL /
CANCELLED), ``transfer_state`` (the state new transfers take: WAIT_USER_CONFIRM, SUCCESS,
FAIL …), ``refuse_transfers`` (a provider code new transfers are refused with),
``make_bill`` (with planted differences) / ``corrupt_bill``, and
``delay`` (a slow answer; ``arrived`` is set when a request comes), ``faults``: one per coming answer — ``unavailable`` (500, nothing done), ``lost`` (done,
then 500: the sender cannot know), ``throttled`` (429), ``tamper`` (body changed after
signing), ``unknown_serial``, ``stale`` (signed 10 minutes ago), ``unsigned``, ``garbage``
(signed, not JSON), ``wrong_shape`` (signed JSON without the documented fields).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

PUBLIC_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
CHINA = timezone(timedelta(hours=8))
_AUTH = re.compile(r'WECHATPAY2-SHA256-RSA2048 (.+)')
_PAIR = re.compile(r'(\w+)="([^"]*)"')


def _now_text(t: float) -> str:
    return datetime.fromtimestamp(t, CHINA).isoformat(timespec="seconds")


@dataclass
class Merchant:
    mchid: str
    serial_no: str
    public_key: rsa.RSAPublicKey
    sub_mchids: set[str] = field(default_factory=set)


@dataclass
class Order:
    account: str  # mchid, or the sub_mchid in partner mode
    sp_mchid: str  # "" for a direct merchant
    appid: str
    sub_appid: str
    out_trade_no: str
    description: str
    total: int
    notify_url: str
    trade_type: str
    openid: str = ""  # the payer the order was made for (JSAPI), or who paid
    state: str = "NOTPAY"
    prepay_id: str = ""
    transaction_id: str = ""
    success_time: str = ""
    refunded: int = 0


@dataclass
class RefundRec:
    account: str
    sp_mchid: str
    order: Order
    out_refund_no: str
    refund_id: str
    amount: int
    notify_url: str
    status: str = "PROCESSING"
    create_time: str = ""
    success_time: str = ""


@dataclass
class TransferRec:
    account: str
    sp_mchid: str
    appid: str
    out_bill_no: str
    transfer_bill_no: str
    openid: str
    amount: int
    remark: str
    notify_url: str
    state: str
    fail_reason: str = ""
    create_time: str = ""
    update_time: str = ""


class FakeWechatPay:
    def __init__(self, platform_key: rsa.RSAPrivateKey, apiv3_key: str) -> None:
        self.key = platform_key
        self.apiv3_key = apiv3_key
        self.public_key_id = PUBLIC_KEY_ID
        self.serial = PUBLIC_KEY_ID  # what the answers and notifications are signed under
        self.serials = {PUBLIC_KEY_ID}  # what a request's Wechatpay-Serial may name
        self.clock = time.time
        self.url = ""
        self.merchants: dict[str, Merchant] = {}
        self.orders: dict[tuple[str, str], Order] = {}
        self.refunds: dict[tuple[str, str], RefundRec] = {}
        self.transfers: dict[tuple[str, str], TransferRec] = {}
        self.bills: dict[tuple[str, str], bytes] = {}
        self.bill_digests: dict[tuple[str, str], str] = {}
        self.tokens: dict[str, tuple[str, str]] = {}
        self.faults: list[str] = []
        self.delay = 0.0  # seconds each authenticated request takes to answer (a slow provider)
        self.arrived = threading.Event()  # set when an authenticated request arrives
        self.transfer_state = "WAIT_USER_CONFIRM"
        self.refuse_transfers: str | None = None
        self.seen: list[tuple[str, str]] = []  # (method, path) of every authenticated request
        self.refused: list[str] = []  # why requests were refused (401 / 400 of ours)
        self.lock = threading.RLock()
        self.app = Starlette(routes=[
            Route("/v3/pay/transactions/{kind:str}", self._prepay, methods=["POST"]),
            Route("/v3/pay/partner/transactions/{kind:str}", self._prepay, methods=["POST"]),
            Route("/v3/pay/transactions/out-trade-no/{no:str}", self._query, methods=["GET"]),
            Route("/v3/pay/partner/transactions/out-trade-no/{no:str}", self._query, methods=["GET"]),
            Route("/v3/pay/transactions/out-trade-no/{no:str}/close", self._close, methods=["POST"]),
            Route("/v3/pay/partner/transactions/out-trade-no/{no:str}/close", self._close, methods=["POST"]),
            Route("/v3/refund/domestic/refunds", self._refund, methods=["POST"]),
            Route("/v3/refund/domestic/refunds/{no:str}", self._refund_query, methods=["GET"]),
            Route("/v3/fund-app/mch-transfer/transfer-bills", self._transfer, methods=["POST"]),
            Route("/v3/fund-app/mch-transfer/partner/transfer-bills", self._transfer, methods=["POST"]),
            Route("/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{no:str}", self._transfer_query, methods=["GET"]),
            Route("/v3/fund-app/mch-transfer/partner/transfer-bills/out-bill-no/{no:str}", self._transfer_query, methods=["GET"]),
            Route("/v3/bill/tradebill", self._tradebill, methods=["GET"]),
            Route("/v3/billdownload/file", self._download, methods=["GET"]),
        ])

    # --- set-up ---

    def add_merchant(self, mchid: str, serial_no: str, public_key: rsa.RSAPublicKey, sub_mchids: tuple[str, ...] = ()) -> None:
        self.merchants[mchid] = Merchant(mchid, serial_no, public_key, set(sub_mchids))

    def public_key_pem(self) -> str:
        return self.key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    # --- signing, its own way ---

    def _signature(self, ts: str, nonce: str, body: bytes, key: rsa.RSAPrivateKey | None = None) -> str:
        message = ts.encode() + b"\n" + nonce.encode() + b"\n" + body + b"\n"
        return base64.b64encode((key or self.key).sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()

    def signed_headers(self, body: bytes, *, ts: int | None = None, serial: str | None = None) -> dict[str, str]:
        stamp = str(int(self.clock()) if ts is None else ts)
        nonce = secrets.token_hex(16)
        return {"Wechatpay-Timestamp": stamp, "Wechatpay-Nonce": nonce, "Wechatpay-Signature": self._signature(stamp, nonce, body),
                "Wechatpay-Serial": serial or self.serial, "Wechatpay-Signature-Type": "WECHATPAY2-SHA256-RSA2048",
                "Request-ID": secrets.token_hex(12)}

    def _error(self, status: int, code: str, message: str) -> Response:
        return Response(json.dumps({"code": code, "message": message}, ensure_ascii=False).encode(), status, media_type="application/json")

    def _answer(self, status: int, obj: dict[str, Any] | None, fault: str | None) -> Response:
        body = b"" if obj is None else json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode()
        if fault == "garbage":
            body = b"<html>upstream error</html>"
        elif fault == "wrong_shape":
            body = b'{"unexpected":true}'
            status = 200
        headers = self.signed_headers(body, ts=int(self.clock()) - 600 if fault == "stale" else None,
                                      serial="PUB_KEY_ID_0000000000000000000000000099" if fault == "unknown_serial" else None)
        if fault == "tamper":
            body = body.replace(b":", b": ", 1) if body else b" "
        if fault == "unsigned":
            headers = {"Request-ID": headers["Request-ID"]}
        return Response(body, status, headers=headers, media_type="application/json" if body else None)

    def _fault(self) -> str | None:
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    async def _authenticate(self, request: Request) -> tuple[Merchant | None, bytes, Response | None]:
        body = await request.body()
        url = request.scope["raw_path"].decode()
        if request.scope["query_string"]:
            url += "?" + request.scope["query_string"].decode()
        m = _AUTH.fullmatch(request.headers.get("authorization", ""))
        fields = dict(_PAIR.findall(m.group(1))) if m else {}
        merchant = self.merchants.get(fields.get("mchid", ""))
        why = None
        if not {"mchid", "nonce_str", "signature", "timestamp", "serial_no"} <= fields.keys():
            why = "Http头Authorization值格式错误"
        elif merchant is None or fields["serial_no"] != merchant.serial_no:
            why = "商户证书序列号有误"
        elif not fields["timestamp"].isdigit() or abs(int(fields["timestamp"]) - self.clock()) > 300:
            why = "时间戳超出有效范围"
        else:
            message = f"{request.method}\n{url}\n{fields['timestamp']}\n{fields['nonce_str']}\n".encode() + body + b"\n"
            try:
                merchant.public_key.verify(base64.b64decode(fields["signature"]), message, padding.PKCS1v15(), hashes.SHA256())
            except (InvalidSignature, ValueError):
                why = "签名错误"
        if why is not None:
            self.refused.append(why)
            return None, body, self._error(401, "SIGN_ERROR", why)
        serial = request.headers.get("wechatpay-serial")
        if serial is not None and serial not in self.serials:
            self.refused.append("Wechatpay-Serial")
            return None, body, self._error(400, "PARAM_ERROR", "Wechatpay-Serial 平台证书序列号或微信支付公钥ID有误")
        with self.lock:
            self.seen.append((request.method, request.url.path))
        return merchant, body, None

    @staticmethod
    def _json(body: bytes) -> dict[str, Any] | None:
        try:
            data = json.loads(body)
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _account(self, merchant: Merchant, partner: bool, sub_mchid: Any) -> str | None:
        if not partner:
            return merchant.mchid
        return sub_mchid if isinstance(sub_mchid, str) and sub_mchid in merchant.sub_mchids else None

    async def _handle(self, request: Request, work) -> Response:
        merchant, body, refused = await self._authenticate(request)
        if refused is not None:
            return refused
        self.arrived.set()
        if self.delay:
            await asyncio.sleep(self.delay)
        fault = self._fault()
        if fault == "unavailable":
            return self._error(500, "SYSTEM_ERROR", "系统错误")
        if fault == "throttled":
            return self._error(429, "FREQUENCY_LIMITED", "频率超限")
        with self.lock:
            result = work(merchant, body, request)
        if isinstance(result, Response):
            return result
        if fault == "lost":
            return self._error(500, "SYSTEM_ERROR", "系统错误")
        status, obj = result
        return self._answer(status, obj, fault)

    # --- payments ---

    async def _prepay(self, request: Request) -> Response:
        return await self._handle(request, self._do_prepay)

    def _do_prepay(self, merchant: Merchant, body: bytes, request: Request):
        kind = request.path_params["kind"]
        partner = "/partner/" in request.url.path
        d = self._json(body)
        if kind not in ("jsapi", "h5") or d is None:
            return self._error(400, "PARAM_ERROR", "参数错误")
        if partner:
            account = self._account(merchant, True, d.get("sub_mchid"))
            if d.get("sp_mchid") != merchant.mchid or account is None or not d.get("sp_appid"):
                return self._error(400, "PARAM_ERROR", "sp_mchid/sub_mchid 与调用商户不符")
            appid, sub_appid = d["sp_appid"], d.get("sub_appid", "")
        else:
            account = merchant.mchid
            if d.get("mchid") != merchant.mchid or not d.get("appid"):
                return self._error(400, "PARAM_ERROR", "mchid 与调用商户不符")
            appid, sub_appid = d["appid"], ""
        amount = d.get("amount") if isinstance(d.get("amount"), dict) else {}
        total = amount.get("total")
        no, description, notify = d.get("out_trade_no"), d.get("description"), d.get("notify_url")
        if not (isinstance(total, int) and not isinstance(total, bool) and total > 0 and isinstance(no, str) and re.fullmatch(r"[0-9A-Za-z_\-|*]{6,32}", no)
                and isinstance(description, str) and description and isinstance(notify, str) and notify.startswith("http")):
            return self._error(400, "PARAM_ERROR", "输入源“/body/amount/total”等参数格式有误")
        openid = ""
        if kind == "jsapi":
            payer = d.get("payer") if isinstance(d.get("payer"), dict) else {}
            openid = payer.get("sub_openid") if partner and sub_appid else payer.get("sp_openid") if partner else payer.get("openid")
            if not isinstance(openid, str) or not openid:
                return self._error(400, "PARAM_ERROR", "缺少参数 payer.openid")
        else:
            scene = d.get("scene_info") if isinstance(d.get("scene_info"), dict) else {}
            if not scene.get("payer_client_ip") or not isinstance(scene.get("h5_info"), dict) or not scene["h5_info"].get("type"):
                return self._error(400, "PARAM_ERROR", "缺少参数 scene_info")
        key = (account, no)
        existing = self.orders.get(key)
        if existing is not None:
            if existing.state in ("SUCCESS", "REFUND"):
                return self._error(400, "ORDERPAID", "该订单已支付")
            if existing.state == "CLOSED":
                return self._error(400, "ORDER_CLOSED", "订单已关闭")
            if (existing.total, existing.description, existing.trade_type) != (total, description, kind.upper()):
                return self._error(400, "INVALID_REQUEST", "201 商户订单号重复")
            order = existing
        else:
            order = Order(account, merchant.mchid if partner else "", appid, sub_appid, no, description, total, notify, kind.upper(), openid,
                          prepay_id=f"wx{datetime.now(CHINA):%d%H%M%S}{secrets.token_hex(12)}")
            self.orders[key] = order
        if kind == "jsapi":
            return 200, {"prepay_id": order.prepay_id}
        return 200, {"h5_url": f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id={order.prepay_id}&package={secrets.randbelow(10**10)}"}

    def _transaction(self, o: Order) -> dict[str, Any]:
        d: dict[str, Any] = ({"sp_appid": o.appid, "sp_mchid": o.sp_mchid, "sub_mchid": o.account} if o.sp_mchid else {"appid": o.appid, "mchid": o.account})
        if o.sub_appid:
            d["sub_appid"] = o.sub_appid
        d.update({"out_trade_no": o.out_trade_no, "trade_type": o.trade_type, "trade_state": o.state,
                  "trade_state_desc": {"NOTPAY": "未支付", "SUCCESS": "支付成功", "CLOSED": "已关闭", "REFUND": "转入退款"}[o.state],
                  "attach": "", "amount": {"total": o.total, "currency": "CNY"}})
        if o.state in ("SUCCESS", "REFUND"):
            d.update({"transaction_id": o.transaction_id, "bank_type": "OTHERS", "success_time": o.success_time})
            d["amount"].update({"payer_total": o.total, "payer_currency": "CNY"})
            d["payer"] = ({"sub_openid": o.openid} if o.sub_appid else {"sp_openid": o.openid}) if o.sp_mchid else {"openid": o.openid}
        return d

    def _order_for(self, merchant: Merchant, request: Request) -> Order | Response:
        partner = "/partner/" in request.url.path
        q = request.query_params
        if partner:
            account = self._account(merchant, True, q.get("sub_mchid"))
            if q.get("sp_mchid") != merchant.mchid or account is None:
                return self._error(400, "PARAM_ERROR", "sp_mchid/sub_mchid 有误")
        else:
            account = merchant.mchid
            if q.get("mchid", merchant.mchid) != merchant.mchid:
                return self._error(400, "PARAM_ERROR", "mchid 有误")
        order = self.orders.get((account, request.path_params["no"]))
        return order if order is not None else self._error(404, "ORDER_NOT_EXIST", "订单不存在")

    async def _query(self, request: Request) -> Response:
        def work(merchant, body, request):
            order = self._order_for(merchant, request)
            return order if isinstance(order, Response) else (200, self._transaction(order))
        return await self._handle(request, work)

    async def _close(self, request: Request) -> Response:
        def work(merchant, body, request):
            d = self._json(body) or {}
            partner = "/partner/" in request.url.path
            ok = (d.get("sp_mchid") == merchant.mchid and d.get("sub_mchid") in merchant.sub_mchids) if partner else d.get("mchid") == merchant.mchid
            if not ok:
                return self._error(400, "PARAM_ERROR", "mchid 有误")
            order = self.orders.get((d["sub_mchid"] if partner else merchant.mchid, request.path_params["no"]))
            if order is None:
                return self._error(404, "ORDER_NOT_EXIST", "订单不存在")
            if order.state in ("SUCCESS", "REFUND"):
                return self._error(400, "ORDERPAID", "该订单已支付")
            order.state = "CLOSED"
            return 204, None
        return await self._handle(request, work)

    # --- refunds ---

    def _refund_body(self, r: RefundRec) -> dict[str, Any]:
        return {"refund_id": r.refund_id, "out_refund_no": r.out_refund_no, "transaction_id": r.order.transaction_id,
                "out_trade_no": r.order.out_trade_no, "channel": "ORIGINAL", "user_received_account": "支付用户零钱",
                "success_time": r.success_time or None, "create_time": r.create_time, "status": r.status, "funds_account": "AVAILABLE",
                "amount": {"total": r.order.total, "refund": r.amount, "from": [], "payer_total": r.order.total, "payer_refund": r.amount,
                           "settlement_refund": r.amount, "settlement_total": r.order.total, "discount_refund": 0, "currency": "CNY", "refund_fee": 0},
                "promotion_detail": []}

    async def _refund(self, request: Request) -> Response:
        def work(merchant, body, request):
            d = self._json(body)
            if d is None:
                return self._error(400, "PARAM_ERROR", "参数错误")
            partner = "sub_mchid" in d
            account = self._account(merchant, partner, d.get("sub_mchid"))
            amount = d.get("amount") if isinstance(d.get("amount"), dict) else {}
            refund, total, no = amount.get("refund"), amount.get("total"), d.get("out_refund_no")
            if account is None or not (isinstance(refund, int) and refund > 0 and isinstance(total, int) and isinstance(no, str) and no):
                return self._error(400, "PARAM_ERROR", "参数错误")
            order = self.orders.get((account, d.get("out_trade_no", "")))
            if order is None:
                return self._error(404, "RESOURCE_NOT_EXISTS", "订单不存在")
            existing = self.refunds.get((account, no))
            if existing is not None:
                if existing.order is not order or existing.amount != refund:
                    return self._error(400, "INVALID_REQUEST", "商户退款单号已存在，请核实")
                return 200, self._refund_body(existing)
            if order.state not in ("SUCCESS", "REFUND"):
                return self._error(400, "INVALID_REQUEST", "订单未支付，不能发起退款")
            if total != order.total:
                return self._error(400, "PARAM_ERROR", "订单金额与实际支付金额不一致")
            if order.refunded + refund > order.total:
                return self._error(400, "INVALID_REQUEST", "申请退款金额超过订单可退金额")
            rec = RefundRec(account, merchant.mchid if partner else "", order, no, f"50{secrets.randbelow(10**27):027d}", refund,
                            d.get("notify_url") or order.notify_url, create_time=_now_text(self.clock()))
            self.refunds[(account, no)] = rec
            order.refunded += refund
            order.state = "REFUND"
            return 200, self._refund_body(rec)
        return await self._handle(request, work)

    async def _refund_query(self, request: Request) -> Response:
        def work(merchant, body, request):
            sub = request.query_params.get("sub_mchid")
            account = self._account(merchant, sub is not None, sub)
            rec = self.refunds.get((account or "", request.path_params["no"]))
            return self._error(404, "RESOURCE_NOT_EXISTS", "退款单不存在") if rec is None else (200, self._refund_body(rec))
        return await self._handle(request, work)

    # --- merchant transfers ---

    def _transfer_body(self, t: TransferRec, *, created: bool) -> dict[str, Any]:
        if created:
            d = {"out_bill_no": t.out_bill_no, "transfer_bill_no": t.transfer_bill_no, "create_time": t.create_time, "state": t.state}
            if t.state == "WAIT_USER_CONFIRM":
                d["package_info"] = "ABBQO+oYAAABAAAAAAAk+yPZGrkAAAAA" + hashlib.sha1(t.transfer_bill_no.encode()).hexdigest()
        else:
            d = {"mch_id": t.sp_mchid or t.account, "out_bill_no": t.out_bill_no, "transfer_bill_no": t.transfer_bill_no, "appid": t.appid,
                 "state": t.state, "transfer_amount": t.amount, "transfer_remark": t.remark, "openid": t.openid,
                 "create_time": t.create_time, "update_time": t.update_time}
            if t.sp_mchid:
                d.update({"mchid": t.sp_mchid, "sub_mchid": t.account})
        if t.fail_reason:
            d["fail_reason"] = t.fail_reason
        return d

    async def _transfer(self, request: Request) -> Response:
        def work(merchant, body, request):
            d = self._json(body)
            partner = "/partner/" in request.url.path
            if d is None:
                return self._error(400, "PARAM_ERROR", "参数错误")
            account = self._account(merchant, partner, d.get("sub_mchid"))
            no, amount, openid = d.get("out_bill_no"), d.get("transfer_amount"), d.get("openid")
            infos = d.get("transfer_scene_report_infos")
            if (account is None or not (isinstance(no, str) and re.fullmatch(r"[0-9A-Za-z]{5,32}", no)) or not isinstance(amount, int) or amount <= 0
                    or not openid or not d.get("appid") or not d.get("transfer_scene_id") or not d.get("transfer_remark")
                    or not (isinstance(infos, list) and infos and all(isinstance(i, dict) and i.get("info_type") and i.get("info_content") for i in infos))):
                return self._error(400, "PARAM_ERROR", "参数错误")
            existing = self.transfers.get((account, no))
            if existing is not None:
                if (existing.openid, existing.amount) != (openid, amount):
                    return self._error(400, "INVALID_REQUEST", "商户单号重复，但请求参数不一致")
                return 200, self._transfer_body(existing, created=True)
            if self.refuse_transfers:
                return self._error(403, self.refuse_transfers, "商户运营账户资金不足" if self.refuse_transfers == "NOT_ENOUGH" else "转账被拒绝")
            stamp = _now_text(self.clock())
            t = TransferRec(account, merchant.mchid if partner else "", d["appid"], no, f"1330{secrets.randbelow(10**36):036d}", openid, amount,
                            d["transfer_remark"], d.get("notify_url", ""), self.transfer_state, create_time=stamp, update_time=stamp)
            if t.state == "FAIL":
                t.fail_reason = "PAYEE_ACCOUNT_ABNORMAL"
            self.transfers[(account, no)] = t
            return 200, self._transfer_body(t, created=True)
        return await self._handle(request, work)

    async def _transfer_query(self, request: Request) -> Response:
        def work(merchant, body, request):
            partner = "/partner/" in request.url.path
            account = self._account(merchant, partner, request.query_params.get("sub_mchid"))
            t = self.transfers.get((account or "", request.path_params["no"]))
            return self._error(404, "NOT_FOUND", "记录不存在") if t is None else (200, self._transfer_body(t, created=False))
        return await self._handle(request, work)

    # --- bills ---

    async def _tradebill(self, request: Request) -> Response:
        def work(merchant, body, request):
            q = request.query_params
            sub = q.get("sub_mchid")
            account = self._account(merchant, sub is not None, sub)
            key = (account or "", q.get("bill_date", ""))
            if key not in self.bills:
                return self._error(400, "NO_STATEMENT_EXIST", "账单文件不存在")
            token = secrets.token_urlsafe(24)
            self.tokens[token] = key
            return 200, {"hash_type": "SHA1", "hash_value": self.bill_digests[key], "download_url": f"{self.url}/v3/billdownload/file?token={token}"}
        return await self._handle(request, work)

    async def _download(self, request: Request) -> Response:
        merchant, body, refused = await self._authenticate(request)
        if refused is not None:
            return refused
        key = self.tokens.get(request.query_params.get("token", ""))
        if key is None:
            return self._error(400, "INVALID_REQUEST", "token 无效")
        return Response(self.bills[key], 200, media_type="application/octet-stream")  # the file is not signed

    BILL_HEADER = ("交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,"
                   "代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注")

    def make_bill(self, bill_date: str, account: str, *, leave_out: tuple[str, ...] = (), amounts: dict[str, int] | None = None,
                  extra: tuple[tuple[str, int], ...] = ()) -> bytes:
        """The day's ALL bill of ``account``: every paid order, and every refund, as rows.
        Planted differences: ``leave_out`` (out_trade_nos the bill does not list), ``amounts``
        (out_trade_no → the order amount the bill says instead), ``extra`` ((out_trade_no,
        fen) of payments only WeChat Pay knows of)."""
        amounts = amounts or {}
        def yuan(fen: int) -> str:
            return f"{'-' if fen < 0 else ''}{abs(fen) // 100}.{abs(fen) % 100:02d}"

        def row(*fields: str) -> str:
            return ",".join("`" + f for f in fields)
        lines = [self.BILL_HEADER]
        count = settled = refunded = ordered = 0
        with self.lock:
            paid = [o for o in self.orders.values() if o.account == account and o.state in ("SUCCESS", "REFUND") and o.out_trade_no not in leave_out]
            template = paid[0] if paid else None
            for no, fen in extra:
                base = template or Order(account, "", "wx0000000000000000", "", no, "Linli", fen, "", "JSAPI")
                paid.append(Order(base.account, base.sp_mchid, base.appid, base.sub_appid, no, base.description, fen, "", base.trade_type,
                                  "o" + secrets.token_hex(13), "SUCCESS", "", f"4200{secrets.randbelow(10**24):024d}", _now_text(self.clock())))
            for o in paid:
                total = amounts.get(o.out_trade_no, o.total)
                count, settled, ordered = count + 1, settled + total, ordered + total
                lines.append(row(o.success_time.replace("T", " ")[:19], o.appid, o.sp_mchid or o.account, o.account if o.sp_mchid else "0", "",
                                 o.transaction_id, o.out_trade_no, o.openid, o.trade_type, "SUCCESS", "OTHERS", "CNY", yuan(total), "0.00",
                                 "0", "0", "0.00", "0.00", "", "", f"{o.description},含逗号", "", "0.00600", "0.60%", yuan(total), "0.00", ""))
            for r in self.refunds.values():
                if r.account != account:
                    continue
                o = r.order
                count, refunded = count + 1, refunded + r.amount
                lines.append(row(r.create_time.replace("T", " ")[:19], o.appid, o.sp_mchid or o.account, o.account if o.sp_mchid else "0", "",
                                 o.transaction_id, o.out_trade_no, o.openid, o.trade_type, "REFUND", "OTHERS", "CNY", "0.00", "0.00",
                                 r.refund_id, r.out_refund_no, yuan(r.amount), "0.00", "ORIGINAL", r.status, o.description, "", "-0.00600", "0.60%",
                                 "0.00", yuan(r.amount), ""))
        lines.append("总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额")
        lines.append(row(str(count), yuan(settled), yuan(refunded), "0.00", "0.00000", yuan(ordered), yuan(refunded)))
        data = ("\r\n".join(lines) + "\r\n").encode()
        with self.lock:
            self.bills[(account, bill_date)] = data
            self.bill_digests[(account, bill_date)] = hashlib.sha1(data).hexdigest()
        return data

    def corrupt_bill(self, bill_date: str, account: str) -> None:
        """The file changes after its digest was given (a truncated or altered download)."""
        with self.lock:
            self.bills[(account, bill_date)] = self.bills[(account, bill_date)][:-10] + b"`9.99\r\n"

    # --- the buyer, the payee and WeChat Pay's own doings ---

    def _find_order(self, out_trade_no: str, account: str | None) -> Order:
        with self.lock:
            found = [o for (acct, no), o in self.orders.items() if no == out_trade_no and (account is None or acct == account)]
        if len(found) != 1:
            raise KeyError(f"{len(found)} orders {out_trade_no!r}")
        return found[0]

    def pay(self, out_trade_no: str, payer_openid: str | None = None, *, account: str | None = None, deliver: bool = False) -> tuple[dict[str, str], bytes]:
        """The buyer pays the order: it becomes SUCCESS and its TRANSACTION.SUCCESS
        notification is built (and POSTed to its notify_url when ``deliver``)."""
        o = self._find_order(out_trade_no, account)
        with self.lock:
            if o.state == "NOTPAY":
                o.state = "SUCCESS"
                o.openid = payer_openid or o.openid or "o" + secrets.token_hex(13)
                o.transaction_id = f"4200{secrets.randbelow(10**24):024d}"
                o.success_time = _now_text(self.clock())
        headers, body = self.notification_for(out_trade_no, account=account)
        if deliver:
            self.deliver(o.notify_url, headers, body)
        return headers, body

    def notification_for(self, out_trade_no: str, *, account: str | None = None, amount: int | None = None, ts: int | None = None,
                         tamper: bool = False, serial: str | None = None, apiv3_key: str | None = None,
                         resource: dict[str, Any] | bytes | None = None) -> tuple[dict[str, str], bytes]:
        """A TRANSACTION.SUCCESS notification of a paid order (call again: a duplicate).
        ``amount`` signs another amount.total, ``ts`` another time (late), ``tamper`` changes
        the body after signing, ``serial`` names another key, ``apiv3_key`` encrypts under
        another key, ``resource`` replaces the decrypted document."""
        o = self._find_order(out_trade_no, account)
        with self.lock:
            doc = self._transaction(o)
        if amount is not None:
            doc["amount"] = {**doc["amount"], "total": amount, "payer_total": amount}
        return self._notification("TRANSACTION.SUCCESS", "transaction", "支付成功", doc if resource is None else resource,
                                  ts=ts, tamper=tamper, serial=serial, apiv3_key=apiv3_key)

    def _notification(self, event: str, original: str, summary: str, doc: dict[str, Any] | bytes, *, ts: int | None = None,
                      tamper: bool = False, serial: str | None = None, apiv3_key: str | None = None) -> tuple[dict[str, str], bytes]:
        plain = doc if isinstance(doc, bytes) else json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        nonce, aad = secrets.token_hex(6), original
        ciphertext = base64.b64encode(AESGCM((apiv3_key or self.apiv3_key).encode()).encrypt(nonce.encode(), plain, aad.encode())).decode()
        envelope = {"id": secrets.token_hex(18), "create_time": _now_text(self.clock() if ts is None else ts), "resource_type": "encrypt-resource",
                    "event_type": event, "summary": summary,
                    "resource": {"original_type": original, "algorithm": "AEAD_AES_256_GCM", "ciphertext": ciphertext, "associated_data": aad, "nonce": nonce}}
        body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
        headers = self.signed_headers(body, ts=ts, serial=serial)
        headers["Content-Type"] = "application/json"
        if tamper:
            body = body.replace(b'"event_type"', b'"event_type" ', 1)
        return headers, body

    def deliver(self, url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
        """POST a notification to the merchant, as WeChat Pay does."""
        return httpx.post(url, content=body, headers=headers, timeout=5)

    def settle_refund(self, out_refund_no: str, status: str = "SUCCESS", *, account: str | None = None) -> tuple[dict[str, str], bytes]:
        """The refund finishes (SUCCESS / CLOSED / ABNORMAL); its REFUND.* notification."""
        with self.lock:
            found = [r for (acct, no), r in self.refunds.items() if no == out_refund_no and (account is None or acct == account)]
            r = found[0]
            r.status = status
            if status == "SUCCESS":
                r.success_time = _now_text(self.clock())
            o = r.order
            doc = {"out_trade_no": o.out_trade_no, "transaction_id": o.transaction_id, "out_refund_no": r.out_refund_no, "refund_id": r.refund_id,
                   "refund_status": status, "user_received_account": "支付用户零钱",
                   "amount": {"total": o.total, "refund": r.amount, "payer_total": o.total, "payer_refund": r.amount}}
            if r.success_time:
                doc["success_time"] = r.success_time
            doc.update({"sp_mchid": r.sp_mchid, "sub_mchid": r.account} if r.sp_mchid else {"mchid": r.account})
        return self._notification(f"REFUND.{status}", "refund", "退款" + {"SUCCESS": "成功", "CLOSED": "关闭", "ABNORMAL": "异常"}[status], doc)

    def settle_transfer(self, out_bill_no: str, state: str = "SUCCESS", fail_reason: str = "", *, account: str | None = None) -> tuple[dict[str, str], bytes]:
        """The transfer finishes: the payee confirmed (SUCCESS), or FAIL / CANCELLED; its
        MCHTRANSFER.BILL.FINISHED notification."""
        with self.lock:
            t = [t for (acct, no), t in self.transfers.items() if no == out_bill_no and (account is None or acct == account)][0]
            t.state, t.fail_reason, t.update_time = state, fail_reason, _now_text(self.clock())
            doc = {"out_bill_no": t.out_bill_no, "transfer_bill_no": t.transfer_bill_no, "state": state, "transfer_amount": t.amount,
                   "openid": t.openid, "create_time": t.create_time, "update_time": t.update_time}
            doc.update({"mchid": t.sp_mchid, "sub_mchid": t.account} if t.sp_mchid else {"mch_id": t.account})
            if fail_reason:
                doc["fail_reason"] = fail_reason
        return self._notification("MCHTRANSFER.BILL.FINISHED", "mch_payment", "商家转账单据终态通知", doc)
