"""Sharer payouts through the merchant's own account, against the local fakes over HTTP: a
WeChat Pay merchant transfer paid once under retries and a crash between the transfer and
our record (the sharer confirms it on their page first), a cancelled transfer giving the
money back once, an Alipay transfer to the sharer's Alipay account, and production refusing
a withdrawal nothing can pay before any money moves."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from linli import events, jobs
from linli.commission import payout, withdrawals
from linli.commission.models import Withdrawal
from linli.identity.models import WechatIdentity
from tests.commission.test_withdrawals import _earn, _leader_with_available, _ledger_ok, _withdraw
from tests.conftest import problem_code
from tests.payments.conftest import APPID, MCHID, wechat_direct
from tests.payments.fakes.alipay_fake import APP_ID, private_pem
from tests.payments.test_rails import settings  # noqa: F401 - settings pointed at both fakes
from tests.web.conftest import page_login

OPENID = "oSharer0000000000000000000001"
TRANSFERS = "/v3/fund-app/mch-transfer/transfer-bills"


@pytest.fixture
def wechat_sharer(client, db, merchant, clock, merchant_key, platform_key, fake):
    """The shop's leader with 20.40 元 available; the merchant pays by WeChat Pay, and the
    leader logged in with WeChat in the shop's app."""
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    r = client.put(f"/api/v1/merchants/{merchant.id}/payment-accounts/wechatpay", json=wechat_direct(merchant_key, platform_key), headers=merchant.owner)
    assert r.status_code == 200, r.text
    with db.transaction() as s:
        s.add(WechatIdentity(member_id=shop.leader_id, appid=APPID, openid=OPENID))
    return shop


def _withdrawal(db, wid) -> Withdrawal:
    with db.transaction() as s:
        w = s.get(Withdrawal, wid)
        s.expunge(w)
        return w


def _undos(db, wid) -> int:
    with db.engine.connect() as conn:
        return conn.execute(text("SELECT count(*) FROM ledger_transfers WHERE key = :k"), {"k": f"withdraw_undo:{wid}"}).scalar()


def test_a_wechat_transfer_is_paid_once_under_retries_and_a_crash_between_send_and_record(client, db, merchant, clock, fake, wechat_sharer, monkeypatch):
    shop = wechat_sharer
    fake.faults.append("lost")  # WeChat Pay makes the transfer; its answer is lost
    r = _withdraw(client, shop.leader, merchant.id, 1500)
    assert r.status_code == 201 and r.json()["rail"] == "wechatpay"
    wid = r.json()["id"]
    events.drain(db)
    assert _withdrawal(db, wid).status == "paying" and len(fake.transfers) == 1
    real_record = withdrawals.record
    crashes = iter([True])

    def dies_once(s, w, result, now):
        if next(crashes, False):
            raise RuntimeError("killed between the transfer and our record")
        return real_record(s, w, result, now)

    monkeypatch.setattr(withdrawals, "record", dies_once)
    with pytest.raises(RuntimeError):  # a retry reaches WeChat Pay, then the process dies
        withdrawals.send(db.engine, wid, clock())
    assert withdrawals.send(db.engine, wid, clock()) == "paying"  # retried again: the same bill, waiting for the sharer
    sent = [p for m, p in fake.seen if m == "POST" and p == TRANSFERS]
    assert len(sent) == 3 and len(fake.transfers) == 1  # three sends, one transfer
    [(account, number)] = fake.transfers
    assert (account, number) == (MCHID, payout.transfer_no(wid)) and fake.transfers[(account, number)].openid == OPENID
    assert fake.transfers[(account, number)].amount == 1500

    w = _withdrawal(db, wid)
    assert w.confirm["mchId"] == MCHID and w.confirm["appId"] == APPID and w.confirm["package"]
    page_login(client, "13900000001")  # the leader's page offers the confirmation in WeChat
    centre = client.get(f"/m/share/{merchant.id}")
    assert 'data-testid="transfer-confirm"' in centre.text and f'data-package="{w.confirm["package"]}"' in centre.text
    assert client.get("/static/js/wxtransfer.js").status_code == 200

    fake.settle_transfer(number, "SUCCESS")  # the sharer accepts it in WeChat
    assert jobs.run_due(db, clock.advance(minutes=6))["commission.reconcile_payouts"] == 1
    assert jobs.run_due(db, clock.advance(minutes=6))["commission.reconcile_payouts"] == 0
    w = _withdrawal(db, wid)
    assert (w.status, w.confirm) == ("paid", None) and len(fake.transfers) == 1
    e = _earn(client, shop.leader, merchant.id)
    assert (e["available"], e["withdrawn"]) == (540, 1500)
    assert 'data-testid="transfer-confirm"' not in client.get(f"/m/share/{merchant.id}").text
    _ledger_ok(db, merchant.id)


def test_a_transfer_the_sharer_never_accepts_gives_the_money_back_once(client, db, merchant, clock, fake, wechat_sharer):
    shop = wechat_sharer
    wid = _withdraw(client, shop.leader, merchant.id, 2040).json()["id"]
    events.drain(db)
    assert _earn(client, shop.leader, merchant.id)["available"] == 0
    fake.settle_transfer(payout.transfer_no(wid), "CANCELLED")  # not accepted in time: WeChat Pay cancels it
    for _ in range(2):
        jobs.run_due(db, clock.advance(minutes=6))
    assert withdrawals.send(db.engine, wid, clock()) == "skipped"  # a late retry changes nothing
    w = _withdrawal(db, wid)
    assert w.status == "failed" and "CANCELLED" in w.failure and _undos(db, wid) == 1
    e = _earn(client, shop.leader, merchant.id)
    assert (e["available"], e["withdrawn"]) == (2040, 0)
    _ledger_ok(db, merchant.id)


