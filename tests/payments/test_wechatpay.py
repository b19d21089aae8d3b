"""The WeChat Pay API v3 client against the local fake over real HTTP, and its pure signing
part against the documented messages (no database: these run once, not per backend)."""

from __future__ import annotations

import base64
import json
import socket
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.x509.oid import NameOID
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from linli.commission import payout
from linli.errors import Invalid, ServiceUnavailable
from linli.payments.gateway import Callback, CallbackRefused, RefundResult
from linli.payments.providers import wechatpay_sign as sign
from linli.payments.providers.wechatpay import (
    ProviderError,
    ProviderRefused,
    RefundNotice,
    TransferNotice,
    WechatPay,
    refund_no,
    trade_no,
)
from linli.payments.providers.wechatpay_payout import WechatPayout
from tests.e2e.conftest import LiveServer
from tests.payments.conftest import APIV3_KEY, APPID, MCHID, SP_MCHID, SUB_APPID, SUB_MCHID, credentials, pem

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"


def now() -> datetime:
    return datetime.now(timezone.utc)


def _verifies(public_key: rsa.RSAPublicKey, message: bytes, signature: str) -> bool:
    try:
        public_key.verify(base64.b64decode(signature), message, padding.PKCS1v15(), hashes.SHA256())
    except Exception:
        return False
    return True


def _paid_order(fake, wx, no: str = "LLP000000000001", amount: int = 6800) -> tuple[dict, bytes]:
    wx.jsapi(no, amount, "五常大米 5kg", OPENID)
    return fake.pay(no, OPENID)


# --- the pure part: the documented messages ---------------------------------------------------

def test_the_request_message_is_the_documented_one():
    # The example of the signature documentation (GET /v3/certificates).
    assert sign.request_message("GET", "/v3/certificates", 1554208460, "593BEC0C930BF1AFEB40B4A08C8FB242", "") == \
        b"GET\n/v3/certificates\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n\n"
    assert sign.response_message("1554209980", "c5ac7061fccab6bf3e254dcf98995b8c", '{"data":[]}') == \
        b'1554209980\nc5ac7061fccab6bf3e254dcf98995b8c\n{"data":[]}\n'


def test_the_payment_sheet_message_is_the_documented_one():
    assert sign.pay_sign_message("wx8888888888888888", "1414561699", "5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
                                 "prepay_id=wx201410272009395522657a690389285100") == \
        b"wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n"


def test_the_authorization_header_carries_a_signature_of_the_message(merchant_key):
    header = sign.authorization(MCHID, "SERIAL1", merchant_key, "POST", "/v3/pay/transactions/jsapi", 1554208460, "NONCE1", '{"a":1}')
    fields = sign.parse_authorization(header)
    assert header.startswith('WECHATPAY2-SHA256-RSA2048 mchid="1900000109",nonce_str="NONCE1",signature="')
    assert fields["timestamp"] == "1554208460" and fields["serial_no"] == "SERIAL1"
    assert _verifies(merchant_key.public_key(), b'POST\n/v3/pay/transactions/jsapi\n1554208460\nNONCE1\n{"a":1}\n', fields["signature"])
    assert sign.parse_authorization("Bearer abc") is None
    assert sign.parse_authorization('WECHATPAY2-SHA256-RSA2048 mchid="1"') is None


def test_aead_decrypts_what_aes_256_gcm_encrypted_and_refuses_a_changed_one():
    plain = '{"out_trade_no":"LLP1"}'.encode()
    ct = base64.b64encode(AESGCM(APIV3_KEY.encode()).encrypt(b"fdasflkja484", plain, b"transaction")).decode()
    assert sign.decrypt_resource(APIV3_KEY, "fdasflkja484", ct, "transaction") == plain
    for args in [(APIV3_KEY, "fdasflkja485", ct, "transaction"), (APIV3_KEY, "fdasflkja484", ct, "refund"),
                 ("b" * 32, "fdasflkja484", ct, "transaction"), (APIV3_KEY, "fdasflkja484", "!!notbase64", "transaction"),
                 (APIV3_KEY, "fdasflkja484", base64.b64encode(b"\x00" + base64.b64decode(ct)[1:]).decode(), "transaction")]:
        with pytest.raises(sign.Refused) as e:
            sign.decrypt_resource(*args)
        assert e.value.code == "payment.callback_malformed"


