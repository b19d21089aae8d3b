"""The Alipay client against its local fake over real HTTP: signatures both ways, the phone
browser payment, queries, close, notifications (forged, tampered, wrong app, wrong amount,
repeated, late, malformed), refunds and transfers once under retries, the bill, and every
kind of failure as a clear error (503 for an outage). No database: these run once."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from dataclasses import fields
from datetime import date, datetime, timezone

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from linli.commission import payout
from linli.errors import Invalid, ServiceUnavailable
from linli.payments.gateway import Callback, CallbackRefused, RefundResult
from linli.payments.providers import alipay_sign as sig
from linli.payments.providers.alipay import (
    OPEN_ID,
    PROCESSING,
    SUCCEEDED,
    AlipayClient,
    AlipayCredentials,
    AlipayPayments,
    AlipayPayout,
    PayoutAnswer,
    ProviderRefused,
    ProviderUnverified,
    out_request_no,
    out_trade_no,
)
from tests.e2e.conftest import LiveServer
from tests.payments.fakes.alipay_fake import APP_ID, BUYER_ID, AlipayFake, bill_zip, new_key, private_pem, public_pem

NOTIFY_URL = "https://shop.example.com/payments/alipay/notify"
NOW = datetime(2024, 1, 5, 2, 0, 0, tzinfo=timezone.utc)  # 10:00 in Beijing


@pytest.fixture(scope="module")
def app_key(ali_key) -> rsa.RSAPrivateKey:
    return ali_key


@pytest.fixture
def fake(ali) -> AlipayFake:
    return ali


def make_client(fake: AlipayFake, key: rsa.RSAPrivateKey, **changes) -> AlipayClient:
    creds = AlipayCredentials(app_id=APP_ID, private_key=private_pem(key), alipay_public_key=fake.public_key_pem,
                              notify_url=NOTIFY_URL, base_url=fake.gateway_url)
    timeout = changes.pop("timeout", 5.0)
    creds = AlipayCredentials(**{**{f.name: getattr(creds, f.name) for f in fields(creds)}, **changes})
    return AlipayClient(creds, httpx.Client(timeout=timeout), clock=lambda: NOW)


@pytest.fixture
def client(fake, app_key):
    c = make_client(fake, app_key)
    yield c
    c.http.close()


def opened(client: AlipayClient, number: str = "LLP000000000001", amount: int = 6800) -> str:
    """The buyer's phone opens the payment page (the fake then knows the trade)."""
    page = client.wap_pay(number, amount, "优邻优选 订单 1", quit_url="https://shop.example.com/orders/1")
    r = httpx.get(page.url)
    assert r.status_code == 200, r.text
    return number


def paid(client: AlipayClient, fake: AlipayFake, number: str = "LLP000000000001", amount: int = 6800) -> dict[str, str]:
    return fake.buyer_pays(opened(client, number, amount))


# --- pure: amounts, signing vectors, keys, response extraction -------------------------------


@pytest.mark.parametrize(("text", "fen"), [("68.00", 6800), ("68", 6800), ("68.5", 6850), ("0.01", 1), ("0", 0), ("100000000.00", 10_000_000_000)])
def test_yuan_strings_become_exact_fen(text, fen):
    assert sig.to_fen(text) == fen
    assert sig.to_fen(sig.to_yuan(fen)) == fen


@pytest.mark.parametrize("text", ["-1.00", "1.005", "1e2", " 1.00", "1.00 ", "１.00", "", ".5", "01.00", "1,000.00", "1.", "NaN", "+1", 68.0, 68, None])
def test_anything_but_a_plain_amount_with_two_decimals_is_refused(text):
    with pytest.raises(ValueError):
        sig.to_fen(text)


@pytest.mark.parametrize("fen", [-1, 1.5, True, "68"])
def test_only_non_negative_whole_fen_are_sent(fen):
    with pytest.raises(ValueError):
        sig.to_yuan(fen)
    assert sig.to_yuan(1) == "0.01" and sig.to_yuan(6800) == "68.00" and sig.to_yuan(123456) == "1234.56"


