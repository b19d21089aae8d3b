"""Alipay open platform (the classic gateway ``gateway.do``): signing, verification, amounts,
notifications and the trade bill — pure functions, no I/O and no clock (timestamps come in).

RSA2 is SHA256withRSA (RSASSA-PKCS1-v1_5 over SHA-256), the signature base64 in ``sign``:

- a request signs every parameter but ``sign`` (``sign_type`` included), empty values left
  out, sorted by key, ``k=v`` joined with ``&`` — "自行实现签名",
  https://opendocs.alipay.com/common/02kf5q (the SDKs' ``get_sign_content`` does the same);
- a response signs the exact text of its ``<method>_response`` node (``.`` → ``_``), braces
  included, as the gateway returned it — re-serialising would break it (Alipay writes
  ``\\/`` for ``/``). An error answer the gateway could not sign may come without ``sign``
  ("自行实现验签", https://opendocs.alipay.com/common/02mse7);
- an asynchronous notification signs every form field but ``sign`` and ``sign_type``, sorted,
  values as received (``AlipaySignature.getSignCheckContentV1``); see ``parse_notification``.

Amounts are yuan strings with two decimals (``"68.00"``), converted to fen with integers.
Only the public-key mode (公钥模式) is here; the certificate mode (公钥证书: ``app_cert_sn`` /
``alipay_root_cert_sn``) is left for later.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import parse_qsl

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from linli.payments.gateway import Callback, CallbackRefused
from linli.timeutil import SHANGHAI

SIGN_TYPE = "RSA2"
CHARSET = "utf-8"
FORMAT = "JSON"
VERSION = "1.0"
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"  # yyyy-MM-dd HH:mm:ss, Beijing time
SUCCESS_CODE = "10000"
# What the notify endpoint must answer, these 7 characters and nothing else, or Alipay sends
# the notification again (8 times over about 25 hours) — 异步通知说明,
# https://opendocs.alipay.com/open/203/105286
NOTIFY_REPLY = "success"
PAID_STATUSES = frozenset({"TRADE_SUCCESS", "TRADE_FINISHED"})
MIN_RSA2_BITS = 2048

# --- Amounts ----------------------------------------------------------------------------------

_YUAN = re.compile(r"(0|[1-9][0-9]{0,11})(?:\.([0-9]{1,2}))?")


def to_yuan(fen: int) -> str:
    """6800 → "68.00": what Alipay takes in ``total_amount`` / ``refund_amount`` / ``trans_amount``."""
    if isinstance(fen, bool) or not isinstance(fen, int) or fen < 0:
        raise ValueError(f"an amount is a non-negative whole number of fen, got {fen!r}")
    return f"{fen // 100}.{fen % 100:02d}"


def to_fen(text: object) -> int:
    """"68.00" → 6800, exactly. Refused (``ValueError``): anything but ASCII digits with at most
    two decimals — a sign, an exponent, spaces, separators, "1.005", "", a number that is not text."""
    if not isinstance(text, str):
        raise ValueError(f"an amount in yuan is text, got {type(text).__name__}")
    m = _YUAN.fullmatch(text)
    if m is None:
        raise ValueError(f"not an amount in yuan with at most 2 decimals: {text!r}")
    return int(m.group(1)) * 100 + int((m.group(2) or "0").ljust(2, "0"))


def signed_fen(text: str) -> int:
    """A bill's amount, where refunds are negative: "-20.00" → -2000."""
    text = text.strip()
    return -to_fen(text[1:]) if text.startswith("-") else to_fen(text)


# --- Keys, signatures -------------------------------------------------------------------------


def _der(text: str) -> bytes:
    body = "".join(text.split())
    try:
        return base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the key is neither PEM nor base64") from None


def load_private_key(text: str) -> rsa.RSAPrivateKey:
    """The app private key (应用私钥): PEM (PKCS#1 or PKCS#8) or the bare base64 body that
    Alipay's key tool prints."""
    data = text.strip()
    if data.startswith("-----BEGIN"):
        key = serialization.load_pem_private_key(data.encode(), password=None)
    else:
        key = serialization.load_der_private_key(_der(data), password=None)
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA2_BITS:
        raise ValueError("RSA2 needs an RSA key of at least 2048 bits")
    return key


