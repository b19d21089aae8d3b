"""WeChat Pay API v3, the pure part: request signatures, answer and notification
verification, AEAD_AES_256_GCM, the JSAPI payment-sheet signature and the trade bill.

No I/O and no clock: the caller passes timestamps, nonces and ``now``. The rules, from the
official documentation (pay.weixin.qq.com/doc/v3/merchant/…):

* Request signature (4012365342): the message is ``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n``
  (URL = absolute path plus query string, exactly as sent; BODY empty for a GET), signed
  SHA256-with-RSA (PKCS#1 v1.5) with the merchant API private key, base64, sent as
  ``Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",signature="…",
  timestamp="…",serial_no="…"`` (serial_no: the merchant API certificate's serial).
* Answers and notifications are signed the same way by WeChat Pay over
  ``TIMESTAMP\\nNONCE\\nBODY\\n`` (headers ``Wechatpay-Timestamp`` / ``-Nonce`` /
  ``-Signature`` / ``-Serial``), with the platform key named by the serial: the WeChat Pay
  public key (id ``PUB_KEY_ID_…``, 公钥模式) or a platform certificate (its serial in hex).
  An unknown serial or a bad signature is refused; so is a timestamp more than 5 minutes
  away from ``now`` (a replay).
* Notification resources are AEAD_AES_256_GCM under the 32-byte APIv3 key, with the
  resource's ``nonce`` (12 characters) and ``associated_data``; ``ciphertext`` is base64 of
  the encrypted bytes followed by the 16-byte tag.
* JSAPI payment sheet (4012791857): ``paySign`` is the same RSA signature over
  ``appId\\ntimeStamp\\nnonceStr\\npackage\\n``, ``package`` = ``prepay_id=…``, ``signType`` RSA.
* Trade bill (4012791866, format: docs/merchant/products/bill-download/format-trade.html):
  comma-separated, a header row, detail rows whose every field starts with a backtick,
  then a summary header (总交易单数,…) and one summary row; amounts in yuan. The file is
  checked against the SHA1 the bill request returned.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from linli.money import parse_yuan

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
TOLERANCE_S = 300  # a signed answer or notification more than 5 minutes off is a replay
AEAD = "AEAD_AES_256_GCM"

SIGNATURE_INVALID = "payment.signature_invalid"
STALE = "payment.callback_stale"
MALFORMED = "payment.callback_malformed"


class Refused(ValueError):
    """A signature, timestamp, ciphertext or document that must not be trusted; ``code`` is
    the stable error code (``payment.signature_invalid`` / ``callback_stale`` / ``callback_malformed``)."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# --- keys --------------------------------------------------------------------------------

def load_private_key(pem: str | bytes) -> rsa.RSAPrivateKey:
    """The merchant API private key (apiclient_key.pem, PKCS#8 or PKCS#1 PEM)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM private key: {exc}") from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the merchant API key must be RSA")
    return key


def load_public_key(pem: str | bytes) -> rsa.RSAPublicKey:
    """A WeChat Pay public key (pub_key.pem) or the key of a platform certificate (PEM)."""
    data = pem.encode() if isinstance(pem, str) else pem
    try:
        if b"-----BEGIN CERTIFICATE-----" in data:
            key = x509.load_pem_x509_certificate(data).public_key()
        else:
            key = serialization.load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a PEM public key or certificate: {exc}") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("a WeChat Pay platform key must be RSA")
    return key


def certificate_serial(pem: str | bytes) -> str:
    """A platform certificate's serial as ``Wechatpay-Serial`` names it (upper-case hex)."""
    data = pem.encode() if isinstance(pem, str) else pem
    return format(x509.load_pem_x509_certificate(data).serial_number, "X")