def test_the_string_to_sign_is_the_docs_example():
    # The request of "自行实现签名" (opendocs.alipay.com/common/02kf5q), biz_content shortened:
    # every parameter but sign, sorted, k=v joined with &, raw values, empty ones left out.
    params = {"app_id": "2014072300007148", "method": "alipay.mobile.public.menu.add", "charset": "GBK", "sign_type": "RSA2",
              "timestamp": "2014-07-24 03:07:50", "biz_content": '{"button":[{"actionParam":"ZFB_HFCZ","actionType":"out","name":"话费充值"}]}',
              "version": "1.0", "notify_url": "", "sign": "ignored"}
    assert sig.sign_content(params) == (
        'app_id=2014072300007148&biz_content={"button":[{"actionParam":"ZFB_HFCZ","actionType":"out","name":"话费充值"}]}'
        "&charset=GBK&method=alipay.mobile.public.menu.add&sign_type=RSA2&timestamp=2014-07-24 03:07:50&version=1.0")


def test_rsa2_is_pkcs1_v1_5_over_sha256(app_key):
    # Checked with the raw RSA operation, independently of the library that signed: s^e mod n
    # is 00 01 FF…FF 00 || DigestInfo(SHA-256) || H (RFC 8017 §9.2).
    content = "app_id=2021&biz_content={}&charset=utf-8"
    s = int.from_bytes(base64.b64decode(sig.rsa2_sign(app_key, content)), "big")
    pub = app_key.public_key().public_numbers()
    em = pow(s, pub.e, pub.n).to_bytes(256, "big")
    t = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(content.encode()).digest()
    assert em == b"\x00\x01" + b"\xff" * (256 - 3 - len(t)) + b"\x00" + t
    assert sig.rsa2_verify(app_key.public_key(), content, sig.rsa2_sign(app_key, content))
    assert not sig.rsa2_verify(app_key.public_key(), content + "&x=1", sig.rsa2_sign(app_key, content))
    assert not sig.rsa2_verify(app_key.public_key(), content, "not base64!")
    assert not sig.rsa2_verify(new_key().public_key(), content, sig.rsa2_sign(app_key, content))


def test_request_parameters_carry_beijing_time_and_the_merchant_token():
    p = sig.request_params(APP_ID, "alipay.trade.query", {"out_trade_no": "LLP1"}, NOW, app_auth_token="tok", notify_url=None)
    assert p == {"app_id": APP_ID, "method": "alipay.trade.query", "format": "JSON", "charset": "utf-8", "sign_type": "RSA2",
                 "timestamp": "2024-01-05 10:00:00", "version": "1.0", "biz_content": '{"out_trade_no":"LLP1"}', "app_auth_token": "tok"}
    assert sig.timestamp(datetime(2024, 1, 5, 2, 0, 0)) == "2024-01-05 10:00:00"  # naive is UTC


def test_keys_load_as_pem_either_format_or_bare_base64(app_key):
    pkcs1 = app_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()).decode()
    bare = base64.b64encode(app_key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())).decode()
    pub_bare = "".join(public_pem(app_key.public_key()).splitlines()[1:-1])
    for text in (pkcs1, private_pem(app_key), bare):
        assert sig.load_private_key(text).private_numbers() == app_key.private_numbers()
    assert sig.load_public_key(pub_bare).public_numbers() == app_key.public_key().public_numbers()
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    for bad in ("not a key", private_pem(small), ""):
        with pytest.raises(ValueError):
            sig.load_private_key(bad)


def test_a_response_is_verified_over_its_exact_text(ali_served):
    key = ali_served.key
    node_text = '{"code":"10000","msg":"Success","bill_download_url":"https:\\/\\/dwbillcenter.alipay.com\\/x?a=1&b=2"}'
    body = '{"alipay_data_dataservice_bill_downloadurl_query_response":' + node_text + ',"sign":"' + sig.rsa2_sign(key, node_text) + '"}'
    answer = sig.read_answer(body, "alipay.data.dataservice.bill.downloadurl.query", key.public_key())
    assert answer.ok and answer.signed and answer.node["bill_download_url"] == "https://dwbillcenter.alipay.com/x?a=1&b=2"
    # Re-serialising the node would lose the \/ escapes and with them the signature.
    assert not sig.rsa2_verify(key.public_key(), json.dumps(answer.node, ensure_ascii=False, separators=(",", ":")), sig.rsa2_sign(key, node_text))
    spaced = body.replace(':{"code"', ' :  {"code"').replace(',"sign"', ' ,\n "sign"')
    assert sig.read_answer(spaced, "alipay.data.dataservice.bill.downloadurl.query", key.public_key()).ok
    for bad in (body.replace("a=1", "a=2"), body.replace('"sign":"', '"sign":"A'), body + "x", body.replace("}", "}}", 1),
                '{"alipay_trade_query_response":' + node_text + "}", "[]", '{"x":1,"x":2}', "{" * 5000):
        with pytest.raises(sig.Unverifiable):
            sig.read_answer(bad, "alipay.data.dataservice.bill.downloadurl.query", key.public_key())
    # An error the gateway could not sign comes without sign; it is read, marked unsigned.
    unsigned = sig.read_answer('{"error_response":{"code":"40002","msg":"Invalid Arguments","sub_code":"isv.invalid-app-id"}}', "alipay.trade.query", key.public_key())
    assert not unsigned.ok and not unsigned.signed and unsigned.node["sub_code"] == "isv.invalid-app-id"


