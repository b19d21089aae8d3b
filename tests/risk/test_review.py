"""Independent review of the risk-control change (issue 14): the bugs it found, each pinned
by the test that failed before its fix."""

from __future__ import annotations

import threading

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant, rule, run_state_machine_as_test
from sqlalchemy import event as sa_event
from sqlalchemy import select, text

from linli import domains, events, jobs, ledger
from linli.commission import service, settlement
from linli.commission.events import CommissionClawedBack
from linli.commission.models import CommissionHold, CommissionRecord, RuleSetVersion
from linli.commission.versions import DEFAULTS, current
from linli.events import Event, OutboxEvent
from linli.orders import service as orders
from tests.commission.test_stateful import N, make_machine
from tests.conftest import login
from tests.incentives.helpers import first_order, friend, referrals, setup
from tests.orders.helpers import buy, make_shop
from tests.risk.test_cases import API, appoint, invitee, open_cases

CASE = "risk:case:1"


def test_campaign_rebates_and_failed_teams_do_not_count_towards_a_sharers_refund_rate(client, db, merchant, clock):
    """A 社区成团 tier reached gives every order in the community money back at close, a
    group-buy team that fails refunds its orders: the system's refunds, not the buyers'. They
    must not put an honest sharer's commission on hold as a 'refund rate over 30%'."""
    shop = make_shop(client, merchant)
    s_h, s_id, code = appoint(client, merchant, "13700000001", "phone-of-s-0001")
    made = []
    for n in range(2, 7):  # five attributed orders
        h = invitee(client, db, merchant, f"137000000{n:02d}", f"own-phone-{n:04d}", code)
        made.append(buy(client, db, h, shop, [(shop.skus["apple"], 1)]))
        clock.advance(hours=2)
    with db.transaction() as s:
        for o in made[:3]:  # a threshold tier reached: 100 fen back on each order
            assert orders.system_refund(s, o["id"], 100, "threshold_rebate", clock(), keep_order=True) is not None
        assert orders.system_refund(s, made[3]["id"], None, "team_failed", clock()) is not None
    events.drain(db)
    assert open_cases(client, merchant) == []
    r = client.get(f"{API}/me/earnings", params={"merchant_id": merchant.id}, headers=s_h).json()
    assert r["hold_reason"] is None


def _blocked_or_done(db, worker: threading.Thread) -> None:
    """Wait until ``worker`` has finished or waits on a row lock (PostgreSQL)."""
    with db.engine.connect() as conn:
        for _ in range(3000):
            worker.join(0.01)
            if not worker.is_alive():
                return
            q = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            if conn.execute(text(q)).scalar():
                return
            conn.rollback()
    raise AssertionError("the hold neither finished nor waited")


def _hold_when(db, statement: str, mid: int, member: int, now):
    """An engine listener that, the first time ``statement`` is about to run (in another
    transaction), runs a hold of ``member`` in its own thread and transaction and lets the
    statement go on once the hold has committed or waits for a lock."""
    fired = threading.Event()
    workers: list[threading.Thread] = []

    def hold() -> None:
        with db.transaction() as s:
            service.hold(s, mid, member, CASE, now)

    def before(conn, cursor, sql, *args):
        if sql.lstrip().startswith(statement) and not fired.is_set() and threading.current_thread().name != "hold":
            fired.set()
            worker = threading.Thread(target=hold, name="hold")
            worker.start()
            workers.append(worker)
            _blocked_or_done(db, worker)

    return before, fired, workers


