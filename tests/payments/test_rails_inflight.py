"""Payments in flight at a real provider, against the WeChat Pay fake over HTTP: each is
settled with the account that took it (an edit that would move it is refused until nothing
is in flight; a payment whose account is gone is refused, never sent elsewhere); closed
payments are still asked (paid anyway: refunded) and closed at the provider; a stuck payment
does not starve newer ones; one paid in the order's last minute is fulfilled; the query job
asks the provider with no write transaction open."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select, update

from linli import jobs
from linli.errors import Conflict
from linli.payments import jobs as payment_jobs
from linli.payments import service as payments
from linli.payments.models import Payment, PaymentAccount, PaymentRefund
from linli.payments.providers.wechatpay import refund_no, trade_no
from tests.conftest import login, problem_code
from tests.orders.helpers import make_shop, order
from tests.payments import test_rails as rails
from tests.payments.conftest import MCHID, SERIAL, SP_APPID, SP_MCHID, SUB_APPID, SUB_MCHID, wechat_direct
from tests.payments.test_rails import OPENID, WX_NOTIFY, _payment
from tests.web.conftest import HTML, csrf, page_login

# test_rails's set-up: the fakes' URLs in the settings, a client, a buyer with a WeChat Pay account.
settings, client, buyer = rails.settings, rails.client, rails.buyer

OTHER_MCHID = "1900000199"


def _put_account(client, buyer, merchant, merchant_key, platform_key, **over):
    return client.put(f"/api/v1/merchants/{merchant.id}/payment-accounts/wechatpay", json=wechat_direct(merchant_key, platform_key, **over), headers=merchant.owner)


def test_an_account_edit_that_moves_the_money_waits_and_old_payments_never_go_to_the_new_account(client, db, buyer, fake, merchant, merchant_key, platform_key, clock):
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    assert _payment(db, pid).account_key == f"wechatpay:{MCHID}"
    r = _put_account(client, buyer, merchant, merchant_key, platform_key, mchid=OTHER_MCHID)
    assert r.status_code == 409 and problem_code(r) == "payment.account_in_use"
    assert _put_account(client, buyer, merchant, merchant_key, platform_key).status_code == 200  # same account, keys re-entered: fine
    headers, body = fake.pay(trade_no(pid), OPENID)
    assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204  # the late notification is still verified
    assert buyer.status(oid) == "paid"
    assert _put_account(client, buyer, merchant, merchant_key, platform_key, mchid=OTHER_MCHID).status_code == 200  # nothing in flight now
    again = client.post(WX_NOTIFY, content=body, headers=headers)
    assert again.status_code == 409 and again.json()["reason"] == "payment.account_changed"
    with pytest.raises(Conflict) as refused, db.transaction() as s:
        payments.refund_payment(s, pid, 1000, "refund_case:1", clock())
    assert refused.value.code == "payment.account_changed" and fake.refunds == {}
    with db.transaction() as s:
        assert s.get(Payment, pid).refunded == 0 and s.scalars(select(PaymentRefund)).all() == []


def test_a_processing_refund_keeps_the_account_too(client, db, buyer, fake, merchant, merchant_key, platform_key, clock):
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    headers, body = fake.pay(trade_no(pid), OPENID)
    client.post(WX_NOTIFY, content=body, headers=headers)
    with db.transaction() as s:
        assert payments.refund_payment(s, pid, 1000, "refund_case:2", clock()).status == "processing"
    assert problem_code(_put_account(client, buyer, merchant, merchant_key, platform_key, mchid=OTHER_MCHID)) == "payment.account_in_use"
    page_login(client, merchant.owner_phone, "console")
    fields = {f"direct.{k}": v for k, v in wechat_direct(merchant_key, platform_key, mchid=OTHER_MCHID).items() if k != "mode"}
    page = client.post(f"/console/merchants/{merchant.id}/payment-accounts", data={"csrf_token": csrf(client), "provider": "wechatpay", "mode": "direct", **fields}, headers=HTML)
    assert "未结清的支付或退款" in page.text  # the owner is told why, in Chinese
    headers, body = fake.settle_refund(refund_no("refund_case:2"))
    assert client.post(WX_NOTIFY, content=body, headers=headers).status_code == 204
    assert _put_account(client, buyer, merchant, merchant_key, platform_key, mchid=OTHER_MCHID).status_code == 200


def test_a_sub_merchants_payment_keeps_the_platforms_account_and_the_mode(client, db, admin, merchant, merchant_key, platform_key, fake):
    platform = "/api/v1/platform/payment-accounts/wechatpay"
    assert client.put(platform, json=wechat_direct(merchant_key, platform_key, mchid=SP_MCHID, appid=SP_APPID), headers=admin).status_code == 200
    shop = make_shop(client, merchant)
    mine = f"/api/v1/merchants/{merchant.id}/payment-accounts/wechatpay"
    assert client.put(mine, json={"mode": "partner", "sub_mchid": SUB_MCHID, "sub_appid": SUB_APPID}, headers=admin).status_code == 200
    h = login(client, "13700000001")
    oid = order(client, h, shop, [(shop.skus["berry"], 1)]).json()["id"]
    pid = client.post(f"/api/v1/orders/{oid}/pay", json={"method": "wechat_h5"}, headers=h).json()["payment_id"]
    assert _payment(db, pid).account_key == f"wechatpay:{SP_MCHID}/{SUB_MCHID}"
    moved = client.put(platform, json=wechat_direct(merchant_key, platform_key, mchid=OTHER_MCHID, appid=SP_APPID), headers=admin)
    assert moved.status_code == 409 and problem_code(moved) == "payment.account_in_use"
    own_key = wechat_direct(merchant_key, platform_key, public_key_id="PUB_KEY_ID_0119000001092026")  # a direct merchant's own WeChat Pay key
    assert problem_code(client.put(mine, json=own_key, headers=merchant.owner)) == "payment.account_in_use"
    assert client.put(mine, json={"mode": "partner", "sub_mchid": SUB_MCHID}, headers=admin).status_code == 200  # same sub-merchant


def test_the_query_job_never_asks_another_account_than_the_one_that_took_the_payment(db, buyer, fake, clock, merchant_key):
    fake.add_merchant(OTHER_MCHID, SERIAL, merchant_key.public_key())
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    fake.pay(trade_no(pid), OPENID)
    with db.transaction() as s:  # the account was replaced behind our back (e.g. restored from an old backup)
        s.execute(update(PaymentAccount).where(PaymentAccount.merchant_id == _payment(db, pid).merchant_id).values(mchid=OTHER_MCHID))
    seen = len(fake.seen)
    jobs.run_due(db, clock.advance(seconds=61))
    assert fake.seen[seen:] == [] and buyer.status(oid) == "pending_payment"


def test_a_cancelled_order_paid_anyway_with_the_notification_lost_is_found_and_refunded(client, db, buyer, fake, clock):
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    fake.pay(trade_no(pid), OPENID)  # paid on the page still open; the notification is lost
    assert client.post(f"/api/v1/orders/{oid}/cancel", headers=buyer.h).status_code == 200
    assert _payment(db, pid).status == "closed"
    jobs.run_due(db, clock())
    assert buyer.status(oid) == "cancelled" and _payment(db, pid).status == "succeeded"
    assert [number for _account, number in fake.refunds] == [refund_no(f"late_payment:{pid}")]


def test_cancelling_an_order_closes_its_payment_at_the_provider_once(client, db, buyer, fake, clock):
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    assert client.post(f"/api/v1/orders/{oid}/cancel", headers=buyer.h).status_code == 200
    assert fake.orders[(MCHID, trade_no(pid))].state == "NOTPAY"  # not from inside the cancel's transaction
    jobs.run_due(db, clock())
    assert fake.orders[(MCHID, trade_no(pid))].state == "CLOSED" and _payment(db, pid).next_check_at is None
    seen = len(fake.seen)
    jobs.run_due(db, clock.advance(minutes=5))
    assert fake.seen[seen:] == []  # closed there: it cannot be paid, so it is not asked again


def test_a_payment_made_in_the_orders_last_minute_is_fulfilled_not_refunded(db, buyer, fake, clock):
    oid = buyer.order()
    clock.advance(minutes=14, seconds=40)
    pid = buyer.pay(oid)["payment_id"]
    fake.pay(trade_no(pid), OPENID)  # the notification is late
    jobs.run_due(db, clock.advance(seconds=21))  # the order expires now; its payment is 21 s old
    assert buyer.status(oid) == "paid" and fake.refunds == {}


def test_payments_stuck_at_the_provider_do_not_starve_newer_ones(db, buyer, fake, clock, monkeypatch):
    monkeypatch.setattr(payment_jobs, "BATCH", 2)
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    p = _payment(db, pid)
    long_ago = clock() - timedelta(hours=1)
    with db.transaction() as s:  # two older top-ups WeChat Pay never heard of
        for n in (1, 2):
            s.add(Payment(merchant_id=p.merchant_id, member_id=p.member_id, subject="topup", subject_id=n, amount=100, gateway="wechatpay",
                          method="wechat_h5", gateway_ref=trade_no(990000 + n), status="pending", created_at=long_ago,
                          account_key=p.account_key, next_check_at=long_ago + timedelta(minutes=1)))
    fake.pay(trade_no(pid), OPENID)  # the notification is lost
    jobs.run_due(db, clock.advance(seconds=61))  # the stuck ones first, then they wait longer
    jobs.run_due(db, clock.advance(seconds=30))
    assert buyer.status(oid) == "paid"


def test_the_query_job_asks_the_provider_without_holding_the_write_lock(db, buyer, fake, clock):
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    fake.pay(trade_no(pid), OPENID)
    fake.delay = 0.5
    fake.arrived.clear()
    job = threading.Thread(target=payment_jobs.query_late, args=(db, clock.advance(seconds=61)))
    job.start()
    try:
        assert fake.arrived.wait(5)
        started = time.monotonic()
        with db.transaction() as s:  # another writer, while WeChat Pay takes its time
            s.execute(update(PaymentAccount).values(updated_at=clock()))
        waited = time.monotonic() - started
    finally:
        job.join(5)
    assert waited < 0.3 and buyer.status(oid) == "paid"


def test_an_alipay_page_opened_after_the_cancel_is_still_asked_and_its_payment_refunded(client, db, merchant, ali, ali_key, clock):
    h, oid, answer = rails.alipay_order(client, merchant, ali, ali_key)
    assert client.post(f"/api/v1/orders/{oid}/cancel", headers=h).status_code == 200
    jobs.run_due(db, clock())  # Alipay has no trade to close yet: the page was never opened
    assert httpx.get(answer["client"]["wap_url"]).status_code == 200  # the buyer opens it now, and pays
    ali.buyer_pays(trade_no(answer["payment_id"]))  # the notification is lost
    jobs.run_due(db, clock.advance(minutes=1))
    assert _payment(db, answer["payment_id"]).status == "succeeded" and len(ali.refunds) == 1


def test_refunds_stuck_at_the_provider_do_not_starve_newer_ones(client, db, buyer, fake, clock, monkeypatch):
    monkeypatch.setattr(payment_jobs, "BATCH", 2)
    oid = buyer.order()
    pid = buyer.pay(oid)["payment_id"]
    headers, body = fake.pay(trade_no(pid), OPENID)
    client.post(WX_NOTIFY, content=body, headers=headers)
    with db.transaction() as s:  # two refunds WeChat Pay keeps processing
        for n in (1, 2):
            payments.refund_payment(s, pid, 100, f"refund_case:{n}", clock())
    clock.advance(hours=1)
    with db.transaction() as s:
        newer = payments.refund_payment(s, pid, 100, "refund_case:3", clock())
    fake.settle_refund(refund_no("refund_case:3"))  # done at WeChat Pay; the notification is lost
    jobs.run_due(db, clock.advance(seconds=61))  # the stuck ones first, then they wait longer
    jobs.run_due(db, clock.advance(seconds=30))
    with db.transaction() as s:
        assert s.get(PaymentRefund, newer.id).status == "succeeded"