# --- the request signature, the phone browser payment, query, close --------------------------


def test_the_wap_payment_page_is_signed_and_the_fake_accepts_it(client, fake):
    page = client.wap_pay("LLP000000000007", 6800, "优邻优选 订单 7", quit_url="https://shop.example.com/orders/7", return_url="https://shop.example.com/paid")
    assert page.url.startswith(fake.gateway_url + "?")
    p = page.params
    assert p["method"] == "alipay.trade.wap.pay" and p["notify_url"] == NOTIFY_URL and p["return_url"] == "https://shop.example.com/paid"
    assert p["timestamp"] == "2024-01-05 10:00:00" and p["sign_type"] == "RSA2"
    assert json.loads(p["biz_content"]) == {"out_trade_no": "LLP000000000007", "total_amount": "68.00", "subject": "优邻优选 订单 7",
                                            "product_code": "QUICK_WAP_WAY", "quit_url": "https://shop.example.com/orders/7"}
    r = httpx.get(page.url)
    assert r.status_code == 200 and "￥68.00" in r.text
    assert fake.trades["LLP000000000007"].status == "WAIT_BUYER_PAY"
    # The same page with the amount changed on the way is refused by the gateway.
    forged = httpx.get(fake.gateway_url, params={**p, "biz_content": p["biz_content"].replace("68.00", "0.01")})
    assert forged.status_code == 400 and "isv.invalid-signature" in forged.text


def test_the_page_refuses_a_bad_title(client):
    with pytest.raises(Invalid):
        client.wap_pay("LLP1", 100, "a&b=c", quit_url="https://shop.example.com/")


def test_a_call_signed_with_another_key_is_refused_as_alipay_does(fake):
    stranger = make_client(fake, new_key())
    with pytest.raises(ProviderRefused) as err:
        stranger.query("LLP1")
    assert err.value.sub_code == "isv.invalid-signature" and err.value.provider_code == "40002" and not err.value.signed
    assert err.value.status == 502 and err.value.to_problem()["sub_code"] == "isv.invalid-signature"
    assert fake.calls == []


def test_query_tells_each_state_of_a_trade(client, fake):
    assert client.query("LLP000000000001") is None  # the buyer has not opened the page
    opened(client)
    t = client.query("LLP000000000001")
    assert (t.status, t.amount, t.paid, t.buyer_id) == ("WAIT_BUYER_PAY", 6800, False, None)
    fake.buyer_pays("LLP000000000001")
    t = client.query("LLP000000000001")
    assert (t.status, t.amount, t.paid, t.buyer_id, t.trade_no) == ("TRADE_SUCCESS", 6800, True, BUYER_ID, fake.trades["LLP000000000001"].trade_no)
    fake.trades["LLP000000000001"].status = "TRADE_FINISHED"
    assert client.query("LLP000000000001").paid
    assert json.loads(fake.calls[-1]["biz_content"]) == {"out_trade_no": "LLP000000000001"}


def test_close_an_unpaid_trade(client, fake):
    assert client.close("LLP000000000009") is False  # Alipay never heard of it
    opened(client, "LLP000000000009")
    assert client.close("LLP000000000009") is True
    assert client.query("LLP000000000009").status == "TRADE_CLOSED"
    paid(client, fake, "LLP000000000010")
    with pytest.raises(ProviderRefused) as err:
        client.close("LLP000000000010")
    assert err.value.sub_code == "ACQ.TRADE_STATUS_ERROR" and err.value.signed


