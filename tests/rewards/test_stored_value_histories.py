"""Random histories of one member's stored value, straight on rewards' services (found by
the fourth review): top-ups with and without bonus, spends, cancels of unpaid orders, partial,
full and replayed refunds of paid ones, principal refunds and payouts. After every step the
ledger checks, no balance is negative, each top-up's payouts are its principal out less what
is held back (never more than it paid), nothing is created, and the cap holds; at the end,
everything refunded, every fen paid in has come back through the gateway and no bonus or
held-back principal is left. A dozen fixed seeds run in the suite; for a deeper run,
``HISTORIES=400 HISTORY_SEED=1 pytest tests/rewards/test_stored_value_histories.py``."""

from __future__ import annotations

import os
import random
from datetime import datetime, timezone

from sqlalchemy import select, update

from linli import ledger
from linli.payments.models import Payment
from linli.rewards import checkout, rules
from linli.rewards import stored_value as sv
from linli.rewards.models import OrderRewards, RewardBalance, StoredValuePayout, Topup
from tests.conftest import login
from tests.orders.helpers import make_shop

NOW = datetime(2026, 12, 2, tzinfo=timezone.utc)
CAP = rules.STORED_VALUE_CAP


class World:
    def __init__(self, db, mid, member, rnd):
        self.db, self.mid, self.member, self.rnd = db, mid, member, rnd
        self.orders: dict[int, dict] = {}
        self.next_order = member * 100_000
        self.log: list[str] = []
        self.case = 0

    def tx(self):
        return self.db.transaction()

    def top_up(self, pay, bonus_plan):
        with self.tx() as s:
            try:
                t, p = sv.create_topup(s, self.member, self.mid, pay, NOW)
                p = p.payment
            except Exception as e:  # over the cap
                self.log.append(f"topup {pay} refused {type(e).__name__}")
                return
            tid, pid = t.id, p.id
        with self.tx() as s:
            s.execute(update(Payment).where(Payment.id == pid).values(status="succeeded"))
            out = sv.credit(s, tid, pid, NOW)
        self.log.append(f"topup {pay} -> {out} (t{tid})")

    def place(self, amount):
        self.next_order += 1
        oid = self.next_order
        with self.tx() as s:
            b = s.get(RewardBalance, (self.mid, self.member))
            have = (b.sv_principal + b.sv_bonus) if b else 0
            amount = min(amount, have)
            if amount <= 0:
                return
            p, bo = sv.spend(s, self.mid, self.member, oid, amount, NOW)
            s.add(OrderRewards(order_id=oid, merchant_id=self.mid, member_id=self.member, coupon_off=0, points=0, state="held", sv_principal=p, sv_bonus=bo, points_lots=[], privileges={}))
        self.orders[oid] = {"total": amount, "refunded": 0, "status": "held"}
        self.log.append(f"place o{oid} {amount} ({p}+{bo})")

    def pay(self, oid):
        with self.tx() as s:
            s.execute(update(OrderRewards).where(OrderRewards.order_id == oid, OrderRewards.state == "held").values(state="spent"))
        self.orders[oid]["status"] = "spent"
        self.log.append(f"pay o{oid}")

    def cancel(self, oid):
        with self.tx() as s:
            checkout.RewardsPricing().release(s, oid, NOW)
        self.orders[oid]["status"] = "released"
        self.log.append(f"cancel o{oid}")

    def refund(self, oid, amount, key=None):
        o = self.orders[oid]
        amount = min(amount, o["total"] - o["refunded"])
        if amount <= 0:
            return
        o["refunded"] += amount
        if key is None:
            self.case += 1
            key = f"refund_case:{self.case}"
        o.setdefault("keys", []).append((key, o["refunded"]))
        self._refund_at(oid, o["refunded"], key)
        self.log.append(f"refund o{oid} {amount} (now {o['refunded']}/{o['total']}) {key}")

    def _refund_at(self, oid, refunded, key):
        """rewards.handlers.refund_returns for an order wholly paid with stored value."""
        o = self.orders[oid]
        with self.tx() as s:
            row = s.get(OrderRewards, oid, with_for_update=True)
            spent = row.sv_principal + row.sv_bonus
            target = spent if refunded >= o["total"] else spent * refunded // o["total"]
            checkout.return_share(s, row, 0, max(target, row.sv_returned), key, NOW)

    def replay(self, oid):
        o = self.orders[oid]
        if o.get("keys"):
            key, at = self.rnd.choice(o["keys"])
            self._refund_at(oid, at, key)
            self.log.append(f"replay o{oid} {key}")

    def refund_principal(self):
        st = self.state()
        self.log.append(f"  before: P {st['P']} B {st['B']} H {st['H']} tops {st['tops']}")
        with self.tx() as s:
            try:
                r = sv.refund_principal(s, self.member, self.mid, NOW)
                self.log.append(f"principal refund {r.principal} held {r.held_back} forfeit {r.bonus_forfeited}")
            except Exception as e:
                self.log.append(f"principal refund refused {getattr(e, 'code', type(e).__name__)}")

    def payouts(self):
        with self.tx() as s:
            ids = list(s.scalars(select(StoredValuePayout.id).where(StoredValuePayout.member_id == self.member, StoredValuePayout.status == "pending")))
        for i in ids:
            with self.tx() as s:
                sv.pay_payout(s, i, NOW)
            with self.tx() as s:  # a replayed event
                assert sv.pay_payout(s, i, NOW) is False

    def state(self):
        with self.tx() as s:
            b = s.get(RewardBalance, (self.mid, self.member)) or RewardBalance(sv_principal=0, sv_bonus=0, sv_held_back=0)
            tops = list(s.scalars(select(Topup).where(Topup.member_id == self.member, Topup.status == "paid")))
            pays = {p.id: p for p in s.scalars(select(Payment).where(Payment.member_id == self.member, Payment.subject == "topup"))}
            outs = list(s.scalars(select(StoredValuePayout).where(StoredValuePayout.member_id == self.member)))
            rows = list(s.scalars(select(OrderRewards).where(OrderRewards.member_id == self.member)))
            res = dict(
                P=b.sv_principal, B=b.sv_bonus, H=b.sv_held_back,
                paid_in=sum(t.pay for t in tops), bonus_in=sum(t.bonus for t in tops),
                payouts=sum(p.amount for p in outs), paid_out=sum(p.amount for p in outs if p.status == "paid"),
                gateway=sum(pays[t.payment_id].refunded for t in tops),
                in_orders_p=sum(r.sv_principal * 1 for r in rows), in_orders=sum(r.sv_principal + r.sv_bonus - r.sv_returned for r in rows),
                parked=sum(r.sv_principal + r.sv_bonus - r.sv_returned for r in rows if r.state == "held"),
                tops=[(t.id, t.pay, t.bonus, t.principal_out, t.held_back, pays[t.payment_id].refunded, sum(p.amount for p in outs if p.topup_id == t.id)) for t in tops],
                problems=ledger.check(s, self.mid),
            )
        return res

    def check(self):
        from linli.rewards.models import StoredValueRefund
        with self.tx() as s:
            for r in s.scalars(select(StoredValueRefund).where(StoredValueRefund.member_id == self.member, StoredValueRefund.id > getattr(self, "last_r", 0)).order_by(StoredValueRefund.id)):
                self.last_r = r.id
                if r.reason != "requested":
                    self.log.append(f"  [{r.reason}] principal {r.principal} held {r.held_back} forfeit {r.bonus_forfeited}")
        st = self.state()
        where = "\n".join(self.log) + f"\n{st}"
        assert st["problems"] == [], where
        assert st["P"] >= 0 and st["B"] >= 0 and st["H"] >= 0, where
        for tid, pay, bonus, out, held, refunded, payouts in st["tops"]:
            assert 0 <= held <= out <= pay, where
            assert payouts == out - held, where
            assert refunded <= pay, where
        # Every fen of what is held plus what orders hold plus what was paid out is what came in.
        assert st["P"] + st["B"] + st["H"] + st["in_orders"] + st["payouts"] <= st["paid_in"] + st["bonus_in"], where
        assert st["P"] + st["B"] + st["parked"] <= CAP, where
        return st