def load_public_key(text: str) -> rsa.RSAPublicKey:
    """The Alipay public key (支付宝公钥): PEM or bare base64 of the SubjectPublicKeyInfo."""
    data = text.strip()
    if data.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(data.encode())
    else:
        key = serialization.load_der_public_key(_der(data))
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < MIN_RSA2_BITS:
        raise ValueError("RSA2 needs an RSA key of at least 2048 bits")
    return key


def sign_content(params: Mapping[str, object], exclude: tuple[str, ...] = ("sign",), keep_empty: bool = False) -> str:
    """``k=v`` sorted by key and joined with ``&``, without ``exclude`` and (unless
    ``keep_empty``) without empty values."""
    items = []
    for k in sorted(params):
        v = params[k]
        if k in exclude or (not keep_empty and (v is None or v == "")):
            continue
        items.append(f"{k}={'' if v is None else v}")
    return "&".join(items)


def rsa2_sign(key: rsa.RSAPrivateKey, content: str | bytes) -> str:
    data = content.encode(CHARSET) if isinstance(content, str) else content
    return base64.b64encode(key.sign(data, padding.PKCS1v15(), hashes.SHA256())).decode("ascii")


def rsa2_verify(key: rsa.RSAPublicKey, content: str | bytes, sign: object) -> bool:
    """True when ``sign`` is ``key``'s RSA2 signature of ``content``; False for anything else
    (not text, not base64, another key, other content)."""
    if not isinstance(sign, str) or not sign or len(sign) > 4096:
        return False
    try:
        raw = base64.b64decode(sign, validate=True)
    except (binascii.Error, ValueError):
        return False
    data = content.encode(CHARSET) if isinstance(content, str) else content
    try:
        key.verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


# --- Requests ---------------------------------------------------------------------------------


def timestamp(now: datetime) -> str:
    """An instant as the gateway's ``timestamp`` (Asia/Shanghai); a naive one is UTC."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=timezone.utc)
    return now.astimezone(SHANGHAI).strftime(TIMESTAMP_FORMAT)


def biz_json(biz: Mapping[str, object]) -> str:
    return json.dumps(biz, ensure_ascii=False, separators=(",", ":"))


def request_params(app_id: str, method: str, biz: Mapping[str, object], now: datetime, *, notify_url: str | None = None,
                   return_url: str | None = None, app_auth_token: str | None = None) -> dict[str, str]:
    """The common parameters (公共请求参数) and ``biz_content`` of a call, unsigned. A service
    provider calling for a merchant (服务商代调用) adds the merchant's ``app_auth_token``."""
    params = {"app_id": app_id, "method": method, "format": FORMAT, "charset": CHARSET, "sign_type": SIGN_TYPE,
              "timestamp": timestamp(now), "version": VERSION, "biz_content": biz_json(biz)}
    for k, v in (("notify_url", notify_url), ("return_url", return_url), ("app_auth_token", app_auth_token)):
        if v:
            params[k] = v
    return params


def signed(params: Mapping[str, str], key: rsa.RSAPrivateKey) -> dict[str, str]:
    out = {k: v for k, v in params.items() if v not in (None, "")}
    out["sign"] = rsa2_sign(key, sign_content(out))
    return out


# --- Responses --------------------------------------------------------------------------------

_decoder = json.JSONDecoder()
_WS = " \t\r\n"


def _skip(text: str, i: int) -> int:
    while i < len(text) and text[i] in _WS:
        i += 1
    return i


def top_level(text: str) -> dict[str, tuple[str, object]]:
    """The members of a JSON object: key → (the value's exact text, the value). ``ValueError``
    when ``text`` is not one JSON object (or repeats a key)."""
    i = _skip(text, 0)
    if text[i:i + 1] != "{":
        raise ValueError("not a JSON object")
    out: dict[str, tuple[str, object]] = {}
    i = _skip(text, i + 1)
    if text[i:i + 1] == "}":
        i += 1
    else:
        while True:
            if text[i:i + 1] != '"':
                raise ValueError("a key is a string")
            key, i = _decoder.raw_decode(text, i)
            i = _skip(text, i)
            if text[i:i + 1] != ":":
                raise ValueError("expected ':'")
            start = _skip(text, i + 1)
            value, end = _decoder.raw_decode(text, start)
            if key in out:
                raise ValueError(f"repeated key {key!r}")
            out[key] = (text[start:end], value)
            i = _skip(text, end)
            if text[i:i + 1] == ",":
                i = _skip(text, i + 1)
                continue
            if text[i:i + 1] == "}":
                i += 1
                break
            raise ValueError("expected ',' or '}'")
    if _skip(text, i) != len(text):
        raise ValueError("text after the JSON object")
    return out


