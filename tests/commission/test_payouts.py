"""Payouts go out exactly once: ``paying`` is committed before the wallet is called, the
wallet is called with the withdrawal's transfer number, and the reconcile job finishes
what a crash left ``paying`` (fault injection around the sandbox wallet)."""

import pytest
from sqlalchemy import text

from linli import events, jobs
from linli.commission import payout, withdrawals
from tests.commission.test_withdrawals import _earn, _leader_with_available, _ledger_ok, _withdraw


class _Dies:
    """The payout provider, except that the process "dies" once: just before the wallet
    is called, or just after it accepted the transfer (before our commit)."""

    def __init__(self, inner: payout.SandboxPayout, when: str) -> None:
        self.inner, self.when, self.armed = inner, when, True

    def connect(self, bind):
        return _DyingWallet(self, self.inner.connect(bind))


class _DyingWallet:
    def __init__(self, owner: _Dies, wallet: payout.SandboxWallet) -> None:
        self.owner, self.wallet = owner, wallet

    def _die(self, when: str) -> None:
        if self.owner.armed and self.owner.when == when:
            self.owner.armed = False
            raise RuntimeError(f"killed {when} the wallet call")

    def pay(self, number, member_id, amount):
        self._die("before")
        result = self.wallet.pay(number, member_id, amount)
        self._die("after")
        return result

    def query(self, number):
        return self.wallet.query(number)


@pytest.fixture
def sandbox():
    wallet = payout.gateway.get()
    yield wallet
    wallet.reset()


def _dies(monkeypatch, sandbox, when):
    dying = _Dies(sandbox, when)
    monkeypatch.setattr(payout.gateway, "get", lambda: dying)


def _withdrawal(client, shop, merchant):
    return client.get("/api/v1/me/withdrawals", params={"merchant_id": merchant.id}, headers=shop.leader).json()[0]


def _paid_once(db, wid, state="paid"):
    """One transfer in the wallet for this withdrawal, and at most one payout transfer."""
    with db.engine.connect() as conn:
        wallet = conn.execute(text("SELECT state, amount FROM sandbox_payouts WHERE transfer_no = :n"), {"n": payout.transfer_no(wid)}).all()
        ours = conn.execute(text("SELECT count(*) FROM ledger_transfers WHERE key = :k"), {"k": f"payout:{wid}"}).scalar()
        all_wallet = conn.execute(text("SELECT count(*) FROM sandbox_payouts")).scalar()
    assert [s for s, _ in wallet] == [state] and all_wallet == 1
    assert ours == (1 if state == "paid" else 0)
    return wallet[0][1]


@pytest.mark.parametrize("recovery", ["reconcile", "retry"])
def test_a_crash_after_the_wallet_accepted_pays_exactly_once(client, db, merchant, clock, sandbox, monkeypatch, recovery):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    _dies(monkeypatch, sandbox, "after")
    assert _withdraw(client, shop.leader, merchant.id, 1500).status_code == 201
    events.drain(db)  # the wallet accepts, then the process dies before recording it
    w = _withdrawal(client, shop, merchant)
    assert w["status"] == "paying"
    assert _earn(client, shop.leader, merchant.id)["available"] == 540  # the money is on its way, not back
    if recovery == "retry":  # the send runs again (another worker, a redelivery): same transfer number
        assert withdrawals.send(db.engine, w["id"], clock()) == "paid"
    else:
        assert jobs.run_due(db, clock.advance(minutes=1))["commission.reconcile_payouts"] == 0  # within the grace period
        assert _withdrawal(client, shop, merchant)["status"] == "paying"
        assert jobs.run_due(db, clock.advance(minutes=5))["commission.reconcile_payouts"] == 1
    assert jobs.run_due(db, clock.advance(minutes=10))["commission.reconcile_payouts"] == 0
    assert _paid_once(db, w["id"]) == 1500
    assert _withdrawal(client, shop, merchant)["status"] == "paid"
    e = _earn(client, shop.leader, merchant.id)
    assert (e["available"], e["withdrawn"]) == (540, 1500)
    _ledger_ok(db, merchant.id)


def test_a_crash_before_the_wallet_saw_it_pays_once_with_the_same_number(client, db, merchant, clock, sandbox, monkeypatch):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    _dies(monkeypatch, sandbox, "before")
    _withdraw(client, shop.leader, merchant.id, 2040)
    events.drain(db)  # `paying` committed, then the process died: the wallet never heard of it
    wid = _withdrawal(client, shop, merchant)["id"]
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM sandbox_payouts")).scalar() == 0
    assert jobs.run_due(db, clock.advance(minutes=6))["commission.reconcile_payouts"] == 1  # not_found: paid now
    assert _paid_once(db, wid) == 2040
    assert _earn(client, shop.leader, merchant.id)["withdrawn"] == 2040
    _ledger_ok(db, merchant.id)


def test_a_payout_still_processing_is_left_until_the_wallet_settles_it(client, db, merchant, clock, sandbox):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    sandbox.hold_next()
    _withdraw(client, shop.leader, merchant.id, 1000)
    events.drain(db)
    wid = _withdrawal(client, shop, merchant)["id"]
    assert _withdrawal(client, shop, merchant)["status"] == "paying"
    assert jobs.run_due(db, clock.advance(minutes=6))["commission.reconcile_payouts"] == 0  # processing: leave it
    assert _withdrawal(client, shop, merchant)["status"] == "paying"
    sandbox.connect(db.engine).finish(payout.transfer_no(wid))
    assert jobs.run_due(db, clock.advance(minutes=1))["commission.reconcile_payouts"] == 1
    assert _paid_once(db, wid) == 1000
    assert _withdrawal(client, shop, merchant)["status"] == "paid"
    _ledger_ok(db, merchant.id)


def test_a_refusal_lost_in_a_crash_gives_the_money_back_once(client, db, merchant, clock, sandbox, monkeypatch):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    sandbox.fail_next()
    _dies(monkeypatch, sandbox, "after")
    _withdraw(client, shop.leader, merchant.id, 2040)
    events.drain(db)  # the wallet refused; the process died before recording the refusal
    wid = _withdrawal(client, shop, merchant)["id"]
    assert _earn(client, shop.leader, merchant.id)["available"] == 0
    assert jobs.run_due(db, clock.advance(minutes=6))["commission.reconcile_payouts"] == 1
    assert jobs.run_due(db, clock.advance(minutes=6))["commission.reconcile_payouts"] == 0
    _paid_once(db, wid, state="failed")
    assert _withdrawal(client, shop, merchant)["status"] == "failed"
    e = _earn(client, shop.leader, merchant.id)
    assert (e["available"], e["withdrawn"]) == (2040, 0)
    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM ledger_transfers WHERE key = :k"), {"k": f"withdraw_undo:{wid}"}).scalar() == 1
    _ledger_ok(db, merchant.id)


def test_the_same_transfer_number_never_moves_money_twice(db, sandbox):
    wallet = sandbox.connect(db.engine)
    first = wallet.pay("LLW0000000042", 7, 1500)
    sandbox.fail_next()  # a repeat is answered from the book, whatever the wallet would do now
    assert wallet.pay("LLW0000000042", 7, 1500) == first and first.state == payout.PAID
    assert wallet.query("LLW0000000042") == first
    assert wallet.query("LLW0000000043").state == payout.NOT_FOUND
    assert len(wallet.transfers()) == 1
