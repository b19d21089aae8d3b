"""A Hypothesis state machine over the rewards through the real app and API, on SQLite and
PostgreSQL: claim a coupon, top up stored value through the sandbox gateway, place an order
with any of coupon / points / stored value, pay, receive, complete (due jobs with the
clock), partial and full refunds, cancel unpaid, and points expiry (a clock jump and the due
jobs). After every step: ``ledger.check`` holds; every member's wallet (GET /me/wallet) and
coupons (GET /me/coupons) equal what a simple model expects from their movements; every
order's payable is at least 1 fen unless stored value paid it all (then 0); and nothing is
granted twice (one ledger transfer per grant key, one coupon per (template, member,
sequence))."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from linli import events, jobs, ledger
from linli.ledger import LedgerTransfer
from linli.rewards import rules as reward_rules
from linli.rewards.models import Coupon
from tests.conftest import ADMIN, _wipe, login, problem_code
from tests.orders.helpers import make_shop, order

N = 3  # members
START = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)
PLAN = (10_000, 1000)  # 充100送10
# Two templates: 满50减10 (two each, five in all) and 5 元 off anything (one each).
TEMPLATES = [
    {"name": "满50减10", "kind": "threshold", "amount": 1000, "threshold": 5000, "total": 5, "per_member": 2, "valid_days": 30},
    {"name": "立减5元", "kind": "fixed", "amount": 500, "threshold": 0, "total": 10, "per_member": 1, "valid_days": 30},
]


@dataclass
class MCoupon:
    id: int
    template: int  # index into TEMPLATES
    valid_to: datetime
    status: str = "unused"  # unused | locked | used (expired is computed from valid_to)

    def shown(self, now: datetime) -> str:
        return "expired" if self.status == "unused" and self.valid_to <= now else self.status


@dataclass
class MOrder:
    id: int
    member: int
    total_paid: int
    lines: list[list[int]]  # [line id, paid, refunded]
    points: int
    sv_principal: int
    sv_bonus: int
    coupon: MCoupon | None
    status: str = "pending_payment"  # pending_payment | paid | received | completed | cancelled
    full: bool = False  # refunded in full
    epoch: int = 0  # how many expiry jumps happened before it was placed
    received_epoch: int | None = None
    points_returned: int = 0
    sv_returned: int = 0

    @property
    def refunded(self) -> int:
        return sum(ln[2] for ln in self.lines)

    def earned(self) -> int:
        """The points its lines still earn: each line's floor(paid / 100) less the cumulative
        floor of what its refunds reverse."""
        total = 0
        for _, paid, refunded in self.lines:
            e = reward_rules.points_for_paid(paid)
            total += e - reward_rules.points_to_reverse(e, paid, 0, refunded)
        return total


@dataclass
class MMember:
    headers: dict
    phone: str
    principal: int = 0
    bonus: int = 0
    available: int = 0  # points (what came back from orders and what was earned, less what was spent)
    coupons: list[MCoupon] = field(default_factory=list)


def make_machine(app, client, db, clock):
    class Rewards(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            _wipe(db)
            clock.current = START
            admin = login(client, ADMIN)
            r = client.post("/api/v1/merchants", json={"name": "优邻优选", "owner_phone": "13800000001"}, headers=admin)
            assert r.status_code == 201, r.text

            class M:  # what make_shop needs of the merchant fixture
                id = r.json()["id"]
                owner = login(client, "13800000001")

            self.shop = make_shop(client, M, stock=10_000)
            self.mid = self.shop.merchant_id
            self.templates = []
            for t in TEMPLATES:
                r = client.post(f"/api/v1/merchants/{self.mid}/coupon-templates", json=t, headers=self.shop.owner)
                assert r.status_code == 201, r.text
                self.templates.append(r.json()["id"])
            r = client.put(f"/api/v1/merchants/{self.mid}/topup-plans", json=[{"pay": PLAN[0], "bonus": PLAN[1]}], headers=self.shop.owner)
            assert r.status_code == 200, r.text
            self.members = [MMember(login(client, f"1370000000{i}"), f"1370000000{i}") for i in range(N)]
            self.logged_in_at = clock.current
            self.issued = [0] * len(TEMPLATES)
            self.orders: list[MOrder] = []
            self.epoch = 0
            self.topups = [0, 0]  # (free amounts, plan amounts)
            # A start worth exploring from: points earned through the real flow (an order paid,
            # received and completed), stored value and a coupon for the first two members.
            for who in (0, 1):
                self.top_up(who, PLAN[0])
                self.claim(who, 0)
                self.place(who, [("berry2", 1)], False, 0, 0, True)
                self.receive(0)
            self.complete()

        # --- helpers -------------------------------------------------------------------------

        def tick(self, **kw) -> datetime:
            return clock.advance(**(kw or {"minutes": 1}))

        def pick(self, n: int, *statuses: str) -> MOrder | None:
            """The n-th newest order in one of these states (0: the newest)."""
            found = [o for o in reversed(self.orders) if o.status in statuses]
            return found[n % len(found)] if found else None

        def _points_back(self, o: MOrder, target: int) -> None:
            """Redeemed points brought back to ``target`` (cumulative); after an expiry jump the
            lots they came from have expired, so they expire instead of coming back."""
            n = max(target - o.points_returned, 0)
            o.points_returned += n
            if o.epoch == self.epoch:
                self.members[o.member].available += n

        def _sv_back(self, o: MOrder, target: int) -> None:
            total = o.sv_principal + o.sv_bonus
            n = min(max(target - o.sv_returned, 0), total - o.sv_returned)
            if n <= 0:
                return
            p = o.sv_principal * (o.sv_returned + n) // total - o.sv_principal * o.sv_returned // total
            m = self.members[o.member]
            m.principal += p
            m.bonus += n - p
            o.sv_returned += n

        def _release(self, o: MOrder) -> None:
            o.status = "cancelled"
            if o.coupon is not None:
                o.coupon.status = "unused"
            self._points_back(o, o.points)
            self._sv_back(o, o.sv_principal + o.sv_bonus)

        def _relogin(self) -> None:
            self.logged_in_at = clock.current
            for m in self.members:
                m.headers = login(client, m.phone)
            self.shop.owner = login(client, "13800000001")
            self.shop.leader = login(client, "13900000001")

        # --- rules ---------------------------------------------------------------------------

        @rule(who=st.integers(0, N - 1), t=st.integers(0, len(TEMPLATES) - 1))
        def claim(self, who, t):
            m = self.members[who]
            r = client.post(f"/api/v1/coupons/{self.templates[t]}/claim", headers=m.headers)
            held = sum(1 for c in m.coupons if c.template == t)
            if held >= TEMPLATES[t]["per_member"]:
                assert r.status_code == 409 and problem_code(r) == "coupon.member_limit", r.text
            elif self.issued[t] >= TEMPLATES[t]["total"]:
                assert r.status_code == 409 and problem_code(r) == "coupon.sold_out", r.text
            else:
                assert r.status_code == 201, r.text
                c = r.json()
                m.coupons.append(MCoupon(c["id"], t, datetime.fromisoformat(c["valid_to"].replace("Z", "+00:00"))))
                self.issued[t] += 1

        @rule(who=st.integers(0, N - 1), amount=st.sampled_from([PLAN[0], 2345]))
        def top_up(self, who, amount):
            m = self.members[who]
            r = client.post("/api/v1/me/topups", json={"merchant_id": self.mid, "pay": amount}, headers=m.headers)
            assert r.status_code == 201, r.text
            assert client.post(f"/api/v1/payments/sandbox/{r.json()['payment_id']}/complete", headers=m.headers).status_code == 202
            events.drain(db)
            m.principal += amount
            m.bonus += PLAN[1] if amount == PLAN[0] else 0
            self.topups[amount == PLAN[0]] += 1

        @rule(who=st.integers(0, N - 1), items=st.lists(st.tuples(st.sampled_from(["berry", "berry2", "apple"]), st.integers(1, 2)), min_size=1, max_size=2, unique_by=lambda x: x[0]),
              coupon=st.booleans(), points=st.sampled_from([0, 1, 50, 10**6]), sv=st.sampled_from([0, 1000, 10**6]), pay=st.booleans())
        def place(self, who, items, coupon, points, sv, pay):
            m = self.members[who]
            now = self.tick()
            prices = {"berry": 6800, "berry2": 12_800, "apple": 2990}
            subtotal = sum(prices[k] * q for k, q in items)
            chosen = next((c for c in m.coupons if c.shown(now) == "unused" and subtotal >= TEMPLATES[c.template]["threshold"]), None) if coupon else None
            off = TEMPLATES[chosen.template]["amount"] if chosen else 0
            pts = min(points, max(m.available, 0), (subtotal - off) * reward_rules.POINTS_MAX_SHARE_BP // 10_000)
            held = m.principal + m.bonus
            use_sv = min(sv, held, subtotal - off - pts)
            extra = {"points": pts, "stored_value": use_sv} | ({"coupon_id": chosen.id} if chosen else {})
            r = order(client, m.headers, self.shop, [(self.shop.skus[k], q) for k, q in items], **extra)
            assert r.status_code == 201, (extra, r.text)
            got = r.json()
            assert (got["subtotal"], got["coupon"], got["points_fen"], got["stored_value"]) == (subtotal, off, pts, use_sv)
            assert got["payable"] == subtotal - off - pts - use_sv
            p_spent = min(use_sv, m.principal)
            m.principal -= p_spent
            m.bonus -= use_sv - p_spent
            m.available -= pts
            if chosen:
                chosen.status = "locked"
            o = MOrder(got["id"], who, got["total_paid"], [[ln["id"], ln["paid"], 0] for ln in got["lines"]], pts, p_spent, use_sv - p_spent, chosen, epoch=self.epoch)
            self.orders.append(o)
            if got["payable"] == 0:  # stored value paid it all: paid at once
                r = client.post(f"/api/v1/orders/{o.id}/pay", headers=m.headers)
                assert r.status_code == 200 and r.json()["payment_id"] is None, r.text
                events.drain(db)
                self._paid(o)
            elif pay:
                self.pay(0)

        def _paid(self, o: MOrder) -> None:
            o.status = "paid"
            if o.coupon is not None:
                o.coupon.status = "used"

        @rule(n=st.integers(0, 3))
        def pay(self, n):
            o = self.pick(n, "pending_payment")
            if o is None:
                return
            h = self.members[o.member].headers
            r = client.post(f"/api/v1/orders/{o.id}/pay", headers=h)
            assert r.status_code == 200, r.text
            assert client.post(f"/api/v1/payments/sandbox/{r.json()['payment_id']}/complete", headers=h).status_code == 202
            events.drain(db)
            self._paid(o)

        @rule(n=st.integers(0, 3))
        def cancel(self, n):
            o = self.pick(n, "pending_payment")
            if o is None:
                return
            r = client.post(f"/api/v1/orders/{o.id}/cancel", headers=self.members[o.member].headers)
            assert r.status_code == 200, r.text
            events.drain(db)
            self._release(o)

        @rule(n=st.integers(0, 3))
        def receive(self, n):
            o = self.pick(n, "paid")
            if o is None or o.full:
                return
            self.tick()
            assert client.post(f"/api/v1/merchants/{self.mid}/orders/{o.id}/ready", headers=self.shop.owner).status_code == 200
            code = client.get(f"/api/v1/orders/{o.id}", headers=self.members[o.member].headers).json()["pickup_code"]
            r = client.post(f"/api/v1/orders/{o.id}/pickup/verify", json={"code": code}, headers=self.shop.leader)
            assert r.status_code == 200, r.text
            events.drain(db)
            o.status, o.received_epoch = "received", self.epoch

        def _run_due(self, at: datetime) -> None:
            for _ in range(2):  # the second run finds nothing left: due jobs are idempotent
                jobs.run_due(db, at)
                events.drain(db)
            for o in self.orders:
                if o.status == "received":
                    o.status = "completed"
                    if o.received_epoch == self.epoch:
                        self.members[o.member].available += o.earned()
                elif o.status == "pending_payment":  # not paid in time: cancelled, everything back
                    self._release(o)

        @rule()
        def complete(self):
            self._run_due(self.tick(days=7, minutes=1))
            if clock.current - self.logged_in_at > timedelta(days=60):  # sessions last 90 days in tests
                self._relogin()

        @rule(n=st.integers(0, 3), line=st.integers(0, 1), fraction=st.sampled_from([1, 2, 3, 100]))
        def refund(self, n, line, fraction):
            o = self.pick(n, "paid", "received", "completed")
            if o is None or o.full:
                return
            ln = o.lines[line % len(o.lines)]
            left = ln[1] - ln[2]
            if left <= 0:
                return
            amount = max(left // fraction, 1)
            self.tick()
            h = self.members[o.member].headers
            r = client.post(f"/api/v1/orders/{o.id}/refunds", json={"lines": [{"line_id": ln[0], "amount": amount}], "reason": "坏果"}, headers=h)
            assert r.status_code == 201, r.text
            if r.json()["status"] == "requested":
                a = client.post(f"/api/v1/merchants/{self.mid}/refunds/{r.json()['id']}/approve", headers=self.shop.owner)
                assert a.status_code == 200, a.text
            events.drain(db)
            m = self.members[o.member]
            before = o.earned()
            ln[2] += amount
            if o.status == "completed" and o.received_epoch == self.epoch:  # reversed from available (pending ones were never counted)
                m.available -= before - o.earned()
            full = o.full = o.refunded >= o.total_paid
            if full:
                if o.coupon is not None:
                    o.coupon.status = "unused"  # shown expired when returned past its validity
            self._points_back(o, o.points if full else o.points * o.refunded // o.total_paid)
            self._sv_back(o, o.sv_principal + o.sv_bonus if full else (o.sv_principal + o.sv_bonus) * o.refunded // o.total_paid)

        @precondition(lambda self: self.epoch == 0 and len(self.orders) >= 6)  # late, once: a history to expire
        @rule()
        def expire(self):
            """Jump past the expiry of every point earned so far: the due jobs complete what
            was received, cancel what was never paid, then expire the lots."""
            at = reward_rules.points_expire_at(clock.current) + timedelta(minutes=1)
            clock.current = at
            self._run_due(at)
            self.epoch += 1
            for m in self.members:
                m.available = min(m.available, 0)  # a debt does not expire
            self._relogin()

        # --- invariants ----------------------------------------------------------------------

        @invariant()
        def ledger_holds(self):
            with db.transaction() as s:
                assert ledger.check(s) == []

        @invariant()
        def wallets_equal_the_model(self):
            now = clock.current
            for i, m in enumerate(self.members):
                r = client.get("/api/v1/me/wallet", params={"merchant_id": self.mid}, headers=m.headers)
                assert r.status_code == 200, r.text
                w = r.json()
                pending = sum(o.earned() for o in self.orders if o.member == i and o.status == "received")
                assert (w["points"]["available"], w["points"]["pending"]) == (m.available, pending), (i, w["points"])
                assert (w["stored_value"]["principal"], w["stored_value"]["bonus"]) == (m.principal, m.bonus), (i, w["stored_value"])
                assert w["coupons"]["unused"] == sum(1 for c in m.coupons if c.shown(now) == "unused")
                listed = client.get("/api/v1/me/coupons", params={"merchant_id": self.mid}, headers=m.headers).json()
                assert sorted((c["id"], c["status"]) for c in listed) == sorted((c.id, c.shown(now)) for c in m.coupons)

        @invariant()
        def payable_is_at_least_a_fen_unless_stored_value_paid_it_all(self):
            for o in self.orders:
                got = client.get(f"/api/v1/orders/{o.id}", headers=self.members[o.member].headers).json()
                assert got["payable"] >= 1 or (got["payable"] == 0 and got["stored_value"] == got["total_paid"] > 0), got  # total_paid: after coupon and points

        @invariant()
        def nothing_granted_twice(self):
            with db.transaction() as s:
                keys = list(s.scalars(select(LedgerTransfer.key).where(LedgerTransfer.merchant_id == self.mid)))
                assert len(keys) == len(set(keys))
                assert sum(k.startswith("sv:topup:") for k in keys) == sum(self.topups)
                assert sum(k.startswith("sv:bonus:") for k in keys) == self.topups[1]
                per = s.execute(select(Coupon.template_id, Coupon.member_id, func.count()).where(Coupon.merchant_id == self.mid).group_by(Coupon.template_id, Coupon.member_id)).all()
                limits = dict(zip(self.templates, (t["per_member"] for t in TEMPLATES), strict=True))
                assert all(n <= limits[t] for t, _, n in per)
                assert [s.scalar(select(func.count()).select_from(Coupon).where(Coupon.template_id == t)) for t in self.templates] == self.issued

    return Rewards


def test_rewards_invariants_hold_under_random_histories(app, client, db, clock):
    machine = make_machine(app, client, db, clock)
    run_state_machine_as_test(machine, settings=settings(max_examples=4, stateful_step_count=20, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)))