def response_node_name(method: str) -> str:
    return method.replace(".", "_") + "_response"


@dataclass(frozen=True)
class Answer:
    """A gateway answer: its node (``code``, ``msg``, ``sub_code``, ``sub_msg``, the fields)
    and whether its signature was there and valid."""

    node: dict
    signed: bool

    @property
    def code(self) -> str:
        return str(self.node.get("code") or "")

    @property
    def ok(self) -> bool:
        return self.code == SUCCESS_CODE


class Unverifiable(ValueError):
    """The answer is not a gateway answer we can trust (shape, or signature)."""


def read_answer(text: str, method: str, key: rsa.RSAPublicKey) -> Answer:
    """Verify and read the gateway's answer to ``method``. A success must be signed; a
    failure may come unsigned (the gateway could not sign it) and is then marked so; a wrong
    signature is never accepted. ``Unverifiable`` otherwise."""
    try:
        members = top_level(text)
    except (ValueError, RecursionError) as exc:
        raise Unverifiable(f"not a gateway answer: {exc}") from None
    name = response_node_name(method)
    found = members.get(name) or members.get("error_response")  # gateway-level errors (bad app_id, method)
    if found is None or not isinstance(found[1], dict):
        raise Unverifiable(f"the answer has no {name} object")
    node_text, node = found
    sign = members.get("sign", (None, None))[1]
    answer = Answer(node, signed=sign is not None)
    if sign is None:
        if answer.ok or not answer.code:
            raise Unverifiable("a success without a signature")
        return answer
    if not rsa2_verify(key, node_text, sign):
        raise Unverifiable("the answer's signature does not match")
    return answer


# --- Notifications ----------------------------------------------------------------------------