def platform_keys(public_key_id: str, public_key: str, certificates: tuple[str, ...] | list[str]) -> tuple[dict[str, rsa.RSAPublicKey], str]:
    """The platform verification keys by serial, and the serial to name in our requests'
    ``Wechatpay-Serial``: the WeChat Pay public key (公钥模式) when there is one, else the
    platform certificate that expires last. Both kinds may be given while a merchant
    moves from certificates to the public key (answers may be signed with either)."""
    keys: dict[str, rsa.RSAPublicKey] = {}
    if bool(public_key_id) != bool(public_key):
        raise ValueError("the WeChat Pay public key and its id go together")
    if public_key_id:
        keys[public_key_id] = load_public_key(public_key)
    newest: tuple[object, str] | None = None
    for pem in certificates:
        try:
            cert = x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)
        except ValueError as exc:
            raise ValueError(f"not a PEM certificate: {exc}") from None
        serial = format(cert.serial_number, "X")
        keys[serial] = load_public_key(pem)
        if newest is None or cert.not_valid_after_utc > newest[0]:
            newest = (cert.not_valid_after_utc, serial)
    if not keys:
        raise ValueError("a WeChat Pay public key or at least one platform certificate is needed")
    return keys, public_key_id or newest[1]


# --- RSA signatures ----------------------------------------------------------------------

def rsa_sign(key: rsa.RSAPrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(message, padding.PKCS1v15(), hashes.SHA256())).decode()


def rsa_verify(key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        raw = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    try:
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def request_message(method: str, url: str, timestamp: int, nonce: str, body: bytes | str) -> bytes:
    """``METHOD\\nURL\\nTIMESTAMP\\nNONCE\\nBODY\\n``: what a request signature covers."""
    raw = body.encode() if isinstance(body, str) else body
    return f"{method.upper()}\n{url}\n{timestamp}\n{nonce}\n".encode() + raw + b"\n"


def response_message(timestamp: str | int, nonce: str, body: bytes | str) -> bytes:
    """``TIMESTAMP\\nNONCE\\nBODY\\n``: what an answer's or a notification's signature covers."""
    raw = body.encode() if isinstance(body, str) else body
    return f"{timestamp}\n{nonce}\n".encode() + raw + b"\n"


def authorization(mchid: str, serial_no: str, key: rsa.RSAPrivateKey, method: str, url: str,
                  timestamp: int, nonce: str, body: bytes | str) -> str:
    """The ``Authorization`` header of a request."""
    signature = rsa_sign(key, request_message(method, url, timestamp, nonce, body))
    return (f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce}",signature="{signature}",'
            f'timestamp="{timestamp}",serial_no="{serial_no}"')


_AUTH_PAIR = re.compile(r'\s*([a-z_]+)="([^"]*)"\s*(?:,|$)')


def parse_authorization(header: str) -> dict[str, str] | None:
    """The fields of an ``Authorization`` header, or None when it is not one of ours."""
    schema, _, rest = (header or "").partition(" ")
    if schema != SCHEMA:
        return None
    fields, pos = {}, 0
    while pos < len(rest):
        m = _AUTH_PAIR.match(rest, pos)
        if m is None:
            return None
        fields[m.group(1)] = m.group(2)
        pos = m.end()
    need = {"mchid", "nonce_str", "signature", "timestamp", "serial_no"}
    return fields if need <= fields.keys() else None


def _timestamp(text: str) -> int:
    # ASCII digits of a plausible length ("²".isdigit() is true; a huge int is no time).
    if not (isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 12):
        raise Refused(SIGNATURE_INVALID, "The signature timestamp is not a timestamp.")
    return int(text)


def verify_signed(keys: Mapping[str, rsa.RSAPublicKey], headers: Mapping[str, str], body: bytes, now: int,
                  tolerance: int = TOLERANCE_S) -> None:
    """Check an answer's or a notification's signature headers (names lower-case) against
    the platform keys by serial; a forged or tampered one raises ``Refused`` with
    ``payment.signature_invalid``, a genuine one from too long ago (or ahead)
    ``payment.callback_stale``."""
    ts, nonce = headers.get("wechatpay-timestamp", ""), headers.get("wechatpay-nonce", "")
    signature, serial = headers.get("wechatpay-signature", ""), headers.get("wechatpay-serial", "")
    kind = headers.get("wechatpay-signature-type")
    if not (ts and nonce and signature and serial):
        raise Refused(SIGNATURE_INVALID, "The WeChat Pay signature headers are missing.")
    if kind is not None and kind != SCHEMA:
        raise Refused(SIGNATURE_INVALID, f"Unsupported signature type {kind[:40]!r}.")
    t = _timestamp(ts)
    key = keys.get(serial) or keys.get(serial.upper())
    if key is None:
        raise Refused(SIGNATURE_INVALID, f"Signed with an unknown WeChat Pay key {serial[:64]!r}.")
    if not rsa_verify(key, response_message(ts, nonce, body), signature):
        raise Refused(SIGNATURE_INVALID, "The WeChat Pay signature does not match.")
    if abs(now - t) > tolerance:
        raise Refused(STALE, "The WeChat Pay signature is too old or from the future.")


