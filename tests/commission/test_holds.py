"""Holds on a sharer's commission (a risk case, a suspension): held money cannot be
withdrawn, a release gives it back, a claw back takes it (and what is still frozen); a hold
racing withdrawals takes exactly what they left; money landing while held (a failed payout,
a monthly bonus) is held; the accrual screen port; the sharer centre's 审核中."""

from __future__ import annotations

import threading
from datetime import datetime, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event
from sqlalchemy import select, text

from linli import events, jobs, ledger
from linli.commission import payout, ports, service, withdrawals
from linli.commission.models import CommissionRecord, Withdrawal
from linli.errors import Conflict
from linli.ledger import LedgerTransfer
from tests.commission.test_accrual import _chain
from tests.commission.test_bonus import _november_sale
from tests.conftest import login, problem_code
from tests.orders.concurrency import together
from tests.orders.helpers import buy, make_shop
from tests.web.conftest import HTML, page_login

CASE = "risk:case:1"


def _earn(client, h, mid):
    return client.get("/api/v1/me/earnings", params={"merchant_id": mid}, headers=h).json()


def _withdraw(client, h, mid, amount):
    return client.post("/api/v1/me/withdrawals", json={"merchant_id": mid, "amount": amount}, headers=h)


def _ledger_ok(db, mid):
    with db.transaction() as s:
        assert ledger.check(s, mid) == []


