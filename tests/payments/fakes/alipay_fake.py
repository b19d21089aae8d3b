"""A local fake of Alipay's open-platform gateway (``gateway.do``), served by the tests over
real HTTP on 127.0.0.1.

It behaves like Alipay where it matters to us, written from the docs again, independently
of ``linli.payments.providers.alipay_sign``:

- it verifies OUR RSA2 signature (every parameter but ``sign``, empty ones left out, sorted,
  ``k=v&…``) with our app public key, and refuses like the gateway: ``40002`` /
  ``isv.invalid-signature`` (unsigned), a wrong ``app_id``, ``sign_type``, ``charset`` or
  ``timestamp``, an unknown ``app_auth_token`` (``20001`` / ``aop.invalid-app-auth-token``);
- it signs ITS answers with its own key pair over the exact text of the ``<method>_response``
  node (written with ``\\/`` for ``/``, as Alipay does), and its notifications over the form
  fields but ``sign`` / ``sign_type``;
- it keeps trades, refunds and transfers in memory: ``alipay.trade.wap.pay`` (a GET of the
  page the buyer opens creates the trade), ``alipay.trade.query`` / ``close`` / ``refund`` /
  ``fastpay.refund.query``, ``alipay.fund.trans.uni.transfer`` / ``common.query``,
  ``alipay.data.dataservice.bill.downloadurl.query`` and the bill zip (GBK CSV);
- refunds are idempotent by ``out_request_no`` and transfers by ``out_biz_no``.

Test controls: ``buyer_pays`` / ``notification`` (with overrides: a wrong amount, another
app), ``tampered``, ``deliver``; ``refunds_pending`` + ``settle_refund``; ``transfer_script``
(``SUCCESS``, ``DEALING``, ``FAIL``, ``SYSTEM_ERROR`` = paid but answered as a system error,
``DROP`` = paid, the answer lost,
or a business sub_code such as ``PAYER_BALANCE_NOT_ENOUGH``) + ``finish_transfer``;
``publish_bill``; ``faults`` for the next answers (``503``, ``hang``, ``busy`` (code 20000), ``garbage``,
``unsigned``, ``tampered``, ``wrong_key``, ``bad_amount``).
"""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import re
import secrets
import threading
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import urlencode

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

APP_ID = "2021004100000001"
SELLER_ID = "2088621900000001"
BUYER_ID = "2088102177846880"
BEIJING = timezone(timedelta(hours=8))
CASHIER_ERROR = 400  # what the fake's cashier page answers for a request it refuses


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


def public_pem(key: rsa.RSAPublicKey) -> str:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def _sign(key: rsa.RSAPrivateKey, text: str) -> str:
    return base64.b64encode(key.sign(text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())).decode()


def _verify(key: rsa.RSAPublicKey, text: str, sign: str | None) -> bool:
    try:
        key.verify(base64.b64decode(sign or "", validate=True), text.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError):
        return False


def _yuan_to_fen(text: object) -> int | None:
    if not isinstance(text, str) or re.fullmatch(r"[0-9]+(\.[0-9]{1,2})?", text) is None:
        return None
    return int(Decimal(text) * 100)


def _yuan(fen: int) -> str:
    return f"{Decimal(fen) / 100:.2f}"


@dataclass
class FakeTrade:
    out_trade_no: str
    amount: int
    subject: str
    trade_no: str
    status: str = "WAIT_BUYER_PAY"
    buyer_id: str | None = None
    refunded: int = 0
    created: str = ""
    paid: str = ""


@dataclass
class FakeRefund:
    out_trade_no: str
    out_request_no: str
    amount: int
    settled: bool


@dataclass
class FakeTransfer:
    out_biz_no: str
    amount: int
    payee: str
    identity_type: str
    order_id: str
    pay_fund_order_id: str
    status: str
    fail_reason: str | None = None
    name: str | None = None  # the payee's real name (a login id is paid only with it)