def test_a_trade_bill_reads_by_header_name_in_fen():
    header = "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
    row = "`2021-01-28 17:07:11,`wx81be3101902f7cb2,`1601959334,`0,`,`4200000925202101284997714292,`S20210128170702357723,`ofyak5qR,`NATIVE,`SUCCESS,`OTHERS,`CNY,`12.34,`0.00,`0,`0,`0.00,`0.00,`,`,`for, testing,`cipher code,`0.07400,`0.60%,`12.34,`0.00,`"
    data = ("\ufeff" + header + "\r\n" + row + "\r\n总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额\r\n`1,`12.34,`0.00,`0.00,`0.07400,`12.34,`0.00\r\n").encode()
    bill = sign.parse_trade_bill(data)
    (r,) = bill.rows
    assert (r.out_trade_no, r.transaction_id, r.trade_state, r.total, r.settlement_total, r.refund_id, r.sub_mchid) == \
        ("S20210128170702357723", "4200000925202101284997714292", "SUCCESS", 1234, 1234, "", "")
    assert bill.summary.count == 1 and bill.summary.order_total == 1234 and bill.summary.fee_total == "0.07400"
    for broken in [b"", data.replace(b"`12.34,`0.00,`0,", b"`12.345,`0.00,`0,", 1), data.replace("商户订单号".encode(), b"x", 1),
                   data.replace(b"`S2021", b"S2021", 1), b"\xff\xfe", data.replace("`for, testing".encode(), b"`a,`b", 1)]:
        with pytest.raises(sign.Refused):
            sign.parse_trade_bill(broken)


def test_keys_and_credentials_are_checked_up_front(fake, merchant_key):
    with pytest.raises(ValueError):
        WechatPay(credentials(fake, merchant_key, apiv3_key="short"))
    with pytest.raises(ValueError):
        WechatPay(credentials(fake, merchant_key, public_key=""))  # an id without its key
    with pytest.raises(ValueError):
        WechatPay(credentials(fake, merchant_key, public_key_id="", public_key=""))  # no platform key at all
    with pytest.raises(ValueError):
        WechatPay(credentials(fake, merchant_key, private_key="not a key"))
    shown = repr(credentials(fake, merchant_key))  # logs never carry the secrets
    assert "BEGIN" not in shown and APIV3_KEY not in shown


def test_our_numbers():
    assert trade_no(42) == "LLP000000000042"
    assert refund_no("refund-7_a") == "refund-7_a"
    long_key = "order:12:refund:" + "x" * 80
    assert refund_no(long_key) == refund_no(long_key) and len(refund_no(long_key)) <= 64 and refund_no(long_key) != refund_no(long_key + "y")
    assert refund_no("退款 1").startswith("LLR")


# --- requests: our signature, as WeChat Pay checks it --------------------------------------------

def test_a_jsapi_prepay_is_signed_and_gives_the_payment_sheet(fake, wx, merchant_key):
    p = wx.jsapi("LLP000000000001", 6800, "五常大米 5kg", OPENID, time_expire=now() + timedelta(minutes=15))
    assert p.prepay_id.startswith("wx") and fake.seen == [("POST", "/v3/pay/transactions/jsapi")]
    sheet = p.pay_params
    assert sheet["appId"] == APPID and sheet["package"] == f"prepay_id={p.prepay_id}" and sheet["signType"] == "RSA"
    message = f"{sheet['appId']}\n{sheet['timeStamp']}\n{sheet['nonceStr']}\n{sheet['package']}\n".encode()
    assert _verifies(merchant_key.public_key(), message, sheet["paySign"])
    order = fake.orders[(MCHID, "LLP000000000001")]
    assert (order.total, order.openid, order.trade_type) == (6800, OPENID, "JSAPI")
    # The same order again is the same prepay; another amount under the number is refused.
    assert wx.jsapi("LLP000000000001", 6800, "五常大米 5kg", OPENID).prepay_id == p.prepay_id
    with pytest.raises(ProviderRefused) as e:
        wx.jsapi("LLP000000000001", 6900, "五常大米 5kg", OPENID)
    assert e.value.provider_code == "INVALID_REQUEST" and e.value.code == "payment.provider_refused"