def _received(client, db, shop, buyer, boxes=2):
    o = buy(client, db, buyer, shop, [(shop.skus["berry"], boxes)])
    client.post(f"/api/v1/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    events.drain(db)
    return o


def _leader_with_available(client, db, merchant, clock, orders=1):
    """The shop's leader earns 15% of each received, settled order of 2 boxes: 2,040 fen."""
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000004")
    made = [_received(client, db, shop, buyer) for _ in range(orders)]
    jobs.run_due(db, clock.advance(days=7, minutes=1))
    assert _earn(client, shop.leader, merchant.id)["available"] == 2040 * orders
    return shop, made, buyer


def _call(db, fn, *args):
    with db.transaction() as s:
        return fn(s, *args)


def test_held_money_cannot_be_withdrawn_until_released(client, db, merchant, clock):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    mid, leader = merchant.id, shop.leader_id
    assert _call(db, service.hold, mid, leader, CASE, clock()) == 2040
    _ledger_ok(db, mid)
    e = _earn(client, shop.leader, mid)
    assert (e["available"], e["held"], e["hold_reason"]) == (0, 2040, "review") and "usually within 7 days" in e["hold_note"]
    assert [r["state"] for r in e["records"]] == ["held"]
    r = _withdraw(client, shop.leader, mid, 100)
    assert r.status_code == 409 and problem_code(r) == "withdrawal.insufficient"
    assert _call(db, service.hold, mid, leader, CASE, clock()) == 0  # a redelivery moves nothing
    with db.transaction() as s:
        v = service.hold_view(s, mid, leader)
    assert (v.held, v.frozen_waiting, v.reasons) == (2040, 0, [CASE])
    _ledger_ok(db, mid)
    assert _call(db, service.release_hold, mid, leader, CASE, clock()) == 2040
    assert _call(db, service.release_hold, mid, leader, CASE, clock()) == 0
    _ledger_ok(db, mid)
    e = _earn(client, shop.leader, mid)
    assert (e["available"], e["held"], e["hold_reason"], e["hold_note"]) == (2040, 0, None, None)
    assert _withdraw(client, shop.leader, mid, 2040).status_code == 201
    events.drain(db)
    assert _earn(client, shop.leader, mid)["withdrawn"] == 2040
    _ledger_ok(db, mid)


def test_a_release_waits_for_the_last_reason_and_a_suspension_holds_available_money(client, db, merchant, clock):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    mid, leader = merchant.id, shop.leader_id
    client.post(f"/api/v1/merchants/{mid}/sharers", json={"phone": "13900000001"}, headers=merchant.owner)
    client.post(f"/api/v1/merchants/{mid}/sharers/{leader}/suspend", headers=merchant.owner)
    events.drain(db)
    e = _earn(client, shop.leader, mid)
    assert (e["available"], e["held"], e["hold_reason"]) == (0, 2040, "suspended")
    assert _call(db, service.hold, mid, leader, CASE, clock()) == 0
    client.post(f"/api/v1/merchants/{mid}/sharers/{leader}/reinstate", headers=merchant.owner)
    events.drain(db)
    e = _earn(client, shop.leader, mid)
    assert (e["available"], e["held"], e["hold_reason"]) == (0, 2040, "review")  # the risk case still holds it
    assert _call(db, service.release_hold, mid, leader, CASE, clock()) == 2040
    assert _earn(client, shop.leader, mid)["available"] == 2040
    _ledger_ok(db, mid)


def test_a_failed_payout_returns_the_money_to_held_when_a_hold_began_meanwhile(client, db, merchant, clock):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    assert _withdraw(client, shop.leader, merchant.id, 2040).status_code == 201  # approved, not yet paid out
    assert _call(db, service.hold, merchant.id, shop.leader_id, CASE, clock()) == 0
    payout.gateway.get().fail_next()
    events.drain(db)
    e = _earn(client, shop.leader, merchant.id)
    assert (e["available"], e["held"], e["withdrawn"]) == (0, 2040, 0)
    _ledger_ok(db, merchant.id)


def test_claw_back_cancels_held_and_frozen_commission_once(client, db, merchant, clock):
    shop, _, buyer = _leader_with_available(client, db, merchant, clock)
    mid, leader = merchant.id, shop.leader_id
    buy(client, db, buyer, shop, [(shop.skus["berry"], 1)])  # 1,020 frozen
    client.post(f"/api/v1/merchants/{mid}/sharers", json={"phone": "13900000001"}, headers=merchant.owner)
    client.post(f"/api/v1/merchants/{mid}/sharers/{leader}/suspend", headers=merchant.owner)
    events.drain(db)
    _call(db, service.hold, mid, leader, CASE, clock())
    with db.transaction() as s:
        v = service.hold_view(s, mid, leader)
    assert (v.held, v.frozen_waiting, v.reasons) == (2040, 1020, [CASE, "sharer_suspended"])
    assert _call(db, service.claw_back, mid, leader, CASE, clock()) == 3060
    _ledger_ok(db, mid)
    e = _earn(client, shop.leader, mid)
    assert (e["frozen"], e["available"], e["held"]) == (0, 0, 0)
    assert sorted((r["state"], r["amount"]) for r in e["records"]) == [("cancelled", 1020), ("cancelled", 2040)]  # kept for the audit
    assert _call(db, service.claw_back, mid, leader, CASE, clock()) == 0
    with db.transaction() as s:
        assert service.hold_view(s, mid, leader).reasons == ["sharer_suspended"]  # the suspension stays
    _ledger_ok(db, mid)


def test_a_refund_on_held_commission_reverses_it_from_held(client, db, merchant, clock):
    shop, (o,), buyer = _leader_with_available(client, db, merchant, clock)
    mid = merchant.id
    _call(db, service.hold, mid, shop.leader_id, CASE, clock())
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": 6800}], "reason": "一盒坏了"}, headers=buyer).json()
    assert client.post(f"/api/v1/merchants/{mid}/refunds/{case['id']}/approve", headers=merchant.owner).status_code == 200
    events.drain(db)
    e = _earn(client, shop.leader, mid)
    assert (e["available"], e["held"]) == (0, 1020)
    _ledger_ok(db, mid)
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": 6800}], "reason": "另一盒也坏了"}, headers=buyer).json()
    client.post(f"/api/v1/merchants/{mid}/refunds/{case['id']}/approve", headers=merchant.owner)
    events.drain(db)
    e = _earn(client, shop.leader, mid)
    assert (e["available"], e["held"], [r["state"] for r in e["records"]]) == (0, 0, ["cancelled"])
    assert _call(db, service.release_hold, mid, shop.leader_id, CASE, clock()) == 0
    _ledger_ok(db, mid)


@pytest.mark.parametrize("mode", ["realtime", "t_plus_1"])
def test_frozen_commission_of_a_completed_order_settles_after_the_release(client, db, merchant, clock, mode):
    client.put(f"/api/v1/merchants/{merchant.id}/commission-rules", json={"settlement": mode}, headers=merchant.owner)
    shop = make_shop(client, merchant)
    mid, leader = merchant.id, shop.leader_id
    _call(db, service.hold, mid, leader, CASE, clock())
    _received(client, db, shop, login(client, "13700000004"))
    jobs.run_due(db, clock.advance(days=7, minutes=1))  # completed: it would settle now
    jobs.run_due(db, clock.advance(days=1))
    assert (_earn(client, shop.leader, mid)["frozen"], _earn(client, shop.leader, mid)["available"]) == (2040, 0)
    made = _call(db, service.release_hold, mid, leader, CASE, clock())
    assert made == (2040 if mode == "realtime" else 0)
    jobs.run_due(db, clock.advance(days=1))
    e = _earn(client, shop.leader, mid)
    assert (e["frozen"], e["available"], e["held"]) == (0, 2040, 0)
    _ledger_ok(db, mid)


class _Screen:
    def __init__(self, verdict: ports.Verdict) -> None:
        self.verdict = verdict
        self.calls: list = []

    def screen(self, s, order, beneficiaries, leader, now):
        self.calls.append((order.order_id, order.payer, list(beneficiaries), leader))
        return self.verdict


def _by_member(db, order_id):
    with db.transaction() as s:
        return {(r.member_id, r.level): r.amount for r in s.scalars(select(CommissionRecord).where(CommissionRecord.order_id == order_id))}


def test_the_screen_excludes_a_beneficiary_without_promoting_anyone(client, db, merchant):
    shop = make_shop(client, merchant)
    hs, ids = _chain(client, db, merchant, shop)
    fake = _Screen(ports.Verdict(excluded=frozenset({ids["C"]})))
    with ports.screen.using(fake):
        o = buy(client, db, hs["D"], shop, [(shop.skus["berry"], 2)])  # 13,600
    assert _by_member(db, o["id"]) == {(ids["B"], 2): 680, (shop.leader_id, 0): 2040}
    ((oid, payer, beneficiaries, leader),) = fake.calls
    assert (oid, beneficiaries, leader) == (o["id"], [(ids["C"], 1), (ids["B"], 2)], shop.leader_id)
    assert isinstance(payer, str) and payer  # order.paid carries the payer's keyed hash
    _ledger_ok(db, merchant.id)


def test_the_screen_excludes_the_leader_and_passes_all_by_default(client, db, merchant):
    shop = make_shop(client, merchant)
    hs, ids = _chain(client, db, merchant, shop)
    with ports.screen.using(_Screen(ports.Verdict(leader_excluded=True))):
        o = buy(client, db, hs["D"], shop, [(shop.skus["berry"], 2)])
    assert _by_member(db, o["id"]) == {(ids["C"], 1): 2720, (ids["B"], 2): 680}
    o = buy(client, db, hs["D"], shop, [(shop.skus["berry"], 2)])
    assert _by_member(db, o["id"]) == {(ids["C"], 1): 2720, (ids["B"], 2): 680, (shop.leader_id, 0): 2040}
    _ledger_ok(db, merchant.id)


def test_the_sharer_centre_says_under_review_with_the_amount(app, client, db, merchant, clock):
    shop, _, _ = _leader_with_available(client, db, merchant, clock)
    _call(db, service.hold, merchant.id, shop.leader_id, CASE, clock())
    browser = TestClient(app, raise_server_exceptions=False)
    page_login(browser, "13900000001")
    r = browser.get(f"/m/share/{merchant.id}", headers=HTML)
    assert r.status_code == 200
    assert "审核中" in r.text and "核实完成前这部分佣金暂不能提现（通常 7 天内）" in r.text
    assert 'data-testid="held">¥20.40<' in r.text and 'data-testid="available">¥0.00<' in r.text
    en = browser.get(f"/m/share/{merchant.id}", headers={**HTML, "accept-language": "en"})
    assert "Under review: some orders you shared are being checked" in en.text
    _call(db, service.release_hold, merchant.id, shop.leader_id, CASE, clock())
    r = browser.get(f"/m/share/{merchant.id}", headers=HTML)
    assert 'data-testid="hold-note"' not in r.text and 'data-testid="held"' not in r.text and 'data-testid="available">¥20.40<' in r.text


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_hold_racing_twenty_withdrawals_takes_exactly_what_they_left(client, db, merchant, clock):
    """Three settled orders (6,120 fen in three records); 20 withdrawals of the whole
    balance or of parts, and one hold, released together, each in its own transaction."""
    shop, _, _ = _leader_with_available(client, db, merchant, clock, orders=3)
    mid, leader = merchant.id, shop.leader_id
    client.put(f"/api/v1/merchants/{mid}/commission-rules", json={"withdraw_auto_max": 0}, headers=merchant.owner)
    with db.engine.begin() as conn:  # the three-a-day limit would refuse most of them first
        conn.execute(text("UPDATE commission_rule_sets SET withdraw_daily_count = 100 WHERE merchant_id = :m"), {"m": mid})
    amounts = [6120 if i % 7 == 3 else 300 + 20 * i for i in range(20)]
    now = clock()
    # The hold starts once a withdrawal holds the balance row (its compare-and-set ran, its
    # records are not yet marked): it must queue behind it, among the other withdrawals.
    locked = threading.Event()

    def seen(conn, cursor, statement, *args):
        if statement.startswith("UPDATE sharer_balances SET available"):
            locked.set()

    def run(i):
        if i == 20:
            assert locked.wait(60)
            return ("hold", _call(db, service.hold, mid, leader, CASE, now))
        try:  # a refusal rolls its transaction back, as the API's does
            return ("paid", _call(db, lambda s: withdrawals.request(s, leader, mid, amounts[i], now).id))
        except Conflict as exc:
            assert exc.code == "withdrawal.insufficient"
            return ("refused", None)

    sa_event.listen(db.engine, "after_cursor_execute", seen)
    try:
        results = together(21, run)
    finally:
        sa_event.remove(db.engine, "after_cursor_execute", seen)
    held = next(v for k, v in results if k == "hold")
    paid = [v for k, v in results if k == "paid"]
    with db.transaction() as s:
        taken = {w.id: w.amount for w in s.scalars(select(Withdrawal).where(Withdrawal.member_id == leader))}
        assert set(taken) == set(paid)
        recs = s.scalars(select(CommissionRecord).where(CommissionRecord.merchant_id == mid, CommissionRecord.member_id == leader)).all()
        by_state: dict[str, int] = {}
        for r in recs:
            by_state[r.state] = by_state.get(r.state, 0) + r.amount
            assert (r.state == "withdrawn") == (r.withdrawal_id is not None)
        assert by_state.get("withdrawn", 0) == sum(taken.values())
        assert by_state.get("held", 0) == held and set(by_state) <= {"withdrawn", "held"}
        assert sum(taken.values()) + held == 6120
        # Every withdrawal that went through did so before the hold moved the rest.
        keys = dict(s.execute(select(LedgerTransfer.key, LedgerTransfer.id).where(LedgerTransfer.merchant_id == mid)).all())
        hold_ids = [tid for k, tid in keys.items() if k.startswith(f"hold:{mid}:{leader}:")]
        assert len(hold_ids) == (1 if held else 0)  # no transfer when the withdrawals had taken it all
        assert all(keys[f"withdraw:{w}"] < min(hold_ids, default=1 << 62) for w in paid)
        assert ledger.check(s, mid) == []
    e = _earn(client, shop.leader, mid)
    assert (e["available"], e["held"]) == (0, held)


def test_a_monthly_bonus_of_a_held_sharer_is_held(client, db, merchant, clock):
    sharer, _ = _november_sale(client, db, merchant, clock, [[10_000, 200]])
    me = client.get("/api/v1/me", headers=sharer).json()["id"]
    assert _call(db, service.hold, merchant.id, me, CASE, clock()) == 2720
    assert jobs.run_due(db, datetime(2026, 12, 2, 1, 0, tzinfo=timezone.utc))["commission.monthly_bonus"] == 1
    e = _earn(client, sharer, merchant.id)
    assert (e["available"], e["held"]) == (0, 2720 + 272) and {r["kind"]: r["state"] for r in e["records"]}["bonus"] == "held"
    _ledger_ok(db, merchant.id)