def test_a_service_provider_calls_with_the_merchants_token(fake, app_key):
    acting = make_client(fake, app_key, app_auth_token="202401BBmerchanttoken")
    with pytest.raises(ProviderRefused) as err:
        acting.query("LLP1")
    assert err.value.provider_code == "20001" and err.value.sub_code == "aop.invalid-app-auth-token"
    fake.app_auth_tokens.add("202401BBmerchanttoken")
    assert acting.query("LLP1") is None
    assert fake.calls[-1]["app_auth_token"] == "202401BBmerchanttoken"
    assert "app_auth_token" in acting.wap_pay("LLP1", 100, "订单", quit_url="https://shop.example.com/").params


def test_unusable_keys_are_refused_up_front(fake, app_key):
    with pytest.raises(Invalid) as err:
        AlipayClient(AlipayCredentials(APP_ID, "nope", fake.public_key_pem))
    assert err.value.code == "payment.provider_credentials"
    assert "PRIVATE KEY" not in repr(AlipayCredentials(APP_ID, private_pem(app_key), fake.public_key_pem))


# --- notifications ----------------------------------------------------------------------------


def test_a_paid_notification_becomes_a_callback(client, fake):
    form = paid(client, fake)
    cb = client.parse_notification(fake.body(form))
    assert cb == Callback("LLP000000000001", 6800, fake.trades["LLP000000000001"].trade_no, "SUCCESS", BUYER_ID)
    assert client.notify_reply == sig.NOTIFY_REPLY == "success"
    assert AlipayPayments(client).parse_callback(fake.body(form), None, NOW) == cb
    # Sent again (Alipay retries until it reads "success"), or hours later: the same fact.
    assert client.parse_notification(fake.body(form)) == cb
    late = fake.notification("LLP000000000001", notify_time="2024-01-04 08:00:00")
    assert client.parse_notification(fake.body(late)) == cb
    fake.trades["LLP000000000001"].status = "TRADE_FINISHED"
    assert client.parse_notification(fake.body(fake.notification("LLP000000000001"))).status == "SUCCESS"
    open_id = fake.notification("LLP000000000001", buyer_id=None, buyer_open_id="074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5")
    assert client.parse_notification(fake.body(open_id)).payer == "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5"


def test_a_notification_for_an_unpaid_or_closed_trade_is_not_a_payment(client, fake):
    opened(client)
    cb = client.parse_notification(fake.body(fake.notification("LLP000000000001")))
    assert cb.status == "WAIT_BUYER_PAY" and cb.payer is None
    fake.trades["LLP000000000001"].status = "TRADE_CLOSED"
    assert client.parse_notification(fake.body(fake.notification("LLP000000000001"))).status == "TRADE_CLOSED"


def test_a_wrong_amount_reaches_the_payment_service_as_it_was_signed(client, fake):
    # Genuinely signed but not the intent's amount: the Callback carries it exactly, and the
    # payment service refuses it (payment.amount_mismatch) when it compares with the intent.
    form = fake.notification(opened(client), trade_status="TRADE_SUCCESS", total_amount="0.01")
    assert client.parse_notification(fake.body(form)).amount == 1


@pytest.mark.parametrize("case", ["forged", "tampered_amount", "tampered_status", "wrong_app", "unsigned", "rsa1", "extra_field"])
def test_forged_tampered_or_foreign_notifications_are_refused(client, fake, case):
    form = paid(client, fake)
    bad = {
        "forged": lambda: fake.notification("LLP000000000001", key=new_key()),
        "tampered_amount": lambda: fake.tampered(form, total_amount="6.80"),
        "tampered_status": lambda: fake.tampered(fake.notification("LLP000000000001", trade_status="WAIT_BUYER_PAY"), trade_status="TRADE_SUCCESS"),
        "wrong_app": lambda: fake.notification("LLP000000000001", app_id="2021009999999999"),
        "unsigned": lambda: {k: v for k, v in form.items() if k != "sign"},
        "rsa1": lambda: fake.tampered(form, sign_type="RSA"),
        "extra_field": lambda: fake.tampered(form, passback_params="x"),
    }[case]()
    with pytest.raises(CallbackRefused) as err:
        client.parse_notification(fake.body(bad))
    assert err.value.code == "payment.signature_invalid" and err.value.status == 400


