"""Stored value (储值) through the API on SQLite and PostgreSQL: plans, top-ups paid through
the sandbox gateway (bonus credited once however often the callback comes), the 500,000-fen
cap at creation and at credit, spending principal first on orders (an order paid wholly by
stored value is paid at once), refunds that return it pro rata, the principal refund with
its forfeited bonus, commission on what stored value paid, and concurrent spends that never
overdraw."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import func, select

from linli import events, ledger
from linli.ledger import LedgerTransfer
from linli.payments import service as payments
from linli.payments.gateway import SIGNATURE_HEADER
from linli.payments.models import Payment, PaymentRefund
from linli.rewards.models import StoredValueRefund, Topup
from tests.commission.test_accrual import _chain, _earn
from tests.conftest import login, problem_code
from tests.e2e.conftest import LiveServer
from tests.orders.concurrency import together
from tests.orders.helpers import buy, make_shop, order, pay
from tests.web.conftest import HTML, csrf, page_login

CAP = 500_000


def _plans(client, shop, plans) -> None:
    r = client.put(f"/api/v1/merchants/{shop.merchant_id}/topup-plans", json=[{"pay": p, "bonus": b} for p, b in plans], headers=shop.owner)
    assert r.status_code == 200, r.text


def _topup(client, buyer, shop, pay: int):
    return client.post("/api/v1/me/topups", json={"merchant_id": shop.merchant_id, "pay": pay}, headers=buyer)


def _complete(client, db, buyer, payment_id: int) -> None:
    assert client.post(f"/api/v1/payments/sandbox/{payment_id}/complete", headers=buyer).status_code == 202
    events.drain(db)


def _top_up(client, db, buyer, shop, pay: int) -> dict:
    r = _topup(client, buyer, shop, pay)
    assert r.status_code == 201, r.text
    _complete(client, db, buyer, r.json()["payment_id"])
    return r.json()


def _buy(client, db, buyer, shop, items, stored_value: int) -> dict:
    """Place and pay an order using stored value: one it pays wholly is paid at once."""
    r = order(client, buyer, shop, items, stored_value=stored_value)
    assert r.status_code == 201, r.text
    o = r.json()
    if o["payable"]:
        return pay(client, db, buyer, o["id"])
    r = client.post(f"/api/v1/orders/{o['id']}/pay", headers=buyer)
    assert r.status_code == 200 and r.json()["payment_id"] is None and r.json()["status"] == "paid", r.text
    events.drain(db)
    return client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()


def _sv(client, buyer, shop) -> tuple[int, int]:
    w = client.get("/api/v1/me/wallet", params={"merchant_id": shop.merchant_id}, headers=buyer).json()["stored_value"]
    return w["principal"], w["bonus"]


def _one(db, stmt):
    with db.transaction() as s:
        return s.scalar(stmt)


def _ledger_ok(db, mid) -> None:
    with db.transaction() as s:
        assert ledger.check(s, mid) == []


def _payment(db, pid: int) -> Payment:
    with db.transaction() as s:
        p = s.get(Payment, pid)
        s.expunge(p)
        return p


def test_plans_are_set_by_staff_with_manage_rules_and_bad_plans_are_refused(client, merchant):
    shop = make_shop(client, merchant)
    mid, url = shop.merchant_id, f"/api/v1/merchants/{shop.merchant_id}/topup-plans"
    _plans(client, shop, [(50_000, 8000), (10_000, 1000)])
    member = login(client, "13700000001")
    assert client.get(url, headers=member).json() == [{"pay": 10_000, "bonus": 1000}, {"pay": 50_000, "bonus": 8000}]
    for body, code in (
        ([{"pay": 10_000, "bonus": 0}, {"pay": 10_000, "bonus": 500}], "topup.plan_duplicate"),
        ([{"pay": 10_000, "bonus": 10_001}], "topup.plan_invalid"),
        ([{"pay": 0, "bonus": 0}], "topup.plan_invalid"),
        ([{"pay": CAP + 1, "bonus": 0}], "topup.plan_invalid"),
    ):
        r = client.put(url, json=body, headers=shop.owner)
        assert r.status_code == 422 and problem_code(r) == code, (body, r.text)
    assert client.post(f"/api/v1/merchants/{mid}/staff", json={"phone": "13800000007", "role": "operator"}, headers=shop.owner).status_code == 201
    r = client.put(url, json=[], headers=login(client, "13800000007"))
    assert r.status_code == 403 and problem_code(r) == "auth.role_forbidden"
    r = client.put(url, json=[], headers=member)
    assert r.status_code == 404 and problem_code(r) == "merchant.not_found"
    assert len(client.get(url, headers=member).json()) == 2  # nothing changed
    _plans(client, shop, [])
    assert client.get(url, headers=member).json() == []


def test_a_top_up_credits_principal_and_the_plans_bonus_once_under_duplicate_callbacks(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    _plans(client, shop, [(10_000, 1000)])
    buyer = login(client, "13700000001")
    r = _topup(client, buyer, shop, 10_000)
    assert r.status_code == 201, r.text
    t = r.json()
    assert (t["pay"], t["bonus"], t["status"]) == (10_000, 1000, "pending")
    p = client.get(f"/api/v1/payments/{t['payment_id']}", headers=buyer).json()
    assert (p["subject"], p["subject_id"], p["order_id"], p["amount"], p["status"]) == ("topup", t["id"], None, 10_000, "pending")
    assert _sv(client, buyer, shop) == (0, 0)  # nothing before the money arrives
    # The gateway's signed callback, delivered three times (and the sandbox's own delivery).
    ref = _payment(db, t["payment_id"]).gateway_ref
    raw, sig = payments.gateway().completion(ref, 10_000, clock())
    for _ in range(3):
        r = client.post("/api/v1/payments/callback", content=raw, headers={SIGNATURE_HEADER: sig, "Content-Type": "application/json"})
        assert r.status_code == 200, r.text
        events.drain(db)
    r = client.post(f"/api/v1/payments/sandbox/{t['payment_id']}/complete", headers=buyer)
    assert r.status_code == 409 and problem_code(r) == "payment.not_pending"
    assert _sv(client, buyer, shop) == (10_000, 1000)
    assert _one(db, select(Topup.status).where(Topup.id == t["id"])) == "paid"
    keys = [f"sv:topup:{t['id']}", f"sv:bonus:{t['id']}"]
    assert _one(db, select(func.count()).select_from(LedgerTransfer).where(LedgerTransfer.key.in_(keys))) == 2
    # A free amount (no plan) gets no bonus.
    t2 = _top_up(client, db, buyer, shop, 2345)
    assert t2["bonus"] == 0 and _sv(client, buyer, shop) == (12_345, 1000)
    _ledger_ok(db, shop.merchant_id)


def test_over_the_cap_a_top_up_is_refused_and_nothing_is_written(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    _plans(client, shop, [(10_000, 1000)])
    buyer = login(client, "13700000001")
    _top_up(client, db, buyer, shop, CAP - 11_000)  # 489,000 held
    counts = lambda: (_one(db, select(func.count()).select_from(Topup)), _one(db, select(func.count()).select_from(Payment)))  # noqa: E731
    before = counts()
    r = _topup(client, buyer, shop, 10_001 + 1000)  # 489,000 + 11,001 > 500,000
    assert r.status_code == 422 and problem_code(r) == "stored_value.over_cap" and r.json()["room"] == 11_000, r.text
    assert counts() == before
    pending = _topup(client, buyer, shop, 10_000)  # with its bonus: exactly the cap
    assert pending.status_code == 201, pending.text
    r = _topup(client, buyer, shop, 1)  # the pending top-up counts
    assert r.status_code == 422 and problem_code(r) == "stored_value.over_cap" and r.json()["room"] == 0
    for bad in (0, CAP + 1):
        r = _topup(client, buyer, shop, bad)
        assert r.status_code == 422 and problem_code(r) in ("topup.invalid", "stored_value.over_cap"), r.text
    assert counts() == (before[0] + 1, before[1] + 1)
    _ledger_ok(db, shop.merchant_id)


def test_a_top_up_that_would_pass_the_cap_when_paid_is_refunded_not_credited(client, db, merchant, clock):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    stale = _topup(client, buyer, shop, 300_000).json()  # never paid in time ...
    clock.advance(minutes=31)  # ... so it no longer holds room under the cap
    _top_up(client, db, buyer, shop, 300_000)
    assert _sv(client, buyer, shop) == (300_000, 0)
    _complete(client, db, buyer, stale["payment_id"])  # paid late: 600,000 would pass the cap
    assert _sv(client, buyer, shop) == (300_000, 0)
    assert _one(db, select(Topup.status).where(Topup.id == stale["id"])) == "refunded"
    p = _payment(db, stale["payment_id"])
    assert (p.status, p.refunded) == ("succeeded", 300_000)
    assert _one(db, select(PaymentRefund.request_key).where(PaymentRefund.payment_id == p.id)) == f"topup_over_cap:{stale['id']}"
    _ledger_ok(db, shop.merchant_id)


def test_orders_spend_principal_first_then_bonus_and_a_wholly_stored_value_order_is_paid_at_once(client, db, merchant):
    shop = make_shop(client, merchant)
    _plans(client, shop, [(10_000, 1000)])
    buyer = login(client, "13700000001")
    _top_up(client, db, buyer, shop, 10_000)
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], stored_value=6800)
    assert r.status_code == 201, r.text
    o = r.json()
    assert (o["total_paid"], o["stored_value"], o["payable"]) == (6800, 6800, 0)
    assert _sv(client, buyer, shop) == (3200, 1000)
    r = client.post(f"/api/v1/orders/{o['id']}/pay", headers=buyer)
    assert r.status_code == 200 and r.json()["payment_id"] is None and r.json()["status"] == "paid", r.text
    events.drain(db)
    assert client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()["status"] == "paid"
    assert _one(db, select(func.count()).select_from(Payment).where(Payment.order_id == o["id"])) == 0
    # More than is held is refused, unchanged.
    r = order(client, buyer, shop, [(shop.skus["berry"], 1)], stored_value=4201)
    assert r.status_code == 422 and problem_code(r) == "stored_value.insufficient", r.text
    assert _sv(client, buyer, shop) == (3200, 1000)
    o2 = _buy(client, db, buyer, shop, [(shop.skus["berry"], 1)], 4200)  # the rest of the principal, then the bonus
    assert (o2["stored_value"], o2["payable"], o2["status"]) == (4200, 2600, "paid")
    assert _sv(client, buyer, shop) == (0, 0)
    _ledger_ok(db, shop.merchant_id)


def _refund(client, shop, buyer, o, amount):
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": amount}], "reason": "坏果"}, headers=buyer)
    assert case.status_code == 201, case.text
    r = client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{case.json()['id']}/approve", headers=shop.owner)
    assert r.status_code == 200, r.text


def test_a_refund_of_an_order_paid_partly_with_stored_value_returns_it_pro_rata(client, db, merchant):
    shop = make_shop(client, merchant)
    _plans(client, shop, [(5000, 500)])
    buyer = login(client, "13700000001")
    _top_up(client, db, buyer, shop, 5000)
    o = _buy(client, db, buyer, shop, [(shop.skus["berry2"], 1)], 5500)  # 128.00: 50 principal + 5 bonus + 73 paid
    assert (o["total_paid"], o["payable"]) == (12_800, 7300)
    pid = client.get(f"/api/v1/orders/{o['id']}", headers=buyer).json()["payment_id"]
    _refund(client, shop, buyer, o, 6400)  # half: half the stored value back (2,500 + 250), the rest through the gateway
    events.drain(db)
    assert _sv(client, buyer, shop) == (2500, 250)
    assert _payment(db, pid).refunded == 6400 - 2750
    _ledger_ok(db, shop.merchant_id)
    _refund(client, shop, buyer, o, 6400)  # the rest: everything back, the gateway exactly what it took
    events.drain(db)
    assert _sv(client, buyer, shop) == (5000, 500)
    assert _payment(db, pid).refunded == 7300
    _ledger_ok(db, shop.merchant_id)
    # A wholly stored-value order is refunded without the gateway.
    o2 = _buy(client, db, buyer, shop, [(shop.skus["apple"], 1)], 2990)
    _refund(client, shop, buyer, o2, 1000)
    events.drain(db)
    assert _sv(client, buyer, shop) == (5000 - 2990 + 1000, 500)
    _ledger_ok(db, shop.merchant_id)


def test_the_principal_refund_pays_back_newest_first_forfeits_the_bonus_and_happens_once(client, db, merchant):
    shop = make_shop(client, merchant)
    _plans(client, shop, [(10_000, 1000)])
    buyer = login(client, "13700000001")
    first = _top_up(client, db, buyer, shop, 10_000)
    second = _top_up(client, db, buyer, shop, 5000)
    _buy(client, db, buyer, shop, [(shop.skus["berry"], 1)], 6800)  # principal 15,000 → 8,200; bonus kept
    assert _sv(client, buyer, shop) == (8200, 1000)
    url, body = "/api/v1/me/stored-value/refund", {"merchant_id": shop.merchant_id}
    r = client.post(url, json=body, headers={**buyer, "Idempotency-Key": "sv-refund-1"})
    assert r.status_code == 201, r.text
    out = r.json()
    # All the principal back; the bonus goes in the share of its top-up refunded: 3,200 of the
    # 10,000 that earned 1,000 of bonus → 320 forfeited, the 680 earned by spending is kept.
    assert (out["principal"], out["bonus_forfeited"]) == (8200, 320)
    assert out["payments"] == [{"payment_id": second["payment_id"], "amount": 5000}, {"payment_id": first["payment_id"], "amount": 3200}]
    assert _sv(client, buyer, shop) == (0, 680)
    events.drain(db)  # the gateway is asked after commit
    assert (_payment(db, second["payment_id"]).refunded, _payment(db, first["payment_id"]).refunded) == (5000, 3200)
    again = client.post(url, json=body, headers={**buyer, "Idempotency-Key": "sv-refund-1"})  # a retry: the same answer, no second refund
    assert again.status_code == 201 and again.json() == out
    r = client.post(url, json=body, headers=buyer)
    assert r.status_code == 409 and problem_code(r) == "stored_value.nothing_to_refund"
    assert _one(db, select(func.count()).select_from(StoredValueRefund)) == 1
    assert _one(db, select(func.sum(PaymentRefund.amount))) == 8200
    _ledger_ok(db, shop.merchant_id)
    # Topped up again, the member may refund again (a new refund, its own keys).
    _top_up(client, db, buyer, shop, 10_000)
    r = client.post(url, json=body, headers=buyer)
    assert r.status_code == 201 and (r.json()["principal"], r.json()["bonus_forfeited"]) == (10_000, 1000)  # none of it spent: its whole bonus goes
    assert _sv(client, buyer, shop) == (0, 680)
    _ledger_ok(db, shop.merchant_id)


def test_the_principal_refund_after_an_order_gave_stored_value_back_stays_within_the_payments(client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    t = _top_up(client, db, buyer, shop, 10_000)
    o = _buy(client, db, buyer, shop, [(shop.skus["berry"], 1)], 6800)
    assert client.post("/api/v1/me/stored-value/refund", json={"merchant_id": shop.merchant_id}, headers=buyer).json()["principal"] == 3200
    _refund(client, shop, buyer, o, 6800)  # the order's stored value comes back as principal
    events.drain(db)
    assert _sv(client, buyer, shop) == (6800, 0)
    r = client.post("/api/v1/me/stored-value/refund", json={"merchant_id": shop.merchant_id}, headers=buyer)
    assert r.status_code == 201 and r.json()["payments"] == [{"payment_id": t["payment_id"], "amount": 6800}]
    events.drain(db)
    assert _payment(db, t["payment_id"]).refunded == 10_000
    _ledger_ok(db, shop.merchant_id)


def test_commission_accrues_on_what_stored_value_paid(client, db, merchant):
    shop = make_shop(client, merchant)
    hs, _ = _chain(client, db, merchant, shop)
    buy(client, db, hs["D"], shop, [(shop.skus["apple"], 1)])  # paid in cash
    cash = {n: _earn(client, hs[n], merchant.id)["frozen"] for n in ("B", "C")}
    assert cash["C"] > 0
    _top_up(client, db, hs["D"], shop, 10_000)
    o = _buy(client, db, hs["D"], shop, [(shop.skus["apple"], 1)], 2990)  # the same, wholly stored value
    assert (o["payable"], o["status"]) == (0, "paid")
    events.drain(db)
    assert {n: _earn(client, hs[n], merchant.id)["frozen"] for n in ("B", "C")} == {n: 2 * v for n, v in cash.items()}


def test_concurrent_spends_by_one_member_never_go_below_zero(app, client, db, merchant):
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    _top_up(client, db, buyer, shop, 20_000)  # enough for two 68.00 orders, not three
    body = {"merchant_id": shop.merchant_id, "items": [{"sku_id": shop.skus["berry"], "qty": 1}], "pickup_point_id": shop.point_id, "stored_value": 6800}
    server = LiveServer(app).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            codes = together(10, lambda i: http.post("/api/v1/orders", json=body, headers=buyer).status_code)
    finally:
        server.stop()
    assert codes.count(201) == 2 and all(c in (409, 422) for c in codes if c != 201), codes
    assert _sv(client, buyer, shop) == (20_000 - 2 * 6800, 0)
    _ledger_ok(db, shop.merchant_id)


def test_a_top_up_is_paid_on_the_sandbox_payment_sheet(client, db, merchant):
    shop = make_shop(client, merchant)
    page_login(client, "13700000001")
    buyer = login(client, "13700000001")
    t = _topup(client, buyer, shop, 10_000).json()
    url = f"/m/pay/{t['payment_id']}"
    sheet = client.get(url, headers=HTML).text
    assert 'data-testid="pay-amount"><span class="pay-currency">¥</span>100.00<' in sheet and "储值充值" in sheet
    r = client.post(url, data={"csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"{url}?confirming=1", r.text
    page = client.get(r.headers["location"], headers=HTML).text
    assert re.search(r'data-status="pending"', page) and "支付确认中" in page
    events.drain(db)
    page = client.get(url, headers=HTML).text
    assert 'data-status="succeeded"' in page and "支付成功" in page
    assert _sv(client, buyer, shop) == (10_000, 0)
    r = client.post(url, data={"csrf_token": csrf(client)}, headers=HTML, follow_redirects=False)  # confirming twice
    assert r.status_code == 303 and r.headers["location"] == url


def test_the_demo_has_plans_and_a_member_with_stored_value(demo_world):
    from linli import demo_stored_value

    client, info = demo_world.client, demo_world.info
    member = login(client, demo_stored_value.TOPPED_UP[0])
    plans = client.get(f"/api/v1/merchants/{info.merchant_id}/topup-plans", headers=member).json()
    assert [(p["pay"], p["bonus"]) for p in plans] == demo_stored_value.PLANS
    w = client.get("/api/v1/me/wallet", params={"merchant_id": info.merchant_id}, headers=member).json()["stored_value"]
    assert (w["principal"], w["bonus"]) == (30_000, 5000)
    _ledger_ok(demo_world.db, info.merchant_id)


# --- found by review: each of these moved money wrongly before its fix ---------------------


def test_a_principal_refund_and_a_refund_case_with_the_same_number_both_move_money(client, db, merchant):
    """Refund case 1 giving stored value back and principal refund 1 once shared a ledger key:
    the second was silently skipped while the gateway still paid out."""
    shop = make_shop(client, merchant)
    buyer = login(client, "13700000001")
    _top_up(client, db, buyer, shop, 10_000)
    o = _buy(client, db, buyer, shop, [(shop.skus["berry"], 1)], 6800)  # paid wholly by stored value
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": 3400}], "reason": "坏果"}, headers=buyer).json()
    assert client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{case['id']}/approve", headers=shop.owner).status_code == 200
    events.drain(db)
    assert _sv(client, buyer, shop) == (6600, 0)
    r = client.post("/api/v1/me/stored-value/refund", json={"merchant_id": shop.merchant_id}, headers=buyer)
    assert r.status_code == 201 and r.json()["principal"] == 6600, r.text
    assert _sv(client, buyer, shop) == (0, 0)  # the balance went down by what the gateway paid out
    events.drain(db)
    assert _one(db, select(func.sum(PaymentRefund.amount))) == 6600
    _ledger_ok(db, shop.merchant_id)


def _refund_all(client, db, shop, buyer, o: dict) -> None:
    lines = [{"line_id": ln["id"], "amount": ln["amount"]} for ln in o["lines"]]
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": lines, "reason": "坏果"}, headers=buyer)
    assert case.status_code == 201, case.text
    if case.json()["status"] == "requested":
        assert client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{case.json()['id']}/approve", headers=shop.owner).status_code == 200
    events.drain(db)


def _held_back(client, buyer, shop) -> int:
    return client.get("/api/v1/me/wallet", params={"merchant_id": shop.merchant_id}, headers=buyer).json()["stored_value"]["held_back"]


def test_bonus_spent_while_an_unpaid_order_parked_the_principal_is_held_back_until_it_comes_back(client, db, merchant):
    """Principal parked in an unpaid order lets the bonus pay another order; the principal
    refund then holds back the bonus that was due, so bonus never leaves as cash. Third
    review: when the order that spent the bonus is refunded, what was held back is paid out,
    so the member ends with exactly what they paid in."""
    shop = make_shop(client, merchant)
    _plans(client, shop, [(10_000, 1000)])
    buyer = login(client, "13700000001")
    t = _top_up(client, db, buyer, shop, 10_000)
    parked = order(client, buyer, shop, [(shop.skus["berry"], 1)], stored_value=5000)  # unpaid: 5,000 of principal parked
    assert parked.status_code == 201, parked.text
    r = client.post("/api/v1/me/stored-value/refund", json={"merchant_id": shop.merchant_id}, headers=buyer)
    assert r.status_code == 409 and problem_code(r) == "stored_value.held_by_order"  # not while an order holds some
    spender = _buy(client, db, buyer, shop, [(shop.skus["berry2"], 1)], 6000)  # the other 5,000 of principal and the 1,000 of bonus
    assert client.post(f"/api/v1/orders/{parked.json()['id']}/cancel", headers=buyer).status_code == 200
    assert _sv(client, buyer, shop) == (5000, 0)
    r = client.post("/api/v1/me/stored-value/refund", json={"merchant_id": shop.merchant_id}, headers=buyer)
    assert r.status_code == 201, r.text
    # Refunding 5,000 of the 10,000 forfeits 500 of the bonus; all 1,000 was spent, so 500 of principal is held back.
    assert (r.json()["principal"], r.json()["bonus_forfeited"], r.json()["held_back"]) == (4500, 0, 500)
    events.drain(db)
    assert _one(db, select(func.sum(PaymentRefund.amount)).where(PaymentRefund.payment_id == t["payment_id"])) == 4500
    assert _sv(client, buyer, shop) == (0, 0) and _held_back(client, buyer, shop) == 500
    _ledger_ok(db, shop.merchant_id)
    # The order that spent the bonus is refunded: its 5,000 of principal and 1,000 of bonus come back;
    # 500 of that bonus settles what was due, and the 500 held back is paid out to the top-up's payment.
    _refund_all(client, db, shop, buyer, spender)
    assert _sv(client, buyer, shop) == (5000, 500) and _held_back(client, buyer, shop) == 0
    assert _one(db, select(func.sum(PaymentRefund.amount)).where(PaymentRefund.payment_id == t["payment_id"])) == 5000
    r = client.post("/api/v1/me/stored-value/refund", json={"merchant_id": shop.merchant_id}, headers=buyer)
    assert r.status_code == 201 and (r.json()["principal"], r.json()["bonus_forfeited"], r.json()["held_back"]) == (5000, 500, 0), r.text
    events.drain(db)
    assert _one(db, select(func.sum(PaymentRefund.amount)).where(PaymentRefund.payment_id == t["payment_id"])) == 10_000  # all of it, nothing bought
    assert _sv(client, buyer, shop) == (0, 0)
    _ledger_ok(db, shop.merchant_id)
    events.drain(db)  # replaying nothing changes nothing
    assert _one(db, select(func.sum(PaymentRefund.amount)).where(PaymentRefund.payment_id == t["payment_id"])) == 10_000


def test_stored_value_coming_back_over_the_cap_is_paid_out_not_held(client, db, merchant):
    """Third review: a member who paid with stored value, topped up to the cap again and was
    then refunded held more than 500,000 fen; the part over the cap is now paid out as
    principal through the gateway."""
    shop = make_shop(client, merchant, stock=1000)
    buyer = login(client, "13700000001")
    _top_up(client, db, buyer, shop, 300_000)
    o = _buy(client, db, buyer, shop, [(shop.skus["berry2"], 24)], 300_000)  # 307,200: 300,000 from stored value
    t2 = _top_up(client, db, buyer, shop, 400_000)
    assert _sv(client, buyer, shop) == (400_000, 0)
    _refund_all(client, db, shop, buyer, o)
    assert _sv(client, buyer, shop) == (CAP, 0)  # 700,000 came to be held: 200,000 paid out
    assert _one(db, select(func.sum(PaymentRefund.amount)).where(PaymentRefund.payment_id == t2["payment_id"])) == 200_000
    assert _one(db, select(StoredValueRefund.reason).where(StoredValueRefund.principal == 200_000)) == "over_cap"
    _ledger_ok(db, shop.merchant_id)


def test_stored_value_parked_in_an_unpaid_order_counts_against_the_cap(client, db, merchant):
    shop = make_shop(client, merchant, stock=1000)
    buyer = login(client, "13700000001")
    _top_up(client, db, buyer, shop, 300_000)
    r = order(client, buyer, shop, [(shop.skus["berry2"], 24)], stored_value=300_000)  # 307,200 fen, unpaid
    assert r.status_code == 201, r.text
    assert _sv(client, buyer, shop) == (0, 0)
    r = _topup(client, buyer, shop, 300_000)  # would hold 600,000 once the order is cancelled
    assert r.status_code == 422 and problem_code(r) == "stored_value.over_cap"
    assert _one(db, select(func.count()).select_from(Topup)) == 1


def test_refunding_a_top_ups_principal_in_parts_forfeits_exactly_its_bonus(client, db, merchant):
    """Second review: two principal refunds against one top-up once forfeited a fen more than
    its bonus (each share rounded up on its own); rounded cumulatively they add up exactly."""
    shop = make_shop(client, merchant)
    _plans(client, shop, [(10_000, 1001)])
    buyer = login(client, "13700000001")
    _top_up(client, db, buyer, shop, 10_000)
    o = _buy(client, db, buyer, shop, [(shop.skus["berry"], 1)], 5000)  # 5,000 of principal spent, 1,800 through the gateway
    url, body = "/api/v1/me/stored-value/refund", {"merchant_id": shop.merchant_id}
    r = client.post(url, json=body, headers=buyer)
    assert r.status_code == 201 and (r.json()["principal"], r.json()["bonus_forfeited"]) == (5000, 501), r.text
    case = client.post(f"/api/v1/orders/{o['id']}/refunds", json={"lines": [{"line_id": o["lines"][0]["id"], "amount": 6800}], "reason": "坏果"}, headers=buyer).json()
    if case["status"] == "requested":
        assert client.post(f"/api/v1/merchants/{shop.merchant_id}/refunds/{case['id']}/approve", headers=shop.owner).status_code == 200
    events.drain(db)
    assert _sv(client, buyer, shop) == (5000, 500)  # the order's 5,000 of principal came back
    r = client.post(url, json=body, headers=buyer)
    assert r.status_code == 201 and (r.json()["principal"], r.json()["bonus_forfeited"]) == (5000, 500), r.text  # 501 + 500 = the 1,001 of bonus
    assert _sv(client, buyer, shop) == (0, 0)
    _ledger_ok(db, shop.merchant_id)