def decode_form(raw: bytes) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (UTF-8, as we ask with ``charset``), each
    field once; ``CallbackRefused(payment.callback_malformed)`` otherwise."""
    try:
        pairs = parse_qsl(raw.decode(CHARSET), keep_blank_values=True, strict_parsing=True, encoding=CHARSET, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise CallbackRefused("payment.callback_malformed", "The notification is not a UTF-8 form.") from None
    form = dict(pairs)
    if len(form) != len(pairs) or "" in form:
        raise CallbackRefused("payment.callback_malformed", "The notification repeats a field or has one without a name.")
    return form


def parse_notification(form: Mapping[str, str], key: rsa.RSAPublicKey, app_id: str) -> Callback:
    """A verified trade notification (``notify_type=trade_status_sync``) → ``Callback``:
    ``gateway_ref`` our ``out_trade_no``, ``amount`` the fen of ``total_amount``, ``txn``
    Alipay's ``trade_no``, ``status`` "SUCCESS" once paid (TRADE_SUCCESS / TRADE_FINISHED)
    else Alipay's status, ``payer`` the buyer's ``buyer_id`` or ``buyer_open_id``.

    Refused: no or a wrong RSA2 signature, or one for another app (``payment.signature_invalid``);
    missing or malformed fields (``payment.callback_malformed``).

    No freshness check on ``notify_time``: the docs (open/203/105286) define it only as the
    sending time and name no window, and Alipay re-sends a notification for about 25 hours
    until it reads ``success``, so a tolerance would refuse genuine retries. A replay only
    repeats a true, signed fact; what protects us is the signature, the ``app_id``, and the
    payment service comparing the amount with the intent and recording a payment once.
    """
    if form.get("sign_type") != SIGN_TYPE or not form.get("sign"):
        raise CallbackRefused("payment.signature_invalid", "The notification is not RSA2-signed.")
    if not rsa2_verify(key, sign_content(form, exclude=("sign", "sign_type"), keep_empty=True), form["sign"]):
        raise CallbackRefused("payment.signature_invalid", "The notification signature does not match.")
    if form.get("app_id") != app_id:
        raise CallbackRefused("payment.signature_invalid", "The notification is signed for another app.")
    try:
        out_trade_no, trade_no, status = form["out_trade_no"], form["trade_no"], form["trade_status"]
        amount = to_fen(form["total_amount"])
    except (KeyError, ValueError):
        raise CallbackRefused("payment.callback_malformed", "The notification lacks a trade, a status or an amount.") from None
    if not (0 < len(out_trade_no) <= 64 and 0 < len(trade_no) <= 64 and 0 < len(status) <= 32):
        raise CallbackRefused("payment.callback_malformed", "The notification's trade fields are malformed.")
    payer = form.get("buyer_id") or form.get("buyer_open_id")
    payer = payer if payer and len(payer) <= 128 else None
    return Callback(out_trade_no, amount, trade_no, "SUCCESS" if status in PAID_STATUSES else status, payer)


# --- The trade bill (alipay.data.dataservice.bill.downloadurl.query, bill_type=trade) ----------

TRADE, REFUND = "trade", "refund"
_KINDS = {"交易": TRADE, "退款": REFUND}
MAX_BILL_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class BillRow:
    out_trade_no: str
    trade_no: str
    kind: str  # trade | refund (业务类型 交易 / 退款)
    amount: int  # fen, positive: the order amount of a trade, the amount given back by a refund
    refund_no: str | None  # 退款批次号/请求号: our out_request_no for a refund
    received: int  # 商家实收 in fen, negative for a refund


def _member_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & 0x800:
        return info.filename
    try:  # Alipay names the members in GBK without the UTF-8 flag; zipfile read them as cp437
        return info.filename.encode("cp437").decode("gbk")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def parse_bill(data: bytes) -> list[BillRow]:
    """The rows of the trade detail (``…_业务明细.csv``, GBK) inside the bill's zip: comment
    lines start with ``#``; the header names the columns; cells may carry padding. The summary
    member (``…_业务明细(汇总).csv``) is skipped. ``ValueError`` for anything else."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = [i for i in archive.infolist() if not i.is_dir()]
    except zipfile.BadZipFile:
        raise ValueError("the bill is not a zip") from None
    details = [i for i in members if "业务明细" in _member_name(i) and "汇总" not in _member_name(i)]
    if len(details) != 1:
        raise ValueError("the bill has no single trade-detail member")
    if details[0].file_size > MAX_BILL_BYTES:
        raise ValueError("the bill is too large")
    try:
        text = archive.read(details[0]).decode("gbk")
    except (UnicodeDecodeError, zipfile.BadZipFile, RuntimeError) as exc:
        raise ValueError(f"the bill cannot be read: {exc}") from None
    return _rows(text)


def _rows(text: str) -> list[BillRow]:
    rows: list[BillRow] = []
    header: dict[str, int] | None = None
    for cells in csv.reader(line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")):
        cells = [c.strip() for c in cells]
        if header is None:
            if cells and cells[0] == "支付宝交易号":
                header = {name: n for n, name in enumerate(cells)}
                missing = {"商户订单号", "业务类型", "订单金额（元）", "商家实收（元）", "退款批次号/请求号"} - header.keys()
                if missing:
                    raise ValueError(f"the bill lacks the columns {sorted(missing)}")
            continue
        if len(cells) < len(header):
            raise ValueError(f"a bill row has {len(cells)} cells, the header {len(header)}")

        def cell(name: str) -> str:
            return cells[header[name]]

        kind = _KINDS.get(cell("业务类型"))
        if kind is None:
            raise ValueError(f"unknown bill row type {cell('业务类型')!r}")
        received = signed_fen(cell("商家实收（元）"))
        amount = signed_fen(cell("订单金额（元）")) if kind == TRADE else abs(received)
        rows.append(BillRow(cell("商户订单号"), cell("支付宝交易号"), kind, abs(amount), cell("退款批次号/请求号") or None, received))
    if header is None:
        raise ValueError("the bill has no header row")
    return rows