@pytest.mark.parametrize("case", ["no_amount", "three_decimals", "negative", "no_trade", "long_ref"])
def test_malformed_notifications_are_refused(client, fake, case):
    opened(client)
    overrides = {"no_amount": {"total_amount": None}, "three_decimals": {"total_amount": "68.001"}, "negative": {"total_amount": "-68.00"},
                 "no_trade": {"trade_no": None}, "long_ref": {"out_trade_no": "L" * 65}}[case]
    with pytest.raises(CallbackRefused) as err:
        client.parse_notification(fake.body(fake.notification("LLP000000000001", **overrides)))
    assert err.value.code == "payment.callback_malformed"


def test_bodies_that_are_not_a_utf8_form_are_refused(client, fake):
    form = paid(client, fake)
    for raw in (b"\xff\xfe", fake.body(form) + b"&out_trade_no=LLP2", b"=x", "total_amount=%ff".encode()):
        with pytest.raises(CallbackRefused) as err:
            client.parse_notification(raw)
        assert err.value.code == "payment.callback_malformed"


def test_the_fake_delivers_like_alipay(client, fake):
    """``deliver`` posts the form to a notify endpoint and returns its reply (for the endpoint
    built next): here a tiny endpoint built on the client."""
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    got: list[Callback] = []

    async def notify(request):
        try:
            got.append(client.parse_notification(await request.body()))
        except CallbackRefused:
            return PlainTextResponse("fail", status_code=400)
        return PlainTextResponse(client.notify_reply)

    server = LiveServer(Starlette(routes=[Route("/notify", notify, methods=["POST"])])).start()
    try:
        form = paid(client, fake)
        assert fake.deliver(server.url + "/notify", form) == "success"
        assert fake.deliver(server.url + "/notify", fake.tampered(form, total_amount="0.01")) == "fail"
    finally:
        server.stop()
    assert [c.amount for c in got] == [6800]


# --- refunds ----------------------------------------------------------------------------------


def test_a_refund_retried_with_its_number_refunds_once(client, fake):
    paid(client, fake)
    first = client.refund("LLP000000000001", 2000, "RF000001", reason="缺货")
    assert (first.status, first.amount, first.refunded_total) == (SUCCEEDED, 2000, 2000)
    again = client.refund("LLP000000000001", 2000, "RF000001")
    assert (again.status, again.refunded_total) == (SUCCEEDED, 2000)
    assert len(fake.refunds) == 1 and fake.trades["LLP000000000001"].refunded == 2000
    assert client.refund_query("LLP000000000001", "RF000001").status == SUCCEEDED
    assert client.refund_query("LLP000000000001", "RF000002") is None
    with pytest.raises(ProviderRefused) as err:
        client.refund("LLP000000000001", 4801, "RF000002")
    assert err.value.sub_code == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"
    assert client.refund("LLP000000000001", 4800, "RF000003").refunded_total == 6800
    assert client.query("LLP000000000001").status == "TRADE_CLOSED"


def test_a_refund_alipay_has_not_confirmed_stays_processing_until_it_does(client, fake):
    paid(client, fake)
    fake.refunds_pending = 1
    r = client.refund("LLP000000000001", 6800, "RF000001")
    assert r.status == PROCESSING
    assert client.refund_query("LLP000000000001", "RF000001").status == PROCESSING
    fake.refunds[("LLP000000000001", "RF000001")].settled = True
    assert client.refund("LLP000000000001", 6800, "RF000001").status == SUCCEEDED
    assert len(fake.refunds) == 1


def test_the_payments_port_refunds_by_request_key(client, fake):
    paid(client, fake, out_trade_no(1))
    gw = AlipayPayments(client)
    assert gw.name == "alipay" and gw.create_intent(1, 6800) == "LLP000000000001"
    ok = gw.refund(out_trade_no(1), 1000, "refund:case:17")
    assert ok == RefundResult(True, fake.trades[out_trade_no(1)].trade_no)
    assert gw.refund(out_trade_no(1), 1000, "refund:case:17") == ok and len(fake.refunds) == 1
    assert out_request_no("refund:case:17") == next(iter(fake.refunds))[1] and out_request_no("RF_1") == "RF_1"
    fake.refunds_pending = 1
    assert gw.refund(out_trade_no(1), 1000, "refund:case:18").pending  # not confirmed yet: the query settles it
    refused = gw.refund(out_trade_no(1), 99_999, "refund:case:19")
    assert not refused.ok and "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL" in refused.error


# --- transfers (sharer payouts) ---------------------------------------------------------------

ACCOUNTS = {7: "2088102177840007", 8: None}