# --- AEAD_AES_256_GCM (notification resources) ------------------------------------------

def _aead_key(apiv3_key: str | bytes) -> bytes:
    key = apiv3_key.encode() if isinstance(apiv3_key, str) else apiv3_key
    if len(key) != 32:
        raise ValueError("the APIv3 key is 32 bytes")
    return key


def decrypt_resource(apiv3_key: str | bytes, nonce: str, ciphertext: str, associated_data: str = "") -> bytes:
    """The plaintext of a notification's ``resource``; a wrong key, nonce, associated data
    or a changed ciphertext (the GCM tag fails) raises ``Refused`` (malformed)."""
    try:
        data = base64.b64decode(ciphertext, validate=True)
        return AESGCM(_aead_key(apiv3_key)).decrypt(nonce.encode(), data, associated_data.encode() if associated_data else None)
    except (InvalidTag, binascii.Error, ValueError, TypeError, AttributeError, UnicodeEncodeError):
        raise Refused(MALFORMED, "The notification resource cannot be decrypted.") from None


def encrypt_resource(apiv3_key: str | bytes, nonce: str, plaintext: bytes, associated_data: str = "") -> str:
    """base64(AES-256-GCM(plaintext) ‖ tag): what WeChat Pay puts in ``resource.ciphertext``."""
    return base64.b64encode(AESGCM(_aead_key(apiv3_key)).encrypt(nonce.encode(), plaintext, associated_data.encode() if associated_data else None)).decode()


# --- the JSAPI payment sheet (wx.requestPayment / WeixinJSBridge getBrandWCPayRequest) ---

def pay_sign_message(app_id: str, timestamp: str, nonce: str, package: str) -> bytes:
    return f"{app_id}\n{timestamp}\n{nonce}\n{package}\n".encode()


def jsapi_pay_params(key: rsa.RSAPrivateKey, app_id: str, prepay_id: str, timestamp: int, nonce: str) -> dict[str, str]:
    """What the page passes to ``wx.requestPayment`` / ``WeixinJSBridge.invoke('getBrandWCPayRequest', …)``."""
    package = f"prepay_id={prepay_id}"
    ts = str(timestamp)
    return {"appId": app_id, "timeStamp": ts, "nonceStr": nonce, "package": package, "signType": "RSA",
            "paySign": rsa_sign(key, pay_sign_message(app_id, ts, nonce, package))}


# --- the trade bill ----------------------------------------------------------------------

@dataclass(frozen=True)
class BillRow:
    """One detail row of a trade bill: a payment (trade_state SUCCESS …) or a refund
    (trade_state REFUND, with the refund fields). Money in fen; ``fee`` as written (元,
    up to 5 decimals: a fraction of a fen)."""

    trade_time: str
    appid: str
    mchid: str
    sub_mchid: str
    transaction_id: str
    out_trade_no: str
    openid: str
    trade_type: str
    trade_state: str
    settlement_total: int  # 应结订单金额 (negative on a refund row in some bills)
    total: int  # 订单金额
    refund_id: str
    out_refund_no: str
    refund: int  # 退款金额
    refund_requested: int  # 申请退款金额
    refund_state: str
    fee: str


@dataclass(frozen=True)
class BillSummary:
    count: int
    settlement_total: int
    refund_total: int
    order_total: int
    refund_requested_total: int
    fee_total: str


@dataclass(frozen=True)
class TradeBill:
    rows: tuple[BillRow, ...]
    summary: BillSummary | None


