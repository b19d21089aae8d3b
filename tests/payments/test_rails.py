"""Real money rails end to end against the local fakes over HTTP: a merchant's WeChat Pay
account, JSAPI intent → signed encrypted notification → order paid; refused notifications
change nothing; duplicates count once; the query job pays a late one; a payment after the
order expired goes back through WeChat Pay; a refund retried is one refund; Alipay WAP."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from linli import events, jobs
from linli.errors import ServiceUnavailable
from linli.events import OutboxEvent
from linli.identity.models import WechatIdentity
from linli.orders.models import Order
from linli.payments import service as payments
from linli.payments.models import Payment, PaymentRefund
from linli.payments.providers.wechatpay import refund_no, trade_no
from tests.conftest import login, problem_code
from tests.orders.helpers import make_shop, order
from tests.payments.conftest import APPID, wechat_direct
from tests.payments.fakes.alipay_fake import APP_ID, private_pem
from tests.web.conftest import HTML, csrf, page_login

OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
WX_NOTIFY, ALI_NOTIFY = "/api/v1/payments/wechatpay/notify", "/api/v1/payments/alipay/notify"


@pytest.fixture
def settings(settings, fake, ali):
    return settings.model_copy(update={"wechatpay_base_url": fake.url, "alipay_gateway_url": ali.gateway_url, "public_url": "https://shop.example.cn"})


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False, client=("203.0.113.7", 50000)) as c:
        yield c


class Buyer:
    def __init__(self, client, db, merchant, merchant_key, platform_key, *, openid: bool = True) -> None:
        self.client, self.db = client, db
        self.shop = make_shop(client, merchant)
        r = client.put(f"/api/v1/merchants/{merchant.id}/payment-accounts/wechatpay", json=wechat_direct(merchant_key, platform_key), headers=merchant.owner)
        assert r.status_code == 200, r.text
        self.h = login(client, "13700000001")
        self.member_id = client.get("/api/v1/me", headers=self.h).json()["id"]
        if openid:
            with db.transaction() as s:
                s.add(WechatIdentity(member_id=self.member_id, appid=APPID, openid=OPENID))

    def order(self) -> int:
        r = order(self.client, self.h, self.shop, [(self.shop.skus["berry"], 1)])
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def pay(self, oid: int, method: str = "wechat_jsapi") -> dict:
        r = self.client.post(f"/api/v1/orders/{oid}/pay", json={"method": method}, headers=self.h)
        assert r.status_code == 200, r.text
        return r.json()

    def status(self, oid: int) -> str:
        events.drain(self.db)
        return self.client.get(f"/api/v1/orders/{oid}", headers=self.h).json()["status"]


@pytest.fixture
def buyer(client, db, merchant, merchant_key, platform_key, fake) -> Buyer:
    return Buyer(client, db, merchant, merchant_key, platform_key)


def _succeeded(db) -> int:
    with db.transaction() as s:
        return s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.name == "payment.succeeded"))


def _payment(db, pid: int) -> Payment:
    with db.transaction() as s:
        p = s.get(Payment, pid)
        s.expunge(p)
        return p


def test_a_jsapi_payment_goes_from_intent_to_paid_through_the_signed_encrypted_notification(client, db, buyer, fake):
    oid = buyer.order()
    answer = buyer.pay(oid)
    params = answer["client"]
    assert answer["method"] == "wechat_jsapi" and answer["status"] == "pending"
    assert set(params) == {"appId", "timeStamp", "nonceStr", "package", "signType", "paySign"} and params["appId"] == APPID
    assert params["package"].startswith("prepay_id=")
    assert buyer.pay(oid)["client"]["package"] == params["package"]  # asked again: the same prepay at WeChat Pay
    headers, body = fake.pay(trade_no(answer["payment_id"]), OPENID)
    r = client.post(WX_NOTIFY, content=body, headers=headers)
    assert r.status_code == 204, r.text
    assert buyer.status(oid) == "paid"
    p = _payment(db, answer["payment_id"])
    assert (p.gateway, p.method, p.status, p.gateway_txn) == ("wechatpay", "wechat_jsapi", "succeeded", fake.orders[("1900000109", p.gateway_ref)].transaction_id)


def test_forged_replayed_tampered_and_wrong_amount_notifications_change_nothing(client, db, buyer, fake):
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    no = trade_no(pid)
    headers, body = fake.pay(no, OPENID)
    forged = {**headers, "Wechatpay-Signature": headers["Wechatpay-Signature"][::-1]}
    cases = {
        "forged": (forged, body, "payment.signature_invalid"),
        "replayed": (*fake.notification_for(no, ts=int(datetime.now(timezone.utc).timestamp()) - 600), "payment.callback_stale"),
        "tampered": (*fake.notification_for(no, tamper=True), "payment.signature_invalid"),
        "wrong amount": (*fake.notification_for(no, amount=1), "payment.amount_mismatch"),
        "other key": (*fake.notification_for(no, apiv3_key="b" * 32), "payment.callback_malformed"),
        "unknown serial": (*fake.notification_for(no, serial="PUB_KEY_ID_0000000000000000000000000099"), "payment.account_unknown"),
        "garbage": ({**headers}, b"not json", "payment.signature_invalid"),
    }
    for name, (h, b, reason) in cases.items():
        r = client.post(WX_NOTIFY, content=b, headers=h)
        assert r.status_code == 400 and r.json()["code"] == "FAIL" and r.json()["reason"] == reason, (name, r.text)
    assert buyer.status(oid) == "pending_payment" and _payment(db, pid).status == "pending" and _succeeded(db) == 0


def test_twenty_duplicate_notifications_make_one_payment_and_one_event(client, db, buyer, fake):
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    headers, body = fake.pay(trade_no(pid), OPENID)
    for _ in range(20):
        assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    assert buyer.status(oid) == "paid" and _succeeded(db) == 1
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Payment).where(Payment.order_id == oid)) == 1


def test_a_late_notification_the_query_job_pays_the_order(db, buyer, fake, clock):
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    fake.pay(trade_no(pid), OPENID)  # paid at WeChat Pay; the notification never arrives
    jobs.run_due(db, clock())
    assert buyer.status(oid) == "pending_payment"  # not a minute yet: not asked
    fake.faults.append("unavailable")
    jobs.run_due(db, clock.advance(seconds=61))
    assert buyer.status(oid) == "pending_payment"  # WeChat Pay was down: asked again next tick
    jobs.run_due(db, clock.advance(seconds=30))
    assert buyer.status(oid) == "paid" and _succeeded(db) == 1


def test_an_order_paid_after_it_expired_is_refunded_through_wechat_pay_never_fulfilled(client, db, buyer, fake, clock):
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    jobs.run_due(db, clock.advance(minutes=16))
    assert buyer.status(oid) == "cancelled" and _payment(db, pid).status == "closed"
    headers, body = fake.pay(trade_no(pid), OPENID)  # the buyer's page was still open
    assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    assert buyer.status(oid) == "cancelled"
    [(account, number)] = fake.refunds
    assert number == refund_no(f"late_payment:{pid}") and fake.refunds[(account, number)].amount == 6800
    with db.transaction() as s:
        [r] = s.scalars(select(PaymentRefund).where(PaymentRefund.payment_id == pid)).all()
        assert r.status == "processing" and s.get(Order, oid).paid_at is None
    headers, body = fake.settle_refund(number)  # WeChat Pay finishes the refund and says so
    assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    with db.transaction() as s:
        assert s.scalars(select(PaymentRefund.status).where(PaymentRefund.payment_id == pid)).one() == "succeeded"
        assert s.get(Payment, pid).refunded == 6800


@pytest.mark.parametrize("state", ["ABNORMAL", "CLOSED"])
def test_a_refund_that_does_not_reach_the_buyer_is_told_and_listed_for_finance(client, db, buyer, fake, clock, merchant, state):
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    jobs.run_due(db, clock.advance(minutes=16))  # expired, then paid: the late payment is refunded
    headers, body = fake.pay(trade_no(pid), OPENID)
    assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    events.drain(db)
    headers, body = fake.settle_refund(refund_no(f"late_payment:{pid}"), state)
    assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    with db.transaction() as s:
        [r] = s.scalars(select(PaymentRefund).where(PaymentRefund.payment_id == pid)).all()
        # Abnormal: the money left the shop but not to the buyer (it is completed at WeChat Pay);
        # closed: it stayed with the shop, and the payment may be refunded again.
        assert (r.status, s.get(Payment, pid).refunded) == (("abnormal", 6800) if state == "ABNORMAL" else ("failed", 0))
        [told] = s.scalars(select(OutboxEvent.payload).where(OutboxEvent.name == "payment.refund_failed")).all()
        assert (told["refund_id"], told["state"], told["request_key"]) == (r.id, r.status, f"late_payment:{pid}")
    headers, body = fake.settle_refund(refund_no(f"late_payment:{pid}"), state)  # told again: nothing more
    assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.name == "payment.refund_failed")) == 1
    page_login(client, merchant.owner_phone, "console")
    html = client.get(f"/console/merchants/{merchant.id}/reconciliation", headers=HTML).text
    assert 'data-testid="stuck-refund"' in html and f"late_payment:{pid}" in html and "¥68.00" in html


def _refunds(db, oid: int) -> dict[int, tuple[str, int]]:
    """Each payment of the order: (status, refunded)."""
    with db.transaction() as s:
        return {p.id: (p.status, p.refunded) for p in s.scalars(select(Payment).where(Payment.order_id == oid))}


def test_an_order_paid_twice_after_a_switch_of_method_keeps_one_payment_and_refunds_the_other(client, db, buyer, fake):
    oid = buyer.order()
    first = buyer.pay(oid, "wechat_jsapi")["payment_id"]
    late = fake.pay(trade_no(first), OPENID)  # paid, but its notification is late
    second = buyer.pay(oid, "wechat_h5")["payment_id"]  # the buyer, seeing it unpaid, pays again by H5
    headers, body = fake.pay(trade_no(second), OPENID)
    assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    assert buyer.status(oid) == "paid"
    assert client.post(WX_NOTIFY, content=late[1], headers=late[0]).status_code == 204
    assert buyer.status(oid) == "paid"
    assert _refunds(db, oid) == {first: ("succeeded", 6800), second: ("succeeded", 0)}
    assert [number for _, number in fake.refunds] == [refund_no(f"duplicate_payment:{first}")]
    events.drain(db)  # told again: nothing more
    assert len(fake.refunds) == 1


def test_an_after_sales_refund_of_an_order_paid_twice_goes_back_through_the_payment_that_paid_it(client, db, buyer, fake, merchant):
    oid = buyer.order()
    first = buyer.pay(oid, "wechat_jsapi")["payment_id"]
    late = fake.pay(trade_no(first), OPENID)
    second = buyer.pay(oid, "wechat_h5")["payment_id"]
    headers, body = fake.pay(trade_no(second), OPENID)
    assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204  # the second one pays the order
    assert buyer.status(oid) == "paid"
    assert client.post(WX_NOTIFY, content=late[1], headers=late[0]).status_code == 204  # the first: refunded whole
    events.drain(db)
    line = client.get(f"/api/v1/orders/{oid}", headers=buyer.h).json()["lines"][0]["id"]
    case = client.post(f"/api/v1/orders/{oid}/refunds", json={"lines": [{"line_id": line, "amount": 1000}], "reason": "坏果"}, headers=buyer.h)
    assert case.status_code == 201, case.text
    r = client.post(f"/api/v1/merchants/{merchant.id}/refunds/{case.json()['id']}/approve", headers=merchant.owner)
    assert r.status_code == 200, r.text
    assert _refunds(db, oid) == {first: ("succeeded", 6800), second: ("succeeded", 1000)}
    assert sorted(n for _, n in fake.refunds) == sorted([refund_no(f"duplicate_payment:{first}"), refund_no(f"refund_case:{case.json()['id']}")])


def test_an_abnormal_refund_finance_completes_at_wechat_pay_succeeds_later(client, db, buyer, fake, clock):
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    jobs.run_due(db, clock.advance(minutes=16))
    headers, body = fake.pay(trade_no(pid), OPENID)
    assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    events.drain(db)
    number = refund_no(f"late_payment:{pid}")
    for state in ("ABNORMAL", "SUCCESS"):  # the card was closed; finance finishes it at WeChat Pay
        headers, body = fake.settle_refund(number, state)
        assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    with db.transaction() as s:
        assert s.scalars(select(PaymentRefund.status).where(PaymentRefund.payment_id == pid)).one() == "succeeded"
        assert s.get(Payment, pid).refunded == 6800


def test_two_payments_of_a_cancelled_order_are_each_refunded_once(client, db, buyer, fake):
    oid = buyer.order()
    first = buyer.pay(oid, "wechat_jsapi")["payment_id"]
    one = fake.pay(trade_no(first), OPENID)
    second = buyer.pay(oid, "wechat_h5")["payment_id"]
    two = fake.pay(trade_no(second), OPENID)
    assert client.post(f"/api/v1/orders/{oid}/cancel", headers=buyer.h).status_code == 200
    for headers, body in (one, two):
        assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    assert buyer.status(oid) == "cancelled"
    assert _refunds(db, oid) == {first: ("succeeded", 6800), second: ("succeeded", 6800)}
    assert sorted(number for _, number in fake.refunds) == sorted(refund_no(f"late_payment:{p}") for p in (first, second))


def test_one_refund_request_key_retried_is_one_refund_at_the_provider(client, db, buyer, fake, clock):
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    headers, body = fake.pay(trade_no(pid), OPENID)
    client.post(WX_NOTIFY, content=body, headers=headers)
    fake.faults.append("lost")  # WeChat Pay takes the refund; its answer is lost
    with pytest.raises(ServiceUnavailable), db.transaction() as s:
        payments.refund_payment(s, pid, 1800, "refund_case:1", clock())
    for _ in range(2):  # the caller retries, and once more
        with db.transaction() as s:
            r = payments.refund_payment(s, pid, 1800, "refund_case:1", clock())
    assert len(fake.refunds) == 1 and r.status == "processing"
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(PaymentRefund)) == 1 and s.get(Payment, pid).refunded == 1800
    fake.settle_refund(refund_no("refund_case:1"), "CLOSED")  # the refund fails; the notification is lost
    jobs.run_due(db, clock.advance(seconds=61))
    with db.transaction() as s:
        assert s.get(PaymentRefund, r.id).status == "failed" and s.get(Payment, pid).refunded == 0


def test_bad_input_on_the_new_endpoints_is_a_stable_code(client, db, merchant, merchant_key, platform_key, fake):
    b = Buyer(client, db, merchant, merchant_key, platform_key, openid=False)
    oid = b.order()
    url = f"/api/v1/orders/{oid}/pay"
    assert problem_code(client.post(url, json={"method": "paypal"}, headers=b.h)) == "validation.invalid"
    assert problem_code(client.post(url, json={"method": "alipay_wap"}, headers=b.h)) == "payment.method_unavailable"
    r = client.post(url, json={"method": "wechat_jsapi"}, headers=b.h)
    assert r.status_code == 409 and problem_code(r) == "payment.openid_missing"
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Payment)) == 0  # nothing half-written
    h5 = b.pay(oid, "wechat_h5")  # outside WeChat: H5 needs no openid
    assert h5["client"]["h5_url"].startswith("https://wx.tenpay.com/") and "redirect_url=https%3A%2F%2Fshop.example.cn%2Fm%2Forders%2F" in h5["client"]["h5_url"]
    r = client.post(WX_NOTIFY, content=b"{}", headers={"Wechatpay-Serial": "x"})
    assert r.status_code == 400 and r.json() == {"code": "FAIL", "message": r.json()["message"], "reason": "payment.account_unknown"}
    assert client.post(ALI_NOTIFY, content=b"%%%", headers={"Content-Type": "application/x-www-form-urlencoded"}).text == "failure"
    assert client.post(url, headers=b.h).json()["method"] is None  # no body: the sandbox, as before


def alipay_order(client, merchant, ali, ali_key) -> tuple[dict[str, str], int, dict]:
    """A merchant with an Alipay account, a buyer's order and its WAP payment: (the buyer's
    headers, the order id, the pay answer)."""
    shop = make_shop(client, merchant)
    account = {"mode": "direct", "app_id": APP_ID, "public_key": ali.public_key_pem, "private_key": private_pem(ali_key)}
    assert client.put(f"/api/v1/merchants/{merchant.id}/payment-accounts/alipay", json=account, headers=merchant.owner).status_code == 200
    h = login(client, "13700000001")
    oid = order(client, h, shop, [(shop.skus["berry"], 1)]).json()["id"]
    return h, oid, client.post(f"/api/v1/orders/{oid}/pay", json={"method": "alipay_wap"}, headers=h).json()


def test_alipay_wap_goes_the_same_path(client, db, merchant, ali, ali_key, clock):
    h, oid, answer = alipay_order(client, merchant, ali, ali_key)
    assert answer["method"] == "alipay_wap" and answer["client"]["wap_url"].startswith(ali.gateway_url)
    assert httpx.get(answer["client"]["wap_url"]).status_code == 200  # the buyer's phone opens the cashier
    form = ali.buyer_pays(trade_no(answer["payment_id"]))
    assert client.post(ALI_NOTIFY, content=ali.body(ali.tampered(form, total_amount="0.01")), headers={"Content-Type": "application/x-www-form-urlencoded"}).text == "failure"
    for _ in range(3):
        assert client.post(ALI_NOTIFY, content=ali.body(form), headers={"Content-Type": "application/x-www-form-urlencoded"}).text == "success"
    events.drain(db)
    assert client.get(f"/api/v1/orders/{oid}", headers=h).json()["status"] == "paid" and _succeeded(db) == 1
    with db.transaction() as s:
        r = payments.refund_payment(s, answer["payment_id"], 6800, "refund_case:9", clock())
        assert r.status == "succeeded" and len(ali.refunds) == 1


def test_the_pay_page_offers_the_methods_the_merchant_has(client, buyer):
    oid = buyer.order()
    page_login(client, "13700000001")
    sheet = client.post(f"/m/orders/{oid}/pay", data={"csrf_token": csrf(client)}, headers=HTML)
    assert 'data-testid="pay-wechat_jsapi"' in sheet.text and 'data-testid="pay-wechat_h5"' in sheet.text and "pay-alipay_wap" not in sheet.text
    opened = client.post(f"/m/orders/{oid}/pay", data={"csrf_token": csrf(client), "method": "wechat_jsapi"}, headers=HTML)
    assert opened.status_code == 200 and 'id="wx-params"' in opened.text and "paySign" in opened.text and "微信支付" in opened.text


def test_without_a_sandbox_the_order_page_offers_the_shops_ways_to_pay(client, db, buyer):
    from linli.payments.gateway import payment_gateway

    oid = buyer.order()
    page_login(client, "13700000001")
    with payment_gateway.using(None):  # as in production
        sheet = client.post(f"/m/orders/{oid}/pay", data={"csrf_token": csrf(client)}, headers=HTML)
        assert sheet.status_code == 200 and 'data-testid="pay-wechat_h5"' in sheet.text and "¥68.00" in sheet.text.replace("</span>", "")
        assert "沙箱" not in sheet.text  # no sandbox button
        with db.transaction() as s:
            assert s.scalar(select(func.count()).select_from(Payment)) == 0  # choosing opens nothing yet
        opened = client.post(f"/m/orders/{oid}/pay", data={"csrf_token": csrf(client), "method": "wechat_h5"}, headers=HTML)
        assert opened.status_code == 200 and 'data-testid="pay-at-provider"' in opened.text
        assert _payment(db, buyer.pay(oid, "wechat_h5")["payment_id"]).gateway == "wechatpay"


def test_a_top_up_is_paid_at_the_provider_and_credited_once(client, db, buyer, fake, merchant):
    mid = merchant.id
    r = client.post("/api/v1/me/topups", json={"merchant_id": mid, "pay": 10_000, "method": "wechat_h5"}, headers=buyer.h)
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["method"] == "wechat_h5" and body["client"]["h5_url"].startswith("http") and _payment(db, body["payment_id"]).gateway == "wechatpay"
    headers, note = fake.pay(trade_no(body["payment_id"]), OPENID)
    for _ in range(2):  # told twice: credited once
        assert client.post(WX_NOTIFY, content=note, headers=headers).status_code == 204
        events.drain(db)
    wallet = client.get("/api/v1/me/wallet", params={"merchant_id": mid}, headers=buyer.h).json()
    assert wallet["stored_value"]["principal"] == 10_000
    r = client.post("/api/v1/me/topups", json={"merchant_id": mid, "pay": 100, "method": "alipay_wap"}, headers=buyer.h)
    assert r.status_code == 422 and problem_code(r) == "payment.method_unavailable"


def test_an_abandoned_top_up_does_not_lock_the_account_once_the_provider_has_let_it_expire(client, db, buyer, fake, merchant, clock, merchant_key, platform_key):
    r = client.post("/api/v1/me/topups", json={"merchant_id": merchant.id, "pay": 5000, "method": "wechat_h5"}, headers=buyer.h)
    assert r.status_code == 201, r.text  # opened, never paid, never closed by anyone
    url = f"/api/v1/merchants/{merchant.id}/payment-accounts/wechatpay"
    other = wechat_direct(merchant_key, platform_key, mchid="1900000999", public_key_id="PUB_KEY_ID_0119000009992026")
    assert problem_code(client.put(url, json=other, headers=merchant.owner)) == "payment.account_in_use"  # it may still be paid
    for _ in range(8):  # the query job asks until the provider's expiry (30 minutes) and a margin
        jobs.run_due(db, clock.advance(minutes=10))
    assert client.put(url, json=other, headers=merchant.owner).status_code == 200