@pytest.fixture
def payouts(client) -> AlipayPayout:
    gw = AlipayPayout(client, ACCOUNTS.get)
    assert gw.connect(object()) is gw
    return gw


def test_the_payout_answers_in_the_commission_ports_terms():
    assert (payout.PAID, payout.FAILED, payout.PROCESSING, payout.NOT_FOUND) == ("paid", "failed", "processing", "not_found")
    from linli.payments.providers import alipay

    assert (alipay.PAID, alipay.FAILED, alipay.PAYING, alipay.NOT_FOUND) == (payout.PAID, payout.FAILED, payout.PROCESSING, payout.NOT_FOUND)
    assert [f.name for f in fields(PayoutAnswer)] == [f.name for f in fields(payout.PayoutResult)]


def test_a_transfer_retried_with_its_number_pays_once(payouts, fake):
    number = payout.transfer_no(41)
    first = payouts.pay(number, 7, 12345)
    assert first.state == payout.PAID and first.ref
    assert payouts.pay(number, 7, 12345) == first
    assert len(fake.transfers) == 1 and fake.transfers[number].amount == 12345 and fake.transfers[number].payee == ACCOUNTS[7]
    biz = json.loads(fake.calls[0]["biz_content"])
    assert biz == {"out_biz_no": number, "trans_amount": "123.45", "product_code": "TRANS_ACCOUNT_NO_PWD", "biz_scene": "DIRECT_TRANSFER",
                   "order_title": "佣金提现", "payee_info": {"identity": ACCOUNTS[7], "identity_type": "ALIPAY_USER_ID"}}
    assert payouts.query(number) == first
    assert payouts.query(payout.transfer_no(42)) == PayoutAnswer(payout.NOT_FOUND)


def test_a_refused_or_failed_transfer_is_failed(payouts, fake):
    fake.transfer_script = ["PAYER_BALANCE_NOT_ENOUGH", "FAIL"]
    refused = payouts.pay(payout.transfer_no(1), 7, 5000)
    assert refused.state == payout.FAILED and "PAYER_BALANCE_NOT_ENOUGH" in refused.error
    failed = payouts.pay(payout.transfer_no(2), 7, 5000)
    assert failed.state == payout.FAILED
    assert payouts.query(payout.transfer_no(2)).error == "PAYEE_ACCOUNT_STATUS_ERROR 收款账户状态异常"
    too_small = payouts.pay(payout.transfer_no(3), 7, 9)
    assert too_small.state == payout.FAILED and "EXCEED_LIMIT_SM_MIN_AMOUNT" in too_small.error
    assert payouts.pay(payout.transfer_no(4), 8, 5000) == PayoutAnswer(payout.FAILED, None, "the member has no Alipay account")
    assert payout.transfer_no(4) not in fake.transfers


def test_a_transfer_in_doubt_is_asked_about(payouts, fake):
    fake.transfer_script = ["DEALING", "SYSTEM_ERROR", "DROP"]
    dealing = payouts.pay(payout.transfer_no(1), 7, 5000)
    assert dealing.state == payout.PROCESSING
    fake.finish_transfer(payout.transfer_no(1))
    assert payouts.query(payout.transfer_no(1)).state == payout.PAID
    # Answered "system error" although the money went: asking tells the truth.
    assert payouts.pay(payout.transfer_no(2), 7, 5000).state == payout.PAID
    # No answer at all: the outage (503); the withdrawal stays paying and is asked about later.
    with pytest.raises(ServiceUnavailable):
        payouts.pay(payout.transfer_no(3), 7, 5000)
    assert payouts.query(payout.transfer_no(3)).state == payout.PAID
    assert payouts.pay(payout.transfer_no(3), 7, 5000).state == payout.PAID and len(fake.transfers) == 3
    fake.finish_transfer(payout.transfer_no(2), "REFUND")  # 退票
    assert payouts.query(payout.transfer_no(2)).state == payout.FAILED


def test_a_repeat_to_a_changed_account_still_answers_the_first_transfer(client, fake):
    accounts = {7: "2088102177840007"}
    gw = AlipayPayout(client, accounts.get)
    first = gw.pay(payout.transfer_no(1), 7, 5000)
    accounts[7] = "2088102177849999"  # the sharer rebound another account meanwhile
    assert gw.pay(payout.transfer_no(1), 7, 5000) == first
    assert "PAYMENT_INFO_INCONSISTENCY" in fake.refusals and len(fake.transfers) == 1