def test_an_h5_payment_gives_the_h5_url(fake, wx):
    h5 = wx.h5("LLP000000000002", 990, "青菜", "203.0.113.7", app_name="邻里", app_url="https://shop.example.cn")
    assert h5.h5_url.startswith("https://wx.tenpay.com/")
    assert fake.orders[(MCHID, "LLP000000000002")].trade_type == "H5"
    with pytest.raises(Invalid):
        wx.h5("LLP000000000003", 990, "青菜", "not-an-ip")


def test_bad_input_never_reaches_wechat_pay(fake, wx):
    for call in [lambda: wx.jsapi("short", 100, "x", OPENID), lambda: wx.jsapi("LLP000000000009", 0, "x", OPENID),
                 lambda: wx.jsapi("LLP000000000009", 1.5, "x", OPENID), lambda: wx.jsapi("LLP000000000009", 100, "", OPENID),
                 lambda: wx.jsapi("LLP000000000009", 100, "x", ""), lambda: wx.query("../../v3/x"),
                 lambda: wx.transfer("LLW-1", OPENID, 100), lambda: wx.trade_bill("2026/05/01")]:
        with pytest.raises(Invalid):
            call()
    assert fake.seen == []


def test_a_wrong_key_serial_or_clock_is_refused_as_wechat_pay_does(fake, merchant_key):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cases = [credentials(fake, merchant_key, private_key=pem(other)), credentials(fake, merchant_key, serial_no="0" * 40)]
    for creds in cases:
        with pytest.raises(ProviderRefused) as e:
            WechatPay(creds).jsapi("LLP000000000001", 100, "x", OPENID)
        assert e.value.provider_code == "SIGN_ERROR" and e.value.http_status == 401
    with pytest.raises(ProviderRefused):
        WechatPay(credentials(fake, merchant_key), clock=lambda: now() - timedelta(minutes=10)).jsapi("LLP000000000001", 100, "x", OPENID)
    assert fake.orders == {} and len(fake.refused) == 3


# --- answers: WeChat Pay's signature, as we check it ----------------------------------------------

@pytest.mark.parametrize("fault, code", [
    ("tamper", "payment.provider_signature_invalid"), ("unknown_serial", "payment.provider_signature_invalid"),
    ("unsigned", "payment.provider_signature_invalid"), ("stale", "payment.provider_signature_stale"),
    ("garbage", "payment.provider_malformed"), ("wrong_shape", "payment.provider_malformed"),
])
def test_an_answer_that_cannot_be_trusted_is_a_clear_error(fake, wx, fault, code):
    fake.faults.append(fault)
    with pytest.raises(ProviderError) as e:
        wx.jsapi("LLP000000000001", 100, "x", OPENID)
    assert e.value.code == code and e.value.status == 502
    assert e.value.to_problem()["provider"] == "wechatpay"


@pytest.mark.parametrize("fault", ["unavailable", "throttled"])
def test_a_5xx_or_throttling_is_the_outage_error(fake, wx, fault):
    fake.faults.append(fault)
    with pytest.raises(ServiceUnavailable) as e:
        wx.query("LLP000000000001")
    assert e.value.status == 503 and e.value.code == "payment.provider_unavailable"


def test_no_connection_or_no_answer_in_time_is_the_outage_error(fake, merchant_key):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}"
    with pytest.raises(ServiceUnavailable):
        WechatPay(credentials(fake, merchant_key, base_url=closed)).query("LLP000000000001")

    def hang(request):
        raise httpx.ReadTimeout("timed out", request=request)
    with pytest.raises(ServiceUnavailable):
        WechatPay(credentials(fake, merchant_key), http=httpx.Client(transport=httpx.MockTransport(hang))).query("LLP000000000001")


def test_platform_certificates_by_serial_work_as_the_public_key_does(fake, merchant_key, platform_key):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(platform_key.public_key())
            .serial_number(0x5157F09EFDC096DE15EBE81A47057A7232F1B8E1).not_valid_before(now() - timedelta(days=1))
            .not_valid_after(now() + timedelta(days=365)).sign(platform_key, hashes.SHA256()))
    from cryptography.hazmat.primitives.serialization import Encoding
    cert_pem = cert.public_bytes(Encoding.PEM).decode()
    fake.serial = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    fake.serials.add(fake.serial)
    wx = WechatPay(credentials(fake, merchant_key, public_key_id="", public_key="", platform_certificates=(cert_pem,)))
    assert wx.jsapi("LLP000000000001", 100, "x", OPENID).prepay_id
    headers, body = fake.pay("LLP000000000001", OPENID)
    assert wx.parse_callback(headers, body, now()).gateway_ref == "LLP000000000001"
    fake.serial = fake.public_key_id  # signed with the public key's id: unknown to a certificates-only client
    with pytest.raises(ProviderError):
        wx.query("LLP000000000001")
    both = WechatPay(credentials(fake, merchant_key, platform_certificates=(cert_pem,)))
    assert both.query("LLP000000000001").paid