def _run(db, mid, member, seed, steps=40):
    rnd = random.Random(seed)
    w = World(db, mid, member, rnd)
    w.log.append(f"seed {seed}")
    for _ in range(steps):
        op = rnd.random()
        live = [o for o, v in w.orders.items() if v["status"] == "held"]
        paid = [o for o, v in w.orders.items() if v["status"] == "spent" and v["refunded"] < v["total"]]
        anypaid = [o for o, v in w.orders.items() if v["status"] == "spent"]
        if op < 0.06:  # park principal, spend the bonus, cancel the parked order
            w.place(rnd.choice([5000, 25_000, 100_000]))
            h = w.next_order
            w.place(rnd.choice([5000, 25_000, 100_000, 500_000]))
            if w.next_order != h and w.orders.get(w.next_order, {}).get("status") == "held":
                w.pay(w.next_order)
            if w.orders.get(h, {}).get("status") == "held":
                w.cancel(h)
        elif op < 0.25:
            w.top_up(rnd.choice([10_000, 10_000, 100_000, 400_000, 12_345, 250_000, 250_000, 3, 100_001]), None)
        elif op < 0.45:
            w.place(rnd.choice([1, 999, 5000, 25_000, 100_000, 300_000, 500_000]))
        elif op < 0.55 and live:
            w.pay(rnd.choice(live))
        elif op < 0.62 and live:
            w.cancel(rnd.choice(live))
        elif op < 0.80 and paid:
            o = rnd.choice(paid)
            w.refund(o, rnd.choice([1, 777, 5000, 10**9]))
        elif op < 0.85 and anypaid:
            w.replay(rnd.choice(anypaid))
        elif op < 0.93:
            w.refund_principal()
        else:
            w.payouts()
        w.check()
    # Everything refunded: the member bought nothing, so every fen paid in must come back.
    for o, v in w.orders.items():
        if v["status"] == "held":
            w.cancel(o)
        elif v["status"] == "spent":
            w.refund(o, 10**9)
        w.check()
    w.refund_principal()
    w.payouts()
    st = w.check()
    where = "\n".join(w.log) + f"\n{st}"
    assert (st["P"], st["H"], st["paid_out"], st["gateway"]) == (0, 0, st["paid_in"], st["paid_in"]), where
    assert st["B"] == 0, where