def test_amounts_that_are_not_whole_fen_are_refused_before_any_call(client, fake):
    for amount in (0, -5, 1.5, True):
        for call in (lambda: client.refund("LLP1", amount, "RF1"), lambda: client.transfer("LLW1", amount, "2088"),
                     lambda: client.wap_pay("LLP1", amount, "订单", quit_url="https://shop.example.com/")):
            with pytest.raises(Invalid) as err:
                call()
            assert err.value.code == "payment.amount_invalid"
    assert fake.calls == []


def test_a_forged_transfer_answer_is_not_believed(payouts, fake):
    fake.transfer_script = ["FAIL"]
    payouts.pay(payout.transfer_no(1), 7, 5000)
    fake.faults = ["tampered"]
    with pytest.raises(ProviderUnverified):
        payouts.query(payout.transfer_no(1))


def test_a_payout_to_an_open_id(client, fake):
    gw = AlipayPayout(client, lambda member_id: "074a1CcTG1LelxKe4xQC0zgNdId0nxi95b5lsNpazWYoCo5", identity_type=OPEN_ID)
    assert gw.pay(payout.transfer_no(5), 7, 100).state == payout.PAID
    assert fake.transfers[payout.transfer_no(5)].identity_type == "ALIPAY_OPEN_ID"


# --- the bill ---------------------------------------------------------------------------------


def test_the_days_bill_lists_payments_and_refunds(client, fake):
    paid(client, fake, "LLP000000000001", 6800)
    paid(client, fake, "LLP000000000002", 1990)
    client.refund("LLP000000000001", 2000, "RF000001")
    day = date(2024, 1, 4)
    assert client.bill(day) is None  # not published yet
    fake.publish_bill(day)
    rows = client.bill(day)
    assert [(r.out_trade_no, r.kind, r.amount, r.refund_no) for r in rows] == [
        ("LLP000000000001", "trade", 6800, None), ("LLP000000000002", "trade", 1990, None), ("LLP000000000001", "refund", 2000, "RF000001")]
    assert rows[0].trade_no == fake.trades["LLP000000000001"].trade_no and rows[2].received == -2000
    assert json.loads(fake.calls[-1]["biz_content"]) == {"bill_type": "trade", "bill_date": "2024-01-04"}


def test_a_bill_that_cannot_be_read_is_a_clear_error(client, fake):
    day = date(2024, 1, 4)
    fake.bills[day.isoformat()] = ("broken", b"not a zip")
    with pytest.raises(ProviderUnverified) as err:
        client.bill(day)
    assert err.value.code == "payment.provider_malformed"
    with pytest.raises(ValueError):  # a row of a type the reconciliation does not know
        sig.parse_bill(bill_zip(day, [("T1", "LLP1", "转账", 100, 100, "")]))
    assert [r.amount for r in sig.parse_bill(bill_zip(day, [("T1", "LLP1", "交易", 100, 100, "")]))] == [100]


# --- failures ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["503", "busy"])
def test_an_outage_is_the_503_error(client, fake, fault):
    fake.faults = [fault]
    with pytest.raises(ServiceUnavailable) as err:
        client.query("LLP1")
    assert err.value.status == 503 and err.value.code == "payment.provider_unavailable"


def test_no_connection_or_a_timeout_is_the_503_error(fake, app_key):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    nobody = make_client(fake, app_key, base_url=f"http://127.0.0.1:{closed_port}/gateway.do")
    with pytest.raises(ServiceUnavailable):
        nobody.query("LLP1")
    slow = make_client(fake, app_key, timeout=0.5)
    fake.faults = ["hang"]
    with pytest.raises(ServiceUnavailable):
        slow.refund("LLP1", 100, "RF1")
    nobody.http.close()
    slow.http.close()


@pytest.mark.parametrize(("fault", "code"), [("garbage", "payment.provider_unverified"), ("unsigned", "payment.provider_unverified"),
                                             ("wrong_key", "payment.provider_unverified"), ("tampered", "payment.provider_unverified"),
                                             ("bad_amount", "payment.provider_malformed")])
def test_an_answer_that_cannot_be_trusted_or_read_is_a_clear_error(client, fake, fault, code):
    opened(client)
    fake.faults = [fault]
    with pytest.raises(ProviderUnverified) as err:
        client.query("LLP000000000001")
    assert err.value.code == code and err.value.status == 502