# --- query and close ------------------------------------------------------------------------

def test_query_tells_unpaid_paid_and_unknown_orders_apart(fake, wx):
    wx.jsapi("LLP000000000001", 6800, "五常大米 5kg", OPENID)
    t = wx.query("LLP000000000001")
    assert (t.trade_state, t.paid, t.total, t.transaction_id, t.as_callback()) == ("NOTPAY", False, 6800, "", None)
    fake.pay("LLP000000000001", OPENID)
    t = wx.query("LLP000000000001")
    assert t.paid and t.payer_total == 6800 and t.payer == OPENID
    assert t.as_callback() == Callback("LLP000000000001", 6800, t.transaction_id, "SUCCESS", OPENID)
    assert wx.query("LLP000000000404") is None


def test_close_closes_an_unpaid_order_and_a_paid_one_is_refused(fake, wx):
    wx.h5("LLP000000000002", 990, "青菜", "203.0.113.7")
    assert wx.close("LLP000000000002") is None
    assert wx.query("LLP000000000002").trade_state == "CLOSED"
    with pytest.raises(ProviderRefused) as e:
        wx.jsapi("LLP000000000002", 990, "青菜", OPENID)
    assert e.value.provider_code == "ORDER_CLOSED"
    _paid_order(fake, wx)
    with pytest.raises(ProviderRefused) as e:
        wx.close("LLP000000000001")
    assert e.value.provider_code == "ORDERPAID"


# --- notifications ----------------------------------------------------------------------------

def test_a_payment_notification_posted_to_us_parses_to_the_callback(fake, merchant_key):
    got: list[tuple[dict, bytes]] = []

    async def notify(request):
        got.append((dict(request.headers), await request.body()))
        return JSONResponse({"code": "SUCCESS", "message": "成功"})
    receiver = LiveServer(Starlette(routes=[Route("/wechatpay/notify", notify, methods=["POST"])])).start()
    try:
        wx2 = WechatPay(credentials(fake, merchant_key, notify_url=receiver.url + "/wechatpay/notify"))
        wx2.jsapi("LLP000000000001", 6800, "五常大米 5kg", OPENID)
        assert fake.pay("LLP000000000001", OPENID, deliver=True) is not None
    finally:
        receiver.stop()
    (headers, body), = got
    cb = wx2.parse_callback(headers, body, now())
    t = wx2.query("LLP000000000001")
    assert cb == Callback("LLP000000000001", 6800, t.transaction_id, "SUCCESS", OPENID)


def test_twenty_duplicate_notifications_parse_to_the_same_callback(fake, wx):
    _paid_order(fake, wx)
    seen = {wx.parse_callback(*fake.notification_for("LLP000000000001"), now()) for _ in range(20)}
    assert len(seen) == 1 and next(iter(seen)).amount == 6800