def test_random_histories_conserve_every_fen(client, db, merchant):
    shop = make_shop(client, merchant)
    plans = [(10_000, 1000), (100_000, 30_000), (400_000, 40_000), (250_000, 250_000)]
    r = client.put(f"/api/v1/merchants/{shop.merchant_id}/topup-plans", json=[{"pay": p, "bonus": b} for p, b in plans], headers=shop.owner)
    assert r.status_code == 200
    n = int(os.environ.get("HISTORIES", "8"))  # HISTORIES=200 for a long run
    start = int(os.environ.get("HISTORY_SEED", "1040"))
    for seed in range(start, start + n):
        h = login(client, f"1370{seed:07d}")
        member = client.get("/api/v1/me", headers=h).json()["id"]
        _run(db, shop.merchant_id, member, seed)


def test_one_members_concurrent_stored_value_moves_neither_deadlock_nor_lose_money(client, db, merchant):
    """Refund of a paid order, cancel of an unpaid one, a principal refund, a top-up credit,
    a spend and a payout of one member at once: no deadlock, money conserved."""
    from linli.errors import Conflict
    from tests.orders.concurrency import together

    shop = make_shop(client, merchant)
    r = client.put(f"/api/v1/merchants/{shop.merchant_id}/topup-plans", json=[{"pay": 10_000, "bonus": 1000}, {"pay": 100_000, "bonus": 30_000}], headers=shop.owner)
    assert r.status_code == 200
    errors = []
    for k in range(int(os.environ.get("HISTORIES", "6"))):
        h = login(client, f"1380{k:07d}")
        member = client.get("/api/v1/me", headers=h).json()["id"]
        w = World(db, shop.merchant_id, member, random.Random(k))
        w.top_up(100_000, None)
        w.top_up(10_000, None)
        w.place(60_000)
        paid = w.next_order
        w.pay(paid)
        w.place(30_000)
        unpaid = w.next_order
        w.place(20_000)
        w.pay(w.next_order)
        w.refund(w.next_order, 5000)
        with db.transaction() as s:
            t, p = sv.create_topup(s, member, shop.merchant_id, 10_000, NOW)
            p = p.payment
            tid, pid = t.id, p.id
            s.execute(update(Payment).where(Payment.id == pid).values(status="succeeded"))

        def op(i):
            try:
                if i == 0:
                    w.refund(paid, 10**9)
                elif i == 1:
                    w.cancel(unpaid)
                elif i == 2:
                    w.refund_principal()
                elif i == 3:
                    with db.transaction() as s:
                        sv.credit(s, tid, pid, NOW)
                elif i == 4:
                    w.place(7000)
                else:
                    w.payouts()
                return None
            except Conflict:
                return None
            except Exception as e:  # a deadlock, or a bug
                return repr(e)

        out = together(6, op)
        errors += [e for e in out if e]
        w.refund_principal()
        w.payouts()
        w.check()
    assert errors == []