class AlipayFake:
    def __init__(self, app_id: str, app_public_key: rsa.RSAPublicKey) -> None:
        self.key = new_key()  # Alipay's own pair
        self.app_id, self.app_public = app_id, app_public_key
        self.url = ""  # set once served
        self._release = threading.Event()
        self.reset()

    def reset(self) -> None:
        self.trades: dict[str, FakeTrade] = {}
        self.refunds: dict[tuple[str, str], FakeRefund] = {}
        self.transfers: dict[str, FakeTransfer] = {}
        self.bills: dict[str, tuple[str, bytes]] = {}  # bill_date → (token, zip)
        self.calls: list[dict[str, str]] = []  # the verified requests, in order
        self.refusals: list[str] = []  # the sub_codes the gateway refused with
        self.app_auth_tokens: set[str] = set()
        self.faults: list[str] = []
        self.transfer_script: list[str] = []
        self.refunds_pending = 0
        self._seq = 0

    def release(self) -> None:
        """Let every hanging request go (the fixture's teardown)."""
        self._release.set()

    @property
    def gateway_url(self) -> str:
        return f"{self.url}/gateway.do"

    @property
    def public_key_pem(self) -> str:
        return public_pem(self.key.public_key())

    def _next(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}{datetime.now(BEIJING):%Y%m%d}{self._seq:016d}"

    # --- HTTP -----------------------------------------------------------------------------

    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/gateway.do", self._gateway, methods=["GET", "POST"]),
            Route("/bill/{token}.zip", self._bill_file, methods=["GET"]),
        ])

    async def _gateway(self, request: Request) -> Response:
        fault = self.faults.pop(0) if self.faults else None
        if fault == "503":
            return PlainTextResponse("Service Unavailable", status_code=503)
        if fault == "hang":
            await asyncio.to_thread(self._release.wait, 10)
            return PlainTextResponse("too late", status_code=504)
        params = dict(request.query_params)
        if request.method == "POST":
            params.update(dict(await request.form()))
        method = params.get("method", "")
        refused = self._check(params)
        if request.method == "GET":  # the buyer's browser opening the cashier page
            return self._cashier(params, refused)
        if refused is not None:
            return self._answer(method, refused, signed=refused["code"] != "40002")
        try:
            biz = json.loads(params.get("biz_content") or "{}")
            assert isinstance(biz, dict)
        except (ValueError, AssertionError):
            return self._answer(method, self._error("40002", "Invalid Arguments", "isv.invalid-biz-content", "biz_content 不是合法的JSON"))
        self.calls.append(params)
        handler = {
            "alipay.trade.query": self._query,
            "alipay.trade.close": self._close,
            "alipay.trade.refund": self._refund,
            "alipay.trade.fastpay.refund.query": self._refund_query,
            "alipay.fund.trans.uni.transfer": self._transfer,
            "alipay.fund.trans.common.query": self._transfer_query,
            "alipay.data.dataservice.bill.downloadurl.query": self._bill_url,
        }.get(method)
        if handler is None:
            return self._answer(method, self._error("40002", "Invalid Arguments", "isv.invalid-method", "不存在的方法名"))
        node = handler(biz)
        if node.get("code") == "503":  # the transfer went through, the answer did not
            return PlainTextResponse("Service Unavailable", status_code=503)
        return self._answer(method, node, fault=fault)

    def _check(self, params: dict[str, str]) -> dict | None:
        """The gateway's own checks, before any business logic: None when the request passes."""
        content = "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")
        if params.get("app_id") != self.app_id:
            return self._error("40002", "Invalid Arguments", "isv.invalid-app-id", "无效的AppID参数")
        if params.get("sign_type") != "RSA2":
            return self._error("40002", "Invalid Arguments", "isv.invalid-signature-type", "无效的签名类型")
        if not _verify(self.app_public, content, params.get("sign")):
            return self._error("40002", "Invalid Arguments", "isv.invalid-signature", "验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配")
        if params.get("charset") != "utf-8" or params.get("format") != "JSON" or params.get("version") != "1.0":
            return self._error("40002", "Invalid Arguments", "isv.invalid-charset", "字符集、格式或版本不合法")
        try:
            datetime.strptime(params.get("timestamp", ""), "%Y-%m-%d %H:%M:%S")
        except ValueError:
            return self._error("40002", "Invalid Arguments", "isv.invalid-timestamp", "非法的时间戳参数")
        token = params.get("app_auth_token")
        if token is not None and token not in self.app_auth_tokens:
            return self._error("20001", "Insufficient Token Permissions", "aop.invalid-app-auth-token", "无效的应用授权令牌")
        return None

    def _error(self, code: str, msg: str, sub_code: str, sub_msg: str) -> dict:
        self.refusals.append(sub_code)
        return {"code": code, "msg": msg, "sub_code": sub_code, "sub_msg": sub_msg}

    def _biz_error(self, sub_code: str, sub_msg: str) -> dict:
        return self._error("40004", "Business Failed", sub_code, sub_msg)

    def _answer(self, method: str, node: dict, *, signed: bool = True, fault: str | None = None) -> Response:
        if fault == "garbage":
            return Response(b"<html>502 Bad Gateway</html>", media_type="text/html;charset=utf-8")
        if fault == "busy":  # Alipay's own failure: 20000 服务不可用
            node = {"code": "20000", "msg": "Service Currently Unavailable", "sub_code": "isp.unknow-error", "sub_msg": "系统繁忙"}
        if fault == "bad_amount":
            node = {**node, **{k: "12.345" for k in ("total_amount", "refund_amount") if k in node}}
        name = method.replace(".", "_") + "_response"
        node_text = json.dumps(node, ensure_ascii=False, separators=(",", ":")).replace("/", "\\/")
        body = '{"' + name + '":' + node_text
        if signed and fault != "unsigned":
            sign = _sign(new_key() if fault == "wrong_key" else self.key, node_text)
            if fault == "tampered":  # signed, then changed on the way: a failed transfer shown as paid
                body = '{"' + name + '":' + node_text.replace('"FAIL"', '"SUCCESS"').replace('"Success"', '"Success "')
            body += ',"sign":"' + sign + '"'
        return Response((body + "}").encode("utf-8"), media_type="text/html;charset=utf-8")

    # --- the cashier (alipay.trade.wap.pay) -----------------------------------------------

    def _cashier(self, params: dict[str, str], refused: dict | None) -> Response:
        if refused is not None:
            return HTMLResponse(f"<h1>支付宝</h1><p>{refused['sub_code']}</p>", status_code=CASHIER_ERROR)
        if params.get("method") != "alipay.trade.wap.pay":
            return HTMLResponse("<p>isv.invalid-method</p>", status_code=CASHIER_ERROR)
        biz = json.loads(params["biz_content"])
        amount = _yuan_to_fen(biz.get("total_amount"))
        if biz.get("product_code") != "QUICK_WAP_WAY" or not amount or not biz.get("subject") or not biz.get("out_trade_no"):
            return HTMLResponse("<p>isv.missing-required-arguments</p>", status_code=CASHIER_ERROR)
        self.calls.append(params)
        t = self.trades.get(biz["out_trade_no"])
        if t is None:
            t = self.trades[biz["out_trade_no"]] = FakeTrade(biz["out_trade_no"], amount, biz["subject"], self._next(""), created=_now())
        elif t.amount != amount or t.status != "WAIT_BUYER_PAY":
            return HTMLResponse("<p>ACQ.TRADE_HAS_CLOSE 交易已关闭或金额不符</p>", status_code=CASHIER_ERROR)
        return HTMLResponse(f"<h1>支付宝收银台</h1><p>{t.subject}</p><p>￥{_yuan(t.amount)}</p>")

    # --- trades ---------------------------------------------------------------------------

    def _query(self, biz: dict) -> dict:
        t = self.trades.get(biz.get("out_trade_no", ""))
        if t is None:
            return self._biz_error("ACQ.TRADE_NOT_EXIST", "交易不存在")
        node = {"code": "10000", "msg": "Success", "trade_no": t.trade_no, "out_trade_no": t.out_trade_no, "trade_status": t.status,
                "total_amount": _yuan(t.amount)}
        if t.buyer_id:
            node.update(buyer_logon_id="159****5620", buyer_user_id=t.buyer_id, send_pay_date=t.paid)
        return node

    def _close(self, biz: dict) -> dict:
        t = self.trades.get(biz.get("out_trade_no", ""))
        if t is None:
            return self._biz_error("ACQ.TRADE_NOT_EXIST", "交易不存在")
        if t.status != "WAIT_BUYER_PAY":
            return self._biz_error("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
        t.status = "TRADE_CLOSED"
        return {"code": "10000", "msg": "Success", "trade_no": t.trade_no, "out_trade_no": t.out_trade_no}

    def _refund(self, biz: dict) -> dict:
        t = self.trades.get(biz.get("out_trade_no", ""))
        amount = _yuan_to_fen(biz.get("refund_amount"))
        number = biz.get("out_request_no") or biz.get("out_trade_no", "")
        if amount is None or amount < 1:
            return self._error("40002", "Invalid Arguments", "isv.invalid-parameter", "refund_amount 不合法")
        if t is None:
            return self._biz_error("ACQ.TRADE_NOT_EXIST", "交易不存在")
        done = self.refunds.get((t.out_trade_no, number))
        if done is None:
            if t.status not in ("TRADE_SUCCESS", "TRADE_CLOSED") or (t.status == "TRADE_CLOSED" and not t.refunded):
                return self._biz_error("ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
            if t.refunded + amount > t.amount:
                return self._biz_error("ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限")
            pending = self.refunds_pending > 0
            self.refunds_pending -= pending
            done = self.refunds[(t.out_trade_no, number)] = FakeRefund(t.out_trade_no, number, amount, settled=not pending)
            t.refunded += amount
            if t.refunded == t.amount:
                t.status = "TRADE_CLOSED"
            fund_change = "Y" if done.settled else "N"
        else:
            fund_change = "N"  # a repeat: the first refund, no money moves again
        return {"code": "10000", "msg": "Success", "trade_no": t.trade_no, "out_trade_no": t.out_trade_no, "buyer_logon_id": "159****5620",
                "fund_change": fund_change, "refund_fee": _yuan(self._refunded(t.out_trade_no)), "buyer_user_id": t.buyer_id or BUYER_ID}

    def _refunded(self, out_trade_no: str) -> int:
        return sum(r.amount for r in self.refunds.values() if r.out_trade_no == out_trade_no and r.settled)

    def _refund_query(self, biz: dict) -> dict:
        t = self.trades.get(biz.get("out_trade_no", ""))
        if t is None:
            return self._biz_error("ACQ.TRADE_NOT_EXIST", "交易不存在")
        r = self.refunds.get((t.out_trade_no, biz.get("out_request_no", "")))
        node = {"code": "10000", "msg": "Success"}
        if r is not None:
            node.update(trade_no=t.trade_no, out_trade_no=t.out_trade_no, out_request_no=r.out_request_no, total_amount=_yuan(t.amount),
                        refund_amount=_yuan(r.amount))
            if r.settled:
                node["refund_status"] = "REFUND_SUCCESS"
        return node

    # --- transfers ------------------------------------------------------------------------

    def _transfer(self, biz: dict) -> dict:
        payee = biz.get("payee_info") or {}
        amount = _yuan_to_fen(biz.get("trans_amount"))
        number = biz.get("out_biz_no") or ""
        if biz.get("product_code") != "TRANS_ACCOUNT_NO_PWD" or biz.get("biz_scene") != "DIRECT_TRANSFER" or not number \
                or payee.get("identity_type") not in ("ALIPAY_USER_ID", "ALIPAY_OPEN_ID", "ALIPAY_LOGON_ID") or not payee.get("identity") or amount is None:
            return self._error("40002", "Invalid Arguments", "isv.invalid-parameter", "参数有误")
        if payee["identity_type"] == "ALIPAY_LOGON_ID" and not payee.get("name"):  # a login id is paid only with the payee's real name
            return self._biz_error("PAYEE_USER_INFO_ERROR", "支付宝账号和姓名不匹配，请确认姓名是否正确")
        done = self.transfers.get(number)
        if done is not None:
            if done.amount != amount or done.payee != payee["identity"]:
                return self._biz_error("PAYMENT_INFO_INCONSISTENCY", "两次请求商户单号一样，但是收款人或金额不一致")
            return self._transfer_node(done)
        if amount < 10:
            return self._biz_error("EXCEED_LIMIT_SM_MIN_AMOUNT", "单笔最低转账金额0.1元")
        outcome = self.transfer_script.pop(0) if self.transfer_script else "SUCCESS"
        if outcome not in ("SUCCESS", "DEALING", "FAIL", "SYSTEM_ERROR", "DROP"):
            return self._biz_error(outcome, "转账失败")
        status = {"SYSTEM_ERROR": "SUCCESS", "DROP": "SUCCESS"}.get(outcome, outcome)
        t = self.transfers[number] = FakeTransfer(number, amount, payee["identity"], payee["identity_type"], self._next(""), self._next(""), status,
                                                  "收款账户状态异常" if status == "FAIL" else None, payee.get("name"))
        if outcome == "SYSTEM_ERROR":  # it went through; the answer says the system failed
            return self._biz_error("SYSTEM_ERROR", "系统繁忙")
        if outcome == "DROP":
            return {"code": "503"}
        return self._transfer_node(t)

    def _transfer_node(self, t: FakeTransfer) -> dict:
        return {"code": "10000", "msg": "Success", "out_biz_no": t.out_biz_no, "order_id": t.order_id, "pay_fund_order_id": t.pay_fund_order_id,
                "status": t.status, "trans_date": _now()}

    def _transfer_query(self, biz: dict) -> dict:
        if biz.get("product_code") != "TRANS_ACCOUNT_NO_PWD" or biz.get("biz_scene") != "DIRECT_TRANSFER":
            return self._error("40002", "Invalid Arguments", "isv.invalid-parameter", "out_biz_no 查询需要 product_code 与 biz_scene")
        t = self.transfers.get(biz.get("out_biz_no", ""))
        if t is None:
            return self._biz_error("ORDER_NOT_EXIST", "转账订单不存在")
        node = {"code": "10000", "msg": "Success", "order_id": t.order_id, "pay_fund_order_id": t.pay_fund_order_id, "out_biz_no": t.out_biz_no,
                "status": t.status, "trans_amount": _yuan(t.amount)}
        if t.status == "SUCCESS":
            node["pay_date"] = _now()
        if t.fail_reason:
            node.update(error_code="PAYEE_ACCOUNT_STATUS_ERROR", fail_reason=t.fail_reason)
        return node

    def finish_transfer(self, out_biz_no: str, status: str = "SUCCESS") -> None:
        t = self.transfers[out_biz_no]
        t.status, t.fail_reason = status, (None if status == "SUCCESS" else "收款账户状态异常")

    # --- bills ----------------------------------------------------------------------------

    def _bill_url(self, biz: dict) -> dict:
        if biz.get("bill_type") not in ("trade", "signcustomer"):
            return self._error("40002", "Invalid Arguments", "isv.invalid-parameter", "bill_type 不合法")
        found = self.bills.get(biz.get("bill_date", ""))
        if found is None:
            return self._biz_error("isp.bill_not_exist", "账单不存在")
        return {"code": "10000", "msg": "Success",
                "bill_download_url": f"{self.url}/bill/{found[0]}.zip?bizType=trade&downloadFileName={SELLER_ID}_{biz['bill_date']}.csv.zip"}

    async def _bill_file(self, request: Request) -> Response:
        for token, data in self.bills.values():
            if token == request.path_params["token"]:
                return Response(data, media_type="application/zip")
        return PlainTextResponse("not found", status_code=404)

    def publish_bill(self, day: date, rows: list[tuple[str, str, str, int, int, str]] | None = None) -> bytes:
        """The trade bill for ``day``: ``rows`` of (trade_no, out_trade_no, 交易|退款, order
        amount fen, 商家实收 fen, refund number), by default every paid trade and settled
        refund held. A zip of GBK CSVs named in GBK, as Alipay serves it."""
        if rows is None:
            rows = [(t.trade_no, t.out_trade_no, "交易", t.amount, t.amount, "") for t in self.trades.values() if t.buyer_id]
            rows += [(self.trades[r.out_trade_no].trade_no, r.out_trade_no, "退款", self.trades[r.out_trade_no].amount, -r.amount, r.out_request_no)
                     for r in self.refunds.values() if r.settled]
        data = bill_zip(day, rows)
        self.bills[day.isoformat()] = (secrets.token_hex(8), data)
        return data

    # --- notifications --------------------------------------------------------------------

    def buyer_pays(self, out_trade_no: str, buyer_id: str = BUYER_ID) -> dict[str, str]:
        """The buyer confirms on the cashier page: the trade is paid; the notification form."""
        t = self.trades[out_trade_no]
        assert t.status == "WAIT_BUYER_PAY", t.status
        t.status, t.buyer_id, t.paid = "TRADE_SUCCESS", buyer_id, _now()
        return self.notification(out_trade_no)

    def notification(self, out_trade_no: str, /, *, key: rsa.RSAPrivateKey | None = None, **overrides: str | None) -> dict[str, str]:
        """The form Alipay posts for the trade as it is, signed (by ``key`` instead of the
        fake's own, for a forgery); ``overrides`` change fields before signing (None drops one)."""
        t = self.trades[out_trade_no]
        amount = _yuan(t.amount)
        form = {
            "gmt_create": t.created, "charset": "utf-8", "seller_id": SELLER_ID, "subject": t.subject, "buyer_id": t.buyer_id or "",
            "invoice_amount": amount, "notify_id": secrets.token_hex(16), "fund_bill_list": json.dumps([{"amount": amount, "fundChannel": "ALIPAYACCOUNT"}]),
            "notify_type": "trade_status_sync", "trade_status": t.status, "receipt_amount": amount, "buyer_pay_amount": amount,
            "app_id": self.app_id, "auth_app_id": self.app_id, "sign_type": "RSA2", "notify_time": _now(), "version": "1.0",
            "point_amount": "0.00", "total_amount": amount, "trade_no": t.trade_no, "out_trade_no": t.out_trade_no, "gmt_payment": t.paid,
        }
        form = {k: v for k, v in form.items() if v}  # Alipay sends no empty fields
        for k, v in overrides.items():
            if v is None:
                form.pop(k, None)
            else:
                form[k] = v
        content = "&".join(f"{k}={form[k]}" for k in sorted(form) if k not in ("sign", "sign_type"))
        form["sign"] = _sign(key or self.key, content)
        return form

    @staticmethod
    def tampered(form: dict[str, str], **changes: str) -> dict[str, str]:
        """The same form with fields changed after signing (a man in the middle)."""
        return {**form, **changes}

    @staticmethod
    def body(form: dict[str, str]) -> bytes:
        return urlencode(form).encode("utf-8")

    def deliver(self, notify_url: str, form: dict[str, str]) -> str:
        """POST the notification to a notify endpoint the way Alipay does; what it answered."""
        resp = httpx.post(notify_url, content=self.body(form), headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        return resp.text


def _now() -> str:
    return datetime.now(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


class _GbkName(zipfile.ZipInfo):
    """A zip member named in GBK without the UTF-8 flag, as Alipay's bill archive has them."""

    def _encodeFilenameFlags(self):  # noqa: N802 - zipfile's own hook
        return self.filename.encode("gbk"), self.flag_bits & ~0x800


HEADER = ["支付宝交易号", "商户订单号", "业务类型", "商品名称", "创建时间", "完成时间", "门店编号", "门店名称", "操作员", "终端号", "对方账户",
          "订单金额（元）", "商家实收（元）", "支付宝红包（元）", "集分宝（元）", "支付宝优惠（元）", "商家优惠（元）", "券核销金额（元）", "券名称",
          "商家红包消费金额（元）", "卡消费金额（元）", "退款批次号/请求号", "服务费（元）", "分润（元）", "备注"]


def bill_zip(day: date, rows: list[tuple[str, str, str, int, int, str]]) -> bytes:
    out = io.StringIO()
    out.write(f"#支付宝业务明细查询\n#账号：[{SELLER_ID}0156]\n#起始日期：[{day} 00:00:00]   终止日期：[{day + timedelta(days=1)} 00:00:00]\n"
              "#-----------------------------------------业务明细列表----------------------------------------\n")
    w = csv.writer(out, lineterminator="\n")
    w.writerow(HEADER)
    for trade_no, out_trade_no, kind, order_amount, received, refund_no in rows:
        when = f"{day} 10:00:00"
        w.writerow([trade_no + "\t", out_trade_no + "\t", kind, "社区团购订单", when, when, "", "", "", "", "159****5620", _yuan(order_amount),
                    ("-" if received < 0 else "") + _yuan(abs(received)), "0.00", "0.00", "0.00", "0.00", "0.00", "", "0.00", "0.00",
                    refund_no + ("\t" if refund_no else ""), "0.00", "0.00", ""])
    out.write("#-----------------------------------------业务明细列表结束------------------------------------\n"
              f"#交易合计：{sum(1 for r in rows if r[2] == '交易')}笔\n#导出时间：[{day + timedelta(days=1)} 09:00:00]\n")
    summary = "#支付宝业务汇总查询\n门店编号,门店名称,交易订单总笔数\n合计,,0\n"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        stamp = f"{SELLER_ID}0156_{day:%Y%m%d}"
        for name, text in ((f"{stamp}_业务明细.csv", out.getvalue()), (f"{stamp}_业务明细(汇总).csv", summary)):
            info = _GbkName(name, date_time=(day.year, day.month, day.day, 9, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, text.encode("gbk"))
    return buf.getvalue()