def test_forged_tampered_stale_and_unreadable_notifications_are_refused(fake, wx):
    _paid_order(fake, wx)
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    headers, body = fake.notification_for("LLP000000000001")
    forged = {**headers, "Wechatpay-Signature": base64.b64encode(forger.sign(
        f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode() + body + b"\n", padding.PKCS1v15(), hashes.SHA256())).decode()}
    late = int(now().timestamp()) - 6 * 60
    cases = {
        "forged": (forged, body, "payment.signature_invalid"),
        "tampered": (*fake.notification_for("LLP000000000001", tamper=True), "payment.signature_invalid"),
        "unknown serial": (*fake.notification_for("LLP000000000001", serial="PUB_KEY_ID_0000000000000000000000000777"), "payment.signature_invalid"),
        "no signature": ({"Content-Type": "application/json"}, body, "payment.signature_invalid"),
        "bad timestamp": ({**headers, "Wechatpay-Timestamp": "²³"}, body, "payment.signature_invalid"),
        "late": (*fake.notification_for("LLP000000000001", ts=late), "payment.callback_stale"),
        "other APIv3 key": (*fake.notification_for("LLP000000000001", apiv3_key="c" * 32), "payment.callback_malformed"),
        "not JSON inside": (*fake.notification_for("LLP000000000001", resource=b"not json"), "payment.callback_malformed"),
        "no amount": (*fake.notification_for("LLP000000000001", resource={"mchid": MCHID, "out_trade_no": "LLP1", "transaction_id": "42",
                                                                              "trade_state": "SUCCESS"}), "payment.callback_malformed"),
        "amount not fen": (*fake.notification_for("LLP000000000001", resource={"mchid": MCHID, "out_trade_no": "LLP1", "transaction_id": "42",
                                                                                  "trade_state": "SUCCESS", "amount": {"total": "68.00"}}), "payment.callback_malformed"),
        "another merchant": (*fake.notification_for("LLP000000000001", resource={"mchid": "1900009999", "out_trade_no": "LLP1",
                                                                                    "transaction_id": "42", "trade_state": "SUCCESS", "amount": {"total": 1}}), "payment.callback_malformed"),
    }
    for name, (h, b, code) in cases.items():
        with pytest.raises(CallbackRefused) as e:
            wx.parse_callback(h, b, now())
        assert e.value.code == code, name
    # A signed body that is no notification at all.
    junk = b"[1,2,3]"
    with pytest.raises(CallbackRefused) as e:
        wx.parse_callback(fake.signed_headers(junk), junk, now())
    assert e.value.code == "payment.callback_malformed"


def test_a_notification_with_another_amount_is_refused_against_the_payment(fake, wx):
    _paid_order(fake, wx)
    headers, body = fake.notification_for("LLP000000000001", amount=1)
    assert wx.parse_callback(headers, body, now()).amount == 1  # genuine, but not what we asked for…
    with pytest.raises(CallbackRefused) as e:
        wx.parse_callback(headers, body, now(), expected_amount=6800)
    assert e.value.code == "payment.amount_mismatch"
    assert wx.parse_callback(*fake.notification_for("LLP000000000001"), now(), expected_amount=6800).amount == 6800


# --- refunds -------------------------------------------------------------------------------

def test_a_refund_happens_once_under_retries_with_the_same_number(fake, wx):
    _paid_order(fake, wx)
    fake.faults.append("lost")  # WeChat Pay takes the refund, the answer is lost
    with pytest.raises(ServiceUnavailable):
        wx.refund("LLP000000000001", "LLR1", 1800, total=6800)
    first = wx.refund("LLP000000000001", "LLR1", 1800)  # the total asked from WeChat Pay
    again = wx.refund("LLP000000000001", "LLR1", 1800, total=6800)
    assert first == again and first.status == "PROCESSING" and first.state == "processing"
    assert first.result == RefundResult(True, first.refund_id)
    assert len(fake.refunds) == 1 and fake.orders[(MCHID, "LLP000000000001")].refunded == 1800
    with pytest.raises(ProviderRefused):
        wx.refund("LLP000000000001", "LLR1", 1900, total=6800)  # the number names another refund
    with pytest.raises(ProviderRefused):
        wx.refund("LLP000000000001", "LLR2", 6000, total=6800)  # more than is left
    assert wx.query("LLP000000000001").trade_state == "REFUND"


def test_a_refund_is_queried_and_its_notifications_parse(fake, wx):
    _paid_order(fake, wx)
    wx.refund("LLP000000000001", "LLR1", 1800)
    assert wx.query_refund("LLR1").state == "processing"
    assert wx.query_refund("LLR404") is None
    notice = wx.parse_notification(*fake.settle_refund("LLR1", "SUCCESS"), now())
    assert isinstance(notice, RefundNotice) and (notice.out_refund_no, notice.status, notice.state, notice.refund, notice.total) == \
        ("LLR1", "SUCCESS", "succeeded", 1800, 6800)
    done = wx.query_refund("LLR1")
    assert done.state == "succeeded" and done.success_time
    wx.refund("LLP000000000001", "LLR2", 500)
    abnormal = wx.parse_notification(*fake.settle_refund("LLR2", "ABNORMAL"), now())
    assert abnormal.state == "abnormal" and wx.query_refund("LLR2").result == RefundResult(False, abnormal.refund_id, "wechatpay: refund ABNORMAL")
    with pytest.raises(CallbackRefused):
        wx.parse_callback(*fake.settle_refund("LLR2", "CLOSED"), now())  # a refund notice is no payment
    with pytest.raises(ProviderRefused):
        wx.refund("LLP000000000404", "LLR3", 100)