def test_an_alipay_payout_goes_to_the_sharers_alipay_account(client, db, merchant, clock, ali, ali_key):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    account = {"mode": "direct", "app_id": APP_ID, "public_key": ali.public_key_pem, "private_key": private_pem(ali_key)}
    assert client.put(f"/api/v1/merchants/{merchant.id}/payment-accounts/alipay", json=account, headers=merchant.owner).status_code == 200
    r = _withdraw(client, shop.leader, merchant.id, 1000)
    assert r.status_code == 409 and problem_code(r) == "withdrawal.alipay_required"  # nothing moved
    assert _earn(client, shop.leader, merchant.id)["available"] == 2040
    r = client.put("/api/v1/me/payout-destination", json={"prefer": "alipay", "alipay_account": "13912345678", "alipay_name": "张小三"}, headers=shop.leader)
    assert r.status_code == 200 and r.json() == {"prefer": "alipay", "alipay_account": "139****5678", "alipay_name": "*小三"}
    assert client.get("/api/v1/me/payout-destination", headers=shop.leader).json()["alipay_account"] == "139****5678"
    with db.engine.connect() as conn:
        assert "13912345678" not in str(conn.execute(text("SELECT * FROM payout_destinations")).all())  # sealed at rest
    r = _withdraw(client, shop.leader, merchant.id, 1000)
    assert r.status_code == 201 and r.json()["rail"] == "alipay"
    events.drain(db)
    t = ali.transfers[payout.transfer_no(r.json()["id"])]
    assert (t.payee, t.identity_type, t.name, t.amount) == ("13912345678", "ALIPAY_LOGON_ID", "张小三", 1000)
    assert _withdrawal(db, r.json()["id"]).status == "paid" and len(ali.transfers) == 1
    _ledger_ok(db, merchant.id)


def test_production_refuses_a_withdrawal_no_rail_can_pay_before_any_money_moves(client, db, merchant, clock):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    with payout.gateway.using(None):  # production: no sandbox wallet, and the merchant has no account
        r = _withdraw(client, shop.leader, merchant.id, 1500)
    assert r.status_code == 409 and problem_code(r) == "withdrawal.no_payout_rail"
    assert _earn(client, shop.leader, merchant.id)["available"] == 2040
    with db.transaction() as s:
        assert s.scalar(select(func.count()).select_from(Withdrawal)) == 0


def test_bad_payout_destinations_and_missing_wechat_are_stable_codes(client, db, merchant, clock, wechat_sharer):
    shop = wechat_sharer
    url, h = "/api/v1/me/payout-destination", shop.leader
    assert problem_code(client.put(url, json={"prefer": "bank"}, headers=h)) == "validation.invalid"
    assert problem_code(client.put(url, json={"prefer": "alipay"}, headers=h)) == "payout.alipay_account_required"
    assert problem_code(client.put(url, json={"prefer": "wechat", "alipay_account": "not an account", "alipay_name": "张三"}, headers=h)) == "payout.alipay_account_invalid"
    assert problem_code(client.put(url, json={"prefer": "wechat", "alipay_account": "a@example.com", "alipay_name": "R2D2"}, headers=h)) == "payout.alipay_name_invalid"
    assert client.get(url, headers=h).json() == {"prefer": "wechat", "alipay_account": None, "alipay_name": None}  # nothing written
    with db.transaction() as s:
        s.execute(WechatIdentity.__table__.delete())
    r = _withdraw(client, h, merchant.id, 1000)  # the shop pays in WeChat, and the sharer has no WeChat login here
    assert r.status_code == 409 and problem_code(r) == "withdrawal.wechat_required"
    assert _earn(client, h, merchant.id)["available"] == 2040


def test_a_shop_cannot_change_its_wechat_pay_account_while_a_transfer_it_sent_is_waiting(client, db, merchant, clock, fake, wechat_sharer, merchant_key, platform_key):
    """The transfer is asked about, and completed, only at the account that sent it: with the
    account changed under it, the reconcile job would find nothing there and pay again."""
    shop = wechat_sharer
    wid = _withdraw(client, shop.leader, merchant.id, 1500).json()["id"]
    events.drain(db)
    assert _withdrawal(db, wid).status == "paying"  # waiting for the sharer to accept it
    url = f"/api/v1/merchants/{merchant.id}/payment-accounts/wechatpay"
    moved = client.put(url, json=wechat_direct(merchant_key, platform_key, mchid="1900000999", public_key_id="PUB_KEY_ID_0119000009992026"), headers=merchant.owner)
    assert moved.status_code == 409 and problem_code(moved) == "payment.account_in_use"
    assert client.put(url, json=wechat_direct(merchant_key, platform_key), headers=merchant.owner).status_code == 200  # the same account: fine
    fake.settle_transfer(payout.transfer_no(wid), "SUCCESS")
    jobs.run_due(db, clock.advance(minutes=6))
    assert _withdrawal(db, wid).status == "paid" and len(fake.transfers) == 1
    assert client.put(url, json=wechat_direct(merchant_key, platform_key, mchid="1900000999", public_key_id="PUB_KEY_ID_0119000009992026"), headers=merchant.owner).status_code == 200


def test_a_long_alipay_e_mail_is_masked_within_its_column(client, db, merchant, clock):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    account = "a@" + "b" * 60 + ".example.com"
    r = client.put("/api/v1/me/payout-destination", json={"prefer": "alipay", "alipay_account": account, "alipay_name": "张小三"}, headers=shop.leader)
    assert r.status_code == 200, r.text
    assert r.json()["alipay_account"].startswith("a***@…") and len(r.json()["alipay_account"]) <= 64 and account not in r.text