@pytest.mark.parametrize("backend", ["postgresql"])
@pytest.mark.parametrize("mode", ["realtime", "t_plus_1"])
def test_a_hold_committed_while_an_order_settles_keeps_that_money_held(client, db, merchant, clock, mode):
    """Settlement (realtime at completion, or the daily batch) read 'not held' just before a
    hold committed: the record it then made available must still end up held, never
    withdrawable while the case is open."""
    client.put(f"{API}/merchants/{merchant.id}/commission-rules", json={"settlement": mode}, headers=merchant.owner)
    shop = make_shop(client, merchant)
    mid, leader = merchant.id, shop.leader_id
    o = buy(client, db, login(client, "13700000004"), shop, [(shop.skus["berry"], 2)])
    client.post(f"{API}/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    events.drain(db)
    if mode == "t_plus_1":
        with db.transaction() as s:
            settlement.mark_due(s, o["id"], clock())
    # After settlement read that the leader is not held: realtime, before it moves the record;
    # the batch, between the statement that moves records and the one that writes transfers.
    statement = "UPDATE commission_records" if mode == "realtime" else "INSERT INTO ledger_transfers (merchant_id, kind, key, created_at)\nSELECT"
    before, fired, workers = _hold_when(db, statement, mid, leader, clock())
    sa_event.listen(db.engine, "before_cursor_execute", before)
    try:
        if mode == "realtime":
            with db.transaction() as s:
                service.settle_order(s, o["id"], clock())
        else:
            settlement.settle_due(db, clock.advance(days=1))
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", before)
    assert fired.is_set()
    workers[0].join(30)
    assert not workers[0].is_alive()
    e = client.get(f"{API}/me/earnings", params={"merchant_id": mid}, headers=shop.leader).json()
    assert (e["frozen"], e["available"], e["held"], e["hold_reason"]) == (0, 0, 2040, "review")
    with db.transaction() as s:
        assert ledger.check(s, mid) == []


def test_a_redelivered_claw_back_voids_only_the_referrals_that_were_waiting_then(client, db, merchant, clock):
    """commission.clawed_back voids the referrals that waited for the held inviter. Delivered
    again later (a retried dispatcher, a redelivering broker), it must not void a referral
    that a new friend earned honestly after the claw back."""
    p = setup(client, merchant, clock)
    f1 = friend(client, db, p, 1)
    with db.transaction() as s:
        service.hold(s, p.shop.merchant_id, p.inviter_id, CASE, clock())
    first_order(client, db, p, f1)
    clock.advance(hours=1)
    with db.transaction() as s:
        service.claw_back(s, p.shop.merchant_id, p.inviter_id, CASE, clock())
    events.drain(db)
    clock.advance(days=1)
    f2 = friend(client, db, p, 2)
    first_order(client, db, p, f2)
    assert [(status, why) for _, status, why in referrals(db)] == [("voided", "clawed_back"), ("pending", None)]
    domains.load_all()
    with db.transaction() as s:
        row = s.execute(select(OutboxEvent).where(OutboxEvent.name == CommissionClawedBack.NAME)).scalar_one()
        eid, name, mid, payload, at = row.id, row.name, row.merchant_id, row.payload, row.created_at
    for reg in events.registrations(name):
        with db.transaction() as s:
            reg.handler(s, Event(eid, name, mid, reg.payload_type.from_json(payload), at))
    assert [(status, why) for _, status, why in referrals(db)] == [("voided", "clawed_back"), ("pending", None)]


def _redeliver(db, name: str, domain: str = "commission") -> None:
    """Hand the outbox's events called ``name`` again to ``domain``'s handlers."""
    domains.load_all()
    with db.transaction() as s:
        rows = [(r.id, r.name, r.merchant_id, r.payload, r.created_at) for r in s.scalars(select(OutboxEvent).where(OutboxEvent.name == name).order_by(OutboxEvent.id))]
    assert rows
    for eid, n, mid, payload, at in rows:
        for reg in events.registrations(n):
            if reg.key.startswith(f"linli.{domain}."):
                with db.transaction() as s:
                    reg.handler(s, Event(eid, n, mid, reg.payload_type.from_json(payload), at))


def test_a_redelivered_suspension_or_reinstatement_follows_the_sharers_status_now(client, db, merchant, clock):
    """sharer.suspended holds the sharer's money and sharer.activated releases it. Delivered
    again after the status moved on, neither may act on the past: a reinstated sharer's money
    is not held again, a suspended sharer's money is not released."""
    shop = make_shop(client, merchant)
    mid, leader = merchant.id, shop.leader_id
    o = buy(client, db, login(client, "13700000004"), shop, [(shop.skus["berry"], 2)])
    client.post(f"{API}/orders/{o['id']}/pickup/verify", json={"code": o["pickup_code"]}, headers=shop.leader)
    events.drain(db)
    jobs.run_due(db, clock.advance(days=7, minutes=1))

    def money():
        e = client.get(f"{API}/me/earnings", params={"merchant_id": mid}, headers=shop.leader).json()
        return e["available"], e["held"]

    assert money() == (2040, 0)
    for action in ("suspend", "reinstate"):
        assert client.post(f"{API}/merchants/{mid}/sharers/{leader}/{action}", headers=merchant.owner).status_code == 200
        events.drain(db)
    assert money() == (2040, 0)
    _redeliver(db, "sharer.suspended")
    assert money() == (2040, 0)  # active: nothing to hold
    assert client.post(f"{API}/merchants/{mid}/sharers/{leader}/suspend", headers=merchant.owner).status_code == 200
    events.drain(db)
    assert money() == (0, 2040)
    _redeliver(db, "sharer.activated")
    assert money() == (0, 2040)  # suspended again: the old reinstatement releases nothing
    with db.transaction() as s:
        assert ledger.check(s, mid) == []


def test_ledger_and_holds_agree_under_random_histories_with_holds_releases_and_claw_backs(db):
    """Commission's state machine (bind, order, pay, refund, receive, settle, withdraw, a
    failed payout) with holds, releases and claw backs under two reasons (a risk case and a
    suspension) mixed in: after every step the ledger check passes, and a sharer under any
    hold has nothing positive in available (held money never withdrawable)."""
    reasons = st.sampled_from(["risk:1", "sharer_suspended"])

    class WithHolds(make_machine(db)):
        @rule(who=st.integers(0, N - 1), reason=reasons)
        def hold(self, who, reason):
            with db.transaction() as s:
                service.hold(s, self.mid, self.members[who], reason, self.tick())

        @rule(who=st.integers(0, N - 1), reason=reasons)
        def release(self, who, reason):
            with db.transaction() as s:
                service.release_hold(s, self.mid, self.members[who], reason, self.tick())
            events.drain(db)

        @rule(who=st.integers(0, N - 1), reason=reasons)
        def claw_back(self, who, reason):
            with db.transaction() as s:
                service.claw_back(s, self.mid, self.members[who], reason, self.tick())
            events.drain(db)

        @rule()
        def toggle_settlement(self):
            """realtime ↔ t_plus_1 (a new version of the merchant's commission rules)."""
            with db.transaction() as s:
                v = current(s, self.mid)
                mode = "t_plus_1" if v.settlement == "realtime" else "realtime"
                s.add(RuleSetVersion(merchant_id=self.mid, version=v.version + 1, **{**DEFAULTS, "settlement": mode}, created_at=self.tick()))

        @invariant()
        def owed_matches_unrefunded_money(self):
            pass  # a claw back cancels records on purpose; the ledger check below still holds

        @invariant()
        def held_money_is_out_of_reach(self):
            with db.transaction() as s:
                on_hold = set(s.scalars(select(CommissionHold.member_id).where(CommissionHold.merchant_id == self.mid)))
                for r in s.scalars(select(CommissionRecord).where(CommissionRecord.state == "available", CommissionRecord.amount > 0)):
                    assert r.member_id not in on_hold, (r.id, r.kind, r.amount)
                for r in s.scalars(select(CommissionRecord).where(CommissionRecord.state == "held")):
                    assert r.member_id in on_hold, (r.id, r.kind, r.amount)

    run_state_machine_as_test(WithHolds, settings=settings(max_examples=4, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck)))