# --- merchant transfers: the payout port --------------------------------------------------------

def _payout(wx, openids: dict[int, str] | None = None) -> WechatPayout:
    return WechatPayout(wx, (openids or {7: OPENID}).get)


def test_the_payout_states_are_commission_payouts():
    assert (payout.PAID, payout.FAILED, payout.PROCESSING, payout.NOT_FOUND) == ("paid", "failed", "processing", "not_found")


def test_a_payout_moves_money_once_under_retries(fake, wx):
    gw = _payout(wx).connect(object())
    number = payout.transfer_no(12)
    assert gw.query(number).state == payout.NOT_FOUND
    fake.faults.append("lost")  # the bill is made, the answer is lost
    with pytest.raises(ServiceUnavailable):
        gw.pay(number, 7, 2500)
    r = gw.pay(number, 7, 2500)
    assert r.state == payout.PROCESSING and r.package_info and r.ref  # WAIT_USER_CONFIRM: the sharer confirms in WeChat
    assert gw.pay(number, 7, 2500) == r and len(fake.transfers) == 1
    t = fake.transfers[(MCHID, number)]
    assert (t.openid, t.amount, t.state) == (OPENID, 2500, "WAIT_USER_CONFIRM")
    notice = wx.parse_notification(*fake.settle_transfer(number, "SUCCESS"), now())
    assert isinstance(notice, TransferNotice) and notice.payout_state == payout.PAID and notice.amount == 2500
    assert gw.query(number).state == payout.PAID and gw.pay(number, 7, 2500).state == payout.PAID


@pytest.mark.parametrize("state, want", [("FAIL", payout.FAILED), ("CANCELLED", payout.FAILED), ("TRANSFERING", payout.PROCESSING)])
def test_a_payout_that_ends_otherwise(fake, wx, state, want):
    gw = _payout(wx)
    gw.pay("LLW0000000013", 7, 900)
    fake.settle_transfer("LLW0000000013", state, "PAYEE_ACCOUNT_ABNORMAL" if state == "FAIL" else "")
    r = gw.query("LLW0000000013")
    assert r.state == want and (r.error is not None) == (want == payout.FAILED)


def test_a_payout_refused_before_any_bill_exists_fails_and_one_without_openid_too(fake, wx):
    gw = _payout(wx)
    fake.refuse_transfers = "NOT_ENOUGH"
    r = gw.pay("LLW0000000014", 7, 900)
    assert r.state == payout.FAILED and "NOT_ENOUGH" in r.error and fake.transfers == {}
    assert gw.pay("LLW0000000015", 8, 900).state == payout.FAILED  # member 8 has no openid
    assert len(fake.seen) == 2  # the transfer and the query that showed no bill; nothing for member 8
    fake.refuse_transfers = None
    fake.transfer_state = "ACCEPTED"
    assert gw.pay("LLW0000000014", 7, 900).state == payout.PROCESSING


def test_a_payout_refused_on_a_repeat_keeps_the_first_transfer(fake, wx):
    gw = _payout(wx, {7: OPENID, 9: "oOtherPayee"})
    gw.pay("LLW0000000016", 7, 900)
    fake.settle_transfer("LLW0000000016", "SUCCESS")
    r = gw.pay("LLW0000000016", 9, 900)  # WeChat Pay refuses the clash; the number has paid
    assert r.state == payout.PAID and len(fake.transfers) == 1


def test_a_transfer_answer_that_is_not_trusted_leaves_the_payout_in_doubt(fake, wx):
    fake.faults.append("tamper")
    with pytest.raises(ProviderError):
        _payout(wx).pay("LLW0000000017", 7, 900)
    assert _payout(wx).query("LLW0000000017").state == payout.PROCESSING  # the bill exists: never paid twice


# --- the service-provider (服务商) mode ------------------------------------------------------------

