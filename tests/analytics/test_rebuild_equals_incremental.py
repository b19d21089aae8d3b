"""Rebuild equals incremental: Hypothesis histories of bindings, orders, receipts,
refunds (before and after receipt; a buyer's and the system's own), clock jumps across days and events delivered again,
through the real app on SQLite and PostgreSQL. After every step the rollups the handlers
kept equal a rebuild from the orders (``linli analytics rebuild --check`` finds nothing), and
the overview's GMV and orders equal what the model paid and refunded."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from linli import events
from linli.analytics import rebuild, rules, service
from linli.orders import service as orders
from tests.conftest import ADMIN, _wipe, login
from tests.orders.helpers import buy, make_shop
from tests.rewards.test_points import _receive

START = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)


class History:
    """A shop, two sharers, members joining through either or by themselves, and their orders."""

    def __init__(self, client, db, clock) -> None:
        self.client, self.db, self.clock = client, db, clock
        _wipe(db)
        clock.current = START
        admin = login(client, ADMIN)
        r = client.post("/api/v1/merchants", json={"name": "优邻优选", "owner_phone": "13800000001"}, headers=admin)
        assert r.status_code == 201, r.text
        self.shop = make_shop(client, type("M", (), {"id": r.json()["id"], "owner": login(client, "13800000001")})(), stock=10_000)
        self.codes = [client.get("/api/v1/me/invite", params={"merchant_id": self.shop.merchant_id}, headers=login(client, f"1360000000{i}")).json()["code"] for i in range(2)]
        self.members: list[dict] = []
        self.orders: list[dict] = []
        self.paid = self.refunded = self.asked_back = 0  # asked_back: what buyers asked for (the refund rate's)
        self.kinds: set[str] = set()

    def join(self, n: int, _: int) -> None:
        code = self.codes[n % 3] if n % 3 < 2 else None
        self.members.append(login(self.client, f"1350000{len(self.members):04d}", invite_code=code))
        events.drain(self.db)

    def buy(self, n: int, k: int) -> None:
        sku = ("berry", "apple", "berry2")[k % 3]
        buyer = self.members[n % len(self.members)]
        o = buy(self.client, self.db, buyer, self.shop, [(self.shop.skus[sku], 1 + k % 2)])
        self.orders.append({"o": o, "buyer": buyer, "refunded": 0, "received": False})
        self.paid += o["total_paid"]

    def receive(self, n: int, _: int) -> None:
        open_ = [x for x in self.orders if not x["received"] and x["o"]["status"] != "cancelled"]
        if open_:
            x = open_[n % len(open_)]
            _receive(self.client, self.db, self.shop, x["o"])
            x["received"] = True

    def refund(self, n: int, part: int) -> None:
        """Part of the first line back (all of it at 100: a full refund before receipt ends the order)."""
        open_ = [x for x in self.orders if x["refunded"] < x["o"]["lines"][0]["paid"] and x["o"]["status"] != "cancelled"]
        if not open_:
            return
        x = open_[n % len(open_)]
        line = x["o"]["lines"][0]
        amount = max(1, (line["paid"] - x["refunded"]) * part // 100)
        r = self.client.post(f"/api/v1/orders/{x['o']['id']}/refunds", json={"lines": [{"line_id": line["id"], "amount": amount}], "reason": "坏果"}, headers=x["buyer"])
        assert r.status_code == 201, r.text
        if r.json()["status"] == "requested":
            assert self.client.post(f"/api/v1/merchants/{self.shop.merchant_id}/refunds/{r.json()['id']}/approve", headers=self.shop.owner).status_code == 200
        events.drain(self.db)
        x["refunded"] += amount
        self.refunded += amount
        self.asked_back += amount
        x["o"] = self.client.get(f"/api/v1/orders/{x['o']['id']}", headers=x["buyer"]).json()

    def rebate(self, n: int, part: int) -> None:
        """The system's own refund (a threshold rebate): money back, not a buyer's refund."""
        open_ = [x for x in self.orders if x["refunded"] < x["o"]["total_paid"] and x["o"]["status"] != "cancelled"]
        if not open_:
            return
        x = open_[n % len(open_)]
        amount = max(1, (x["o"]["total_paid"] - x["refunded"]) * part // 200)
        with self.db.transaction() as s:
            case = orders.system_refund(s, x["o"]["id"], amount, "满额返现", self.clock())
        events.drain(self.db)
        if case is None:  # nothing the system may refund in this state
            return
        x["refunded"] += case.amount
        self.refunded += case.amount
        x["o"] = self.client.get(f"/api/v1/orders/{x['o']['id']}", headers=x["buyer"]).json()

    def wait(self, _: int, hours: int) -> None:
        self.clock.advance(hours=hours % 40 + 1)  # often across a Shanghai midnight

    def again(self, n: int, _: int) -> None:
        """An order's event handled once more (as if its handled row were lost): no change."""
        if self.orders:
            with self.db.transaction() as s:
                service.restate_order(s, self.orders[n % len(self.orders)]["o"]["id"])

    def step(self, kind: str, n: int, k: int) -> None:
        getattr(self, kind)(n, k)
        self.kinds.add(kind)
        report = rebuild.rebuild(self.db, self.clock(), self.shop.merchant_id, write=False)
        assert report.differences == [], (kind, report.differences)
        o = self.client.get(f"/api/v1/merchants/{self.shop.merchant_id}/analytics/overview",
                            params={"from": "2026-11-21", "to": (self.clock() + timedelta(days=1)).date().isoformat()}, headers=self.shop.owner).json()
        assert (o["gmv"], o["orders"]) == (self.paid - self.refunded, len(self.orders))
        assert o["refund_rate_bp"] == rules.bp(self.asked_back, self.paid)  # the system's rebates are not buyers' refunds


STEPS = st.lists(st.tuples(st.sampled_from(["buy", "buy", "receive", "refund", "refund", "rebate", "wait", "again", "join"]), st.integers(0, 99), st.integers(1, 100)),
                 min_size=10, max_size=14)


@settings(max_examples=3, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(steps=STEPS)
def test_rebuild_equals_the_rollups_after_any_history(client, db, clock, steps):
    h = History(client, db, clock)
    for n in range(3):
        h.join(n, 0)
    h.buy(0, 0)
    for kind, n, k in steps:
        h.step(kind, n, k)
    assert {kind for kind, _, _ in steps} <= h.kinds  # every step ran (and was checked)