# The columns by header name (the documentation says to read them by name: the order may change).
_COLUMNS = {
    "trade_time": "交易时间", "appid": "公众账号ID", "mchid": "商户号", "sub_mchid": "特约商户号",
    "transaction_id": "微信订单号", "out_trade_no": "商户订单号", "openid": "用户标识", "trade_type": "交易类型",
    "trade_state": "交易状态", "settlement_total": "应结订单金额", "total": "订单金额", "refund_id": "微信退款单号",
    "out_refund_no": "商户退款单号", "refund": "退款金额", "refund_requested": "申请退款金额", "refund_state": "退款状态",
    "fee": "手续费",
}
_MONEY = {"settlement_total", "total", "refund", "refund_requested"}
_NONE_ZERO = {"sub_mchid", "refund_id", "out_refund_no"}  # the bill writes "0" for "none"
_SUMMARY = {"count": "总交易单数", "settlement_total": "应结订单总金额", "refund_total": "退款总金额",
            "order_total": "订单总金额", "refund_requested_total": "申请退款总金额", "fee_total": "手续费总金额"}


def bill_digest_matches(data: bytes, hash_type: str, hash_value: str) -> bool:
    """The bill file is the one the bill request described (SHA1, as WeChat Pay gives it)."""
    if (hash_type or "").upper() != "SHA1":
        return False
    return hmac.compare_digest(hashlib.sha1(data).hexdigest(), (hash_value or "").strip().lower())


def _fen(text: str, where: str) -> int:
    neg = text.startswith("-")
    try:
        fen = parse_yuan(text[1:] if neg else text)
    except ValueError:
        raise Refused(MALFORMED, f"The bill has a malformed amount in {where}: {text[:20]!r}.") from None
    return -fen if neg else fen


def _fields(line: str, width: int, where: str) -> list[str]:
    # Every field starts with a backtick; splitting on ",`" keeps a comma inside a product name.
    if not line.startswith("`"):
        raise Refused(MALFORMED, f"The bill's {where} does not start with a backtick.")
    fields = line[1:].split(",`")
    if len(fields) != width:
        raise Refused(MALFORMED, f"The bill's {where} has {len(fields)} fields, not {width}.")
    return fields


def parse_trade_bill(data: bytes) -> TradeBill:
    """The rows and the summary of a trade bill file (uncompressed)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Refused(MALFORMED, "The bill is not UTF-8 text.") from None
    lines = [ln.strip("\r") for ln in text.split("\n") if ln.strip("\r\ufeff ")]
    start = next((i for i, ln in enumerate(lines) if ln.startswith("交易时间")), None)
    if start is None:
        raise Refused(MALFORMED, "The bill has no header row.")
    header = [h.strip() for h in lines[start].split(",")]
    missing = [name for name in _COLUMNS.values() if name not in header]
    if missing:
        raise Refused(MALFORMED, f"The bill lacks the columns {', '.join(missing)}.")
    at = {key: header.index(name) for key, name in _COLUMNS.items()}
    rows: list[BillRow] = []
    i = start + 1
    while i < len(lines) and not lines[i].startswith("总交易单数"):
        f = _fields(lines[i], len(header), f"row {len(rows) + 1}")
        values = {}
        for key, col in at.items():
            v = f[col].strip()
            if key in _MONEY:
                values[key] = _fen(v or "0", _COLUMNS[key])
            else:
                values[key] = "" if key in _NONE_ZERO and v == "0" else v
        rows.append(BillRow(**values))
        i += 1
    summary = None
    if i < len(lines):
        names = [h.strip() for h in lines[i].split(",")]
        if i + 1 >= len(lines) or any(name not in names for name in _SUMMARY.values()):
            raise Refused(MALFORMED, "The bill's summary is incomplete.")
        f = _fields(lines[i + 1], len(names), "summary")
        pick = {key: f[names.index(name)].strip() for key, name in _SUMMARY.items()}
        count = pick.pop("count")
        if not (count.isascii() and count.isdigit()):
            raise Refused(MALFORMED, "The bill's count is not a number.")
        fee_total = pick.pop("fee_total")
        summary = BillSummary(count=int(count), fee_total=fee_total, **{k: _fen(v, _SUMMARY[k]) for k, v in pick.items()})
    return TradeBill(tuple(rows), summary)