def test_a_service_provider_pays_refunds_and_transfers_for_its_sub_merchant(fake, wx_partner, merchant_key):
    p = wx_partner.jsapi("LLP000000000001", 6800, "五常大米 5kg", OPENID)
    assert p.pay_params["appId"] == SUB_APPID
    order = fake.orders[(SUB_MCHID, "LLP000000000001")]
    assert (order.sp_mchid, order.sub_appid) == (SP_MCHID, SUB_APPID)
    cb = wx_partner.parse_callback(*fake.pay("LLP000000000001", OPENID), now())
    assert cb.payer == OPENID and cb.amount == 6800
    assert wx_partner.query("LLP000000000001").paid
    assert wx_partner.refund("LLP000000000001", "LLR1", 800).refund == 800
    assert wx_partner.query_refund("LLR1").refund == 800
    assert isinstance(wx_partner.parse_notification(*fake.settle_refund("LLR1"), now()), RefundNotice)
    gw = _payout(wx_partner)
    assert gw.pay("LLW0000000018", 7, 900).state == payout.PROCESSING
    assert gw.query("LLW0000000018").state == payout.PROCESSING
    assert wx_partner.parse_notification(*fake.settle_transfer("LLW0000000018"), now()).payout_state == payout.PAID
    wx_partner.h5("LLP000000000002", 100, "x", "198.51.100.1")
    wx_partner.close("LLP000000000002")
    assert wx_partner.query("LLP000000000002").trade_state == "CLOSED"
    assert {path for _, path in fake.seen} >= {
        "/v3/pay/partner/transactions/jsapi", "/v3/pay/partner/transactions/h5", "/v3/pay/partner/transactions/out-trade-no/LLP000000000001",
        "/v3/pay/partner/transactions/out-trade-no/LLP000000000002/close", "/v3/refund/domestic/refunds",
        "/v3/fund-app/mch-transfer/partner/transfer-bills", "/v3/fund-app/mch-transfer/partner/transfer-bills/out-bill-no/LLW0000000018"}
    # Without the sp_appid's openid mapping: the provider's own openid (sp_openid).
    sp = WechatPay(credentials(fake, merchant_key, partner=True))
    assert sp.jsapi("LLP000000000003", 100, "x", OPENID).pay_params["appId"] != SUB_APPID
    # A direct merchant's notification is not the sub-merchant's.
    direct = WechatPay(credentials(fake, merchant_key))
    with pytest.raises(CallbackRefused):
        direct.parse_callback(*fake.notification_for("LLP000000000001", account=SUB_MCHID), now())


# --- the trade bill -----------------------------------------------------------------------------

def test_the_trade_bill_downloads_checks_its_digest_and_parses(fake, wx):
    _paid_order(fake, wx)
    wx.refund("LLP000000000001", "LLR1", 1800)
    fake.make_bill("2026-05-01", MCHID)
    bill = wx.fetch_trade_bill("2026-05-01")
    pay, refund = bill.rows
    t = wx.query("LLP000000000001")
    assert (pay.out_trade_no, pay.transaction_id, pay.trade_state, pay.total, pay.openid) == ("LLP000000000001", t.transaction_id, "SUCCESS", 6800, OPENID)
    assert (refund.trade_state, refund.out_refund_no, refund.refund, refund.refund_requested) == ("REFUND", "LLR1", 1800, 1800)
    assert (bill.summary.count, bill.summary.order_total, bill.summary.refund_total) == (2, 6800, 1800)
    fake.corrupt_bill("2026-05-01", MCHID)
    with pytest.raises(ProviderError) as e:
        wx.fetch_trade_bill("2026-05-01")
    assert e.value.code == "payment.provider_bill_mismatch"
    with pytest.raises(ProviderRefused) as e:
        wx.trade_bill("2026-04-30")
    assert e.value.provider_code == "NO_STATEMENT_EXIST"


def test_a_bill_is_only_downloaded_from_wechat_pay(fake, wx):
    fake.make_bill("2026-05-01", MCHID)
    info = wx.trade_bill("2026-05-01")
    elsewhere = type(info)("https://evil.example.com/v3/billdownload/file?token=x", info.hash_type, info.hash_value)
    with pytest.raises(ProviderError) as e:
        wx.download_bill(elsewhere)
    assert e.value.code == "payment.provider_malformed"
    assert ("GET", "/v3/billdownload/file") not in fake.seen


def test_a_refusal_is_a_problem_with_the_providers_code(fake, wx):
    with pytest.raises(ProviderRefused) as e:
        wx.refund("LLP000000000001", "LLR1", 100, total=100)
    problem = e.value.to_problem()
    assert problem["code"] == "payment.provider_refused" and problem["provider_code"] == "RESOURCE_NOT_EXISTS" and problem["status"] == 502
    assert json.dumps(problem, ensure_ascii=False)
