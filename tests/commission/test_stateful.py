"""A Hypothesis state machine over bind, order, pay, refund (partial and full), receive,
settle, withdraw and payout failure, driving the real services on a real database. After
every step: the ledger balances, each balance equals its records, no line pays more than
its capped share, and nothing is owed on refunded money."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import select

from linli import events, jobs, ledger
from linli.catalog import service as catalog
from linli.commission import accounts, payout, withdrawals
from linli.commission.models import CommissionRecord
from linli.community import service as community
from linli.errors import DomainError
from linli.identity import service as identity
from linli.identity.service import Principal
from linli.orders import service as orders
from linli.orders.models import Order, OrderLine
from linli.payments import service as payments
from linli.referral import service as referral
from tests.conftest import _wipe

N = 6


def make_machine(db):
    class Commission(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            _wipe(db)
            self.now = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)
            with db.transaction() as s:
                admin_m = identity.get_or_create_member(s, "13800000000", self.now)
                merchant, owner_m = identity.create_merchant(s, Principal(admin_m.id, admin_m.phone, True), "优邻优选", "13800000001", self.now)
                self.owner = Principal(owner_m.id, owner_m.phone, False)
                self.mid = merchant.id
                c = community.create_community(s, self.owner, self.mid, "云顶华府", "杭州", 30.27, 120.15, self.now)
                self.point = community.add_pickup_point(s, self.owner, self.mid, c.id, "东门", "东门", 30.27, 120.15, self.now).id
                leader = identity.get_or_create_member(s, "13900000001", self.now)
                community.set_leader(s, self.owner, self.mid, c.id, leader.id)
                _, skus = catalog.create_product(s, self.owner, self.mid, "草莓", "水果", [catalog.SkuInput("1盒", 6800, 10_000), catalog.SkuInput("小盒", 2990, 10_000)], self.now)
                self.skus = [k.id for k in skus]
                self.members = []
                for i in range(N):
                    m = identity.get_or_create_member(s, f"1370000000{i}", self.now)
                    referral.appoint(s, self.owner, self.mid, m.phone, self.now)
                    self.members.append(m.id)
                self.codes = [referral.my_code(s, m, self.mid, self.now).code for m in self.members]
            self.orders: list[int] = []

        def tick(self, **kw):
            self.now += timedelta(**kw) if kw else timedelta(minutes=1)
            return self.now

        @rule(a=st.integers(0, N - 1), b=st.integers(0, N - 1))
        def bind(self, a, b):
            try:
                with db.transaction() as s:
                    referral.bind(s, self.members[b], self.codes[a], self.tick())
            except DomainError:
                pass

        @rule(buyer=st.integers(0, N - 1), sku=st.integers(0, 1), qty=st.integers(1, 3), via=st.none() | st.integers(0, N - 1))
        def order_and_pay(self, buyer, sku, qty, via):
            now = self.tick()
            with db.transaction() as s:
                req = orders.NewOrder(self.mid, [(self.skus[sku], qty)], pickup_point_id=self.point, invite_code=self.codes[via] if via is not None else None)
                o = orders.create_order(s, self.members[buyer], req, now)
                p = orders.start_payment(s, o.member_id, o.id, now)
                payments.sandbox_complete(s, o.member_id, p.id, now)
            events.drain(db)
            self.orders.append(o.id)

        @rule(pick=st.integers(0, 10**6), fraction=st.sampled_from([1, 2, 3, 10, 100]))
        def refund(self, pick, fraction):
            if not self.orders:
                return
            oid = self.orders[pick % len(self.orders)]
            now = self.tick()
            try:
                with db.transaction() as s:
                    d = orders.member_order(s, self._buyer(s, oid), oid)
                    line = d.lines[0]
                    amount = max((line.paid - line.refunded - line.refund_reserved) // fraction, 1)
                    case = orders.request_refund(s, d.order.member_id, oid, [(line.id, amount)], "售后", [], now)
                    if case.status == "requested":
                        orders.approve(s, self.owner, self.mid, case.id, now)
            except DomainError:
                return
            events.drain(db)

        def _buyer(self, s, oid):
            return s.get(Order, oid).member_id

        @rule(pick=st.integers(0, 10**6))
        def receive(self, pick):
            if not self.orders:
                return
            oid = self.orders[pick % len(self.orders)]
            now = self.tick()
            try:
                with db.transaction() as s:
                    orders.mark_ready(s, self.owner, self.mid, oid, now)
                    orders.confirm_receipt(s, self._buyer(s, oid), oid, now)
            except DomainError:
                return
            events.drain(db)

        @rule()
        def settle(self):
            jobs.run_due(db, self.tick(days=8))

        @rule(who=st.integers(0, N - 1), share=st.sampled_from([1, 2, 3]), fail=st.booleans())
        def withdraw(self, who, share, fail):
            member = self.members[who]
            with db.transaction() as s:
                b = accounts.balance(s, self.mid, member)
            if not b or b.available < 100:
                return
            if fail:
                payout.gateway.get().fail_next()
            try:
                with db.transaction() as s:
                    withdrawals.request(s, member, self.mid, max(b.available // share, 100), self.tick())
            except DomainError:
                payout.gateway.get().reset()
                return
            events.drain(db)

        @invariant()
        def ledger_holds(self):
            with db.transaction() as s:
                assert ledger.check(s, None) == []

        @invariant()
        def owed_matches_unrefunded_money(self):
            with db.transaction() as s:
                groups = defaultdict(int)
                rate = {}
                for r in s.scalars(select(CommissionRecord).where(CommissionRecord.state != "cancelled")):
                    groups[(r.line_id, r.member_id, r.level)] += r.amount
                    rate[(r.line_id, r.member_id, r.level)] = (r.rate_bp, r.base)
                paid_by_line = defaultdict(int)
                for (line_id, member_id, level), owed in groups.items():
                    line = s.get(OrderLine, line_id)
                    rate_bp, base = rate[(line_id, member_id, level)]
                    assert base == line.paid
                    assert owed == (line.paid - line.refunded) * rate_bp // 10_000
                    paid_by_line[line_id] += owed
                for line_id, total in paid_by_line.items():
                    line = s.get(OrderLine, line_id)
                    assert total <= (line.paid - line.refunded) * 5000 // 10_000  # the cap

        def teardown(self):
            payout.gateway.get().reset()

    return Commission


def test_commission_invariants_hold_under_random_histories(db):
    machine = make_machine(db)
    run_state_machine_as_test(machine, settings=settings(max_examples=6, stateful_step_count=20, deadline=None, suppress_health_check=list(HealthCheck)))
